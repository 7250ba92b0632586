"""Tuning databases on disk: MetaSchedule's JSON files, kept safe across crashes.

MetaSchedule appends one JSON document per line to ``database_workload.json`` and
``database_tuning_record.json``. A process killed mid-write (kill -9, power loss) can leave a
torn last line, which MetaSchedule's loader rejects, losing the whole database. Before opening,
every line that does not parse is moved to ``<file>.torn`` with a warning, so at most the record
being written is lost. Records whose workload index is out of range are set aside the same way.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"


def repair(directory: Path) -> int:
    """Set aside unreadable lines in a database directory; returns how many were set aside."""
    directory = Path(directory)
    workloads, bad_workloads = _split(directory / WORKLOADS)
    records, bad_records = _split(directory / RECORDS)
    valid = []
    for line in records:
        index = json.loads(line)[0] if line.strip() else -1
        (valid if isinstance(index, int) and 0 <= index < len(workloads) else bad_records).append(
            line)
    if bad_workloads or _unterminated(directory / WORKLOADS):
        _rewrite(directory / WORKLOADS, workloads, bad_workloads)
    if bad_records or len(valid) != len(records) or _unterminated(directory / RECORDS):
        _rewrite(directory / RECORDS, valid, bad_records)
    bad = len(bad_workloads) + len(bad_records)
    if bad:
        logger.warning("tuning database %s: set aside %d unreadable line(s) (a run was killed "
                       "while writing?) into *.torn", directory, bad)
    return bad


def _unterminated(path: Path) -> bool:
    """A last line without its newline: the next append would tear it."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _split(path: Path) -> tuple[list[str], list[str]]:
    if not path.exists():
        return [], []
    good, bad = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            json.loads(line)
            good.append(line)
        except json.JSONDecodeError:
            bad.append(line)
    return good, bad


def _rewrite(path: Path, lines: list[str], bad: list[str]) -> None:
    if bad:
        with open(path.with_name(path.name + ".torn"), "a", encoding="utf-8") as handle:
            for line in bad:
                handle.write(line + "\n")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def open_database(directory: Path, create: bool = True):
    """The MetaSchedule JSONDatabase in ``directory`` (repaired first)."""
    from tvm.s_tir import meta_schedule as ms

    directory = Path(directory)
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    repair(directory)
    return ms.database.JSONDatabase(work_dir=str(directory), allow_missing=create,
                                    module_equality="structural")


def open_database_for(directory: Path, kernels: list):
    """The part of the database in ``directory`` (repaired first) that holds records of
    ``kernels`` (MetaSchedule workloads: IRModules), as a MetaSchedule JSONDatabase in a
    temporary directory; None when it holds none. Opening a whole database parses every
    workload's IR (9 s for the 212 shipped with edgec), where a compile needs a few."""
    import shutil

    import tvm_ffi
    from tvm.s_tir import meta_schedule as ms

    directory = Path(directory)
    repair(directory)
    wanted = set()
    for kernel in kernels:
        value = int(tvm_ffi.structural_hash(kernel))
        wanted.update({str(value), str(value & (2 ** 64 - 1))})
    keep: dict[int, int] = {}
    lines = []
    for index, line in enumerate(_lines(directory / WORKLOADS)):
        if line.split(",", 1)[0].lstrip("[").strip().strip('"') in wanted:
            keep[index] = len(lines)
            lines.append(line)
    if not keep:
        return None
    records = []
    for line in _lines(directory / RECORDS):
        head, rest = line.split(",", 1)
        index = int(head.lstrip("[").strip())
        if index in keep:
            records.append(f"[{keep[index]},{rest}")
    work = Path(tempfile.mkdtemp(prefix="edgec-records-"))
    try:
        (work / WORKLOADS).write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
        (work / RECORDS).write_text("".join(f"{x}\n" for x in records), encoding="utf-8")
        return ms.database.JSONDatabase(work_dir=str(work), allow_missing=False,
                                        module_equality="structural")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def has_records(directory: Path) -> bool:
    path = Path(directory) / RECORDS
    return path.is_file() and path.stat().st_size > 0
