"""Per-kernel time of one run, from the VM's call instrumentation (TVM's VM profiler is not in
the runtime-only library). Times include a little Python overhead per call, so they are for
finding where time goes, not for reporting latency."""

from __future__ import annotations

import collections
import time

import tvm_ffi


def profile_kernels(session, inputs, runs: int = 3) -> list[tuple[str, float, int]]:
    """(kernel, mean ms per run, calls per run), slowest first."""
    from edgec.runtime.inputs import normalize_inputs

    arrays = session._to_device(normalize_inputs(session.manifest.signature, inputs))
    totals: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    started: dict[str, float] = {}

    @tvm_ffi.register_global_func("edgec.profile_instrument", override=True)
    def instrument(func, name, before, ret, *args):
        if before:
            started[name] = time.perf_counter()
        else:
            totals[name] += time.perf_counter() - started.pop(name, time.perf_counter())
            calls[name] += 1
        return 0

    vm = session._vm
    vm[session._function](*arrays)  # warm-up, not instrumented
    vm.set_instrument(tvm_ffi.get_global_func("edgec.profile_instrument"))
    try:
        for _ in range(runs):
            vm[session._function](*arrays)
    finally:
        vm.set_instrument(None)
    return sorted(((name, t * 1e3 / runs, calls[name] // runs) for name, t in totals.items()),
                  key=lambda row: -row[1])
