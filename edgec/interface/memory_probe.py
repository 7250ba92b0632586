"""Peak memory of running a model once, measured in a fresh process so that engines do not
share the number: ``python -m edgec.interface.memory_probe {edgec|onnxruntime} MODEL IN.npz
THREADS`` prints the peak resident set size minus the size after the engine's libraries were
imported, in bytes."""

from __future__ import annotations

import resource
import sys


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> int:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) and return the current RSS, so that the
    peak read later covers only what follows, not the imports."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass
    return _rss_bytes()


def _peak_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> None:
    engine, model, inputs_path, threads = argv[0], argv[1], argv[2], int(argv[3])
    import numpy as np

    inputs = dict(np.load(inputs_path))
    if engine == "edgec":
        import os

        os.environ["TVM_NUM_THREADS"] = str(threads)
        import tvm  # noqa: F401  (the engine's libraries, as ORT's are below)

        import edgec
        from edgec.runtime import session  # noqa: F401

        base = _reset_peak()
        edgec.load(model).run(inputs)
    else:
        import onnxruntime as ort

        base = _reset_peak()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        session.run(None, inputs)
    peak = _peak_bytes()
    print(max(0, peak - base))


if __name__ == "__main__":
    main(sys.argv[1:])
