"""Where edgec keeps what it downloads and builds: ``$EDGEC_CACHE_DIR``, else
``$XDG_CACHE_HOME/edgec``, else ``~/.cache/edgec``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("EDGEC_CACHE_DIR"):
        return Path(os.environ["EDGEC_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgec"
