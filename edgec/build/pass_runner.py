"""Run the pipeline pass by pass: time each one, optionally dump the IR after each."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import tvm

from edgec.errors import InternalError
from edgec.passes.pipeline import PassEntry

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PassTiming:
    name: str
    phase: str
    seconds: float


def run_pipeline(mod: tvm.IRModule, entries: Sequence[PassEntry], target: tvm.target.Target,
                 dump_dir: Path | None = None,
                 on_pass: Callable[[PassEntry, tvm.IRModule], None] | None = None,
                 ) -> tuple[tvm.IRModule, list[PassTiming]]:
    """Apply ``entries`` in order under ``target``; ``on_pass`` sees the IR after each pass."""
    timings: list[PassTiming] = []
    if dump_dir is not None:
        dump_dir.mkdir(parents=True, exist_ok=True)
        _dump(dump_dir / "000-input.py", mod)
    phase = None
    with target, tvm.transform.PassContext(opt_level=3):
        for index, entry in enumerate(entries, start=1):
            if entry.phase != phase:
                phase = entry.phase
                logger.info("pipeline phase: %s", phase)
            start = time.perf_counter()
            try:
                mod = entry.make()(mod)
            except Exception as err:
                raise InternalError(f"pass {entry.name} failed: {type(err).__name__}: "
                                    f"{str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
                                    ) from err
            timings.append(PassTiming(entry.name, entry.phase, time.perf_counter() - start))
            if dump_dir is not None:
                _dump(dump_dir / f"{index:03d}-{entry.phase}-{entry.name}.py", mod)
            if on_pass is not None:
                on_pass(entry, mod)
    return mod, timings


def _dump(path: Path, mod: tvm.IRModule) -> None:
    path.write_text(mod.script(show_meta=False), encoding="utf-8")
