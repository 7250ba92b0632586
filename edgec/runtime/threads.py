"""How many threads the TVM runtime uses, set once per process before its pool starts.

TVM sizes its thread pool from ``TVM_NUM_THREADS`` when the pool is first used; without it, on
x86 it takes half the logical CPUs (assuming hyper-threading), which on a 2-core machine without
SMT is one thread. edgec sets it to the physical cores available to this process (or to what
the user asks), so that edgec and ONNX Runtime are timed with the same number of threads.
"""

from __future__ import annotations

import os

_ENV = "TVM_NUM_THREADS"


def default_threads() -> int:
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or available
    except ImportError:
        physical = available
    return max(1, min(available, physical))


def configure_threads(threads: int | None = None) -> int:
    """Fix the runtime's thread count (unless the user's environment already did); return it."""
    if threads is not None and threads > 0:
        os.environ[_ENV] = str(threads)
    elif not os.environ.get(_ENV, "").strip().isdigit():
        os.environ[_ENV] = str(default_threads())
    return int(os.environ[_ENV])
