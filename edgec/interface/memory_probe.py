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


def main(argv: list[str]) -> None:
    engine, model, inputs_path, threads = argv[0], argv[1], argv[2], int(argv[3])
    import numpy as np

    inputs = dict(np.load(inputs_path))
    if engine == "edgec":
        import os

        os.environ["TVM_NUM_THREADS"] = str(threads)
        import edgec

        base = _rss_bytes()
        edgec.load(model).run(inputs)
    else:
        import onnxruntime as ort

        base = _rss_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        session.run(None, inputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(max(0, peak - base))


if __name__ == "__main__":
    main(sys.argv[1:])
