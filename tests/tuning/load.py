"""A loaded machine for tests: busy processes that keep every core occupied."""

from __future__ import annotations

import contextlib
import subprocess
import sys

_SPIN = "import time\nend = time.time() + 1800\nwhile time.time() < end: pass\n"


@contextlib.contextmanager
def cpu_load(processes: int):
    """``processes`` busy-looping Python processes (each stops by itself after 30 minutes)."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(processes)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
