"""Building and measuring candidate schedules so that a busy machine slows tuning down but
does not stop it.

Why MetaSchedule's stock ``LocalBuilder`` measured nothing on a loaded machine: it starts a
fresh pool of worker processes for every batch, and its build function imports
``tvm.s_tir.tensor_intrin`` inside the timed part of the first build of each worker. That import
registers every tensor intrinsic TVM has (CUDA's alone are ~14 s of TVMScript parsing), about
17-21 s on a quiet 2-core machine and over 30 s with another compile beside it: every build hit
the 30 s timeout, even the smallest kernel's, and no record was ever measured.

Here:

- the build function imports only what a CPU build needs (no tensor intrinsics; a schedule that
  uses one brings its own registration), and the workers import it when they start, outside
  the timed part;
- one pool lives for the whole tuning run (recycled after ``_USES_PER_WORKER`` builds), so
  worker start-up is paid once, not per batch;
- the timeout is sized from the builds measured so far (``_TIMEOUT_FACTOR`` x the slowest,
  never under ``_MIN_TIMEOUT``), and a build that times out is retried once with a timeout
  ``_RETRY_FACTOR`` times longer;
- a failed trial's reason is kept, so that a run in which nothing could be measured says why.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms

logger = logging.getLogger(__name__)

_MIN_TIMEOUT = 60.0        # seconds; a tiny kernel builds in well under 1 s on a quiet machine
_TIMEOUT_FACTOR = 20.0     # x the slowest build seen so far
_RETRY_FACTOR = 4.0
_USES_PER_WORKER = 256     # TVM's pool workers leak memory over many builds
RUNNER_TIMEOUT = 120.0


def build_candidate(mod, target, export, export_arg) -> tuple[str, float]:
    """Build one candidate (in a pool worker) and export it; return (path, build seconds)."""
    from tvm.driver import build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    start = time.perf_counter()
    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    built = build(mod, target=target)
    return export(built, export_arg), time.perf_counter() - start


def export_tar(built, _arg) -> str:
    """As MetaSchedule's default export: a tar of objects, linked by the runner that loads it,
    in a fresh directory (MetaSchedule deletes the artifact's whole directory afterwards)."""
    from tvm.support.tar import tar

    path = os.path.join(tempfile.mkdtemp(prefix="edgec-ms-"), "candidate." + tar.output_format)
    built.export_library(path, fcompile=tar)
    return path


def export_linked(built, compiler: str) -> str:
    """For cross targets: a shared library linked with the board's compiler."""
    from tvm.support import cc

    path = os.path.join(tempfile.mkdtemp(prefix="edgec-ms-"), "candidate.so")
    built.export_library(path, fcompile=cc.cross_compiler(compiler))
    return path


def _warm_worker() -> None:
    """Run once when a pool worker starts (not timed): the imports every build needs."""
    import tvm.driver  # noqa: F401
    import tvm.s_tir.transform  # noqa: F401
    import tvm.support.cc  # noqa: F401
    import tvm.support.tar  # noqa: F401


@derived_object
class PatientBuilder(ms.builder.PyBuilder):
    """MetaSchedule builder on local worker processes, robust to a loaded machine (see the
    module docstring). ``timeout``: fixed seconds per build, or None to size it from the
    builds measured."""

    def __init__(self, compiler: str | None = None, timeout: float | None = None,
                 workers: int | None = None):
        super().__init__()
        from edgec.runtime.threads import default_threads

        self.export = export_linked if compiler else export_tar
        self.compiler = compiler
        self.fixed_timeout = timeout
        self.workers = workers or default_threads()
        self.slowest = 0.0
        self._pool = None
        self._pool_timeout = None

    @property
    def timeout(self) -> float:
        if self.fixed_timeout is not None:
            return self.fixed_timeout
        return max(_MIN_TIMEOUT, _TIMEOUT_FACTOR * self.slowest)

    def build(self, build_inputs):
        results = self._build(build_inputs, self.timeout)
        retry = [i for i, r in enumerate(results) if r.error_msg and "Timeout" in r.error_msg]
        if retry:
            longer = self.timeout * _RETRY_FACTOR
            logger.warning("%d build(s) timed out after %.0f s (a busy machine?); retrying "
                           "them once with %.0f s", len(retry), self.timeout, longer)
            again = self._build([build_inputs[i] for i in retry], longer)
            for i, result in zip(retry, again):
                results[i] = result
        return results

    def _build(self, build_inputs, timeout: float):
        from tvm.support.popen_pool import StatusKind

        pool = self._pool_for(timeout)
        results = []
        jobs = [(inp.mod, inp.target, self.export, self.compiler) for inp in build_inputs]
        for outcome in pool.map_with_error_catching(lambda job: build_candidate(*job), jobs):
            if outcome.status == StatusKind.COMPLETE:
                path, seconds = outcome.value
                self.slowest = max(self.slowest, seconds)
                results.append(ms.builder.BuilderResult(path, None))
            elif outcome.status == StatusKind.TIMEOUT:
                results.append(ms.builder.BuilderResult(
                    None, f"LocalBuilder: Timeout, killed after {timeout:.0f} seconds"))
            else:
                results.append(ms.builder.BuilderResult(
                    None, f"LocalBuilder: An exception occurred\n{outcome.value}"))
        return results

    def _pool_for(self, timeout: float):
        from tvm.support.popen_pool import PopenPoolExecutor

        if self._pool is not None and self._pool_timeout == timeout:
            return self._pool
        self.close()
        self._pool = PopenPoolExecutor(max_workers=self.workers, timeout=timeout,
                                       initializer=_warm_worker,
                                       maximum_process_uses=_USES_PER_WORKER)
        self._pool_timeout = timeout
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def make_runner(rpc_tracker: str | None, rpc_key: str | None):
    """Local measurement (or on devices behind an RPC tracker), each candidate run 3 times for
    at least 20 ms."""
    evaluator = ms.runner.EvaluatorConfig(number=3, repeat=1, min_repeat_ms=20,
                                          enable_cpu_cache_flush=False)
    if not rpc_tracker:
        return ms.runner.LocalRunner(timeout_sec=RUNNER_TIMEOUT, evaluator_config=evaluator)
    from edgec.device.rpc_client import _probe, parse_host_port

    host, port = parse_host_port(rpc_tracker, "--rpc-tracker")
    _probe(host, port, f"no RPC tracker answers at {host}:{port}")
    return ms.runner.RPCRunner(
        rpc_config=ms.runner.RPCConfig(tracker_host=host, tracker_port=port,
                                       tracker_key=rpc_key, session_timeout_sec=120),
        evaluator_config=evaluator)
