"""Tuning databases survive crashes: torn lines are set aside, never fatal."""

from __future__ import annotations

import json
import logging

import pytest

from edgec.tuning.database import RECORDS, WORKLOADS, has_records, open_database, repair
from edgec.tuning.locate import board_dir, find_records


@pytest.fixture
def database_dir(tmp_path):
    """A real database: one kernel's workload and three records, written by
    MetaSchedule itself (records of the unscheduled kernel)."""
    import tvm
    from tvm import te
    from tvm.s_tir import meta_schedule as ms

    a = te.placeholder((8,), "float32", name="a")
    b = te.compute((8,), lambda i: a[i] + 1.0, name="b")
    add = te.create_prim_func([a, b]).with_attr("global_symbol", "main")
    mod = tvm.IRModule({"main": add})
    database = open_database(tmp_path)
    workload = database.commit_workload(mod)
    sch = tvm.s_tir.Schedule(mod)
    for seconds in (3e-6, 2e-6, 1e-6):
        database.commit_tuning_record(ms.database.TuningRecord(
            sch.trace, workload, [seconds], tvm.target.Target("llvm"), ms.arg_info.ArgInfo
            .from_prim_func(add)))
    return tmp_path, mod


def _records(directory) -> list[str]:
    return (directory / RECORDS).read_text().splitlines()


def test_database_written_by_metaschedule_reads_back(database_dir):
    directory, mod = database_dir
    assert repair(directory) == 0
    database = open_database(directory)
    assert database.has_workload(mod)
    assert len(database.get_all_tuning_records()) == 3


def test_torn_last_line_is_set_aside_with_a_warning(database_dir, caplog):
    directory, mod = database_dir
    lines = _records(directory)
    with open(directory / RECORDS, "a") as handle:
        handle.write(lines[-1][: len(lines[-1]) // 2])  # killed in the middle of a write
    with caplog.at_level(logging.WARNING):
        database = open_database(directory)
    assert "set aside 1 unreadable line" in caplog.text
    assert (directory / (RECORDS + ".torn")).read_text().strip() == lines[-1][: len(lines[-1]) // 2]
    assert _records(directory) == lines
    assert len(database.get_all_tuning_records()) == 3


def test_unterminated_last_line_gets_its_newline(database_dir):
    directory, _ = database_dir
    text = (directory / RECORDS).read_text()
    (directory / RECORDS).write_text(text.rstrip("\n"))  # killed before the newline
    assert repair(directory) == 0
    assert (directory / RECORDS).read_text() == text
    assert not (directory / (RECORDS + ".torn")).exists()


def test_record_of_a_lost_workload_is_set_aside(database_dir):
    directory, _ = database_dir
    line = json.loads(_records(directory)[0])
    line[0] = 7  # no workload 7: its workload line was the one torn
    with open(directory / RECORDS, "a") as handle:
        handle.write(json.dumps(line) + "\n")
    assert repair(directory) == 1
    assert len(_records(directory)) == 3


def test_torn_workload_line(database_dir):
    directory, _ = database_dir
    with open(directory / WORKLOADS, "a") as handle:
        handle.write('["abc", "AAA')
    assert repair(directory) == 1
    assert len((directory / WORKLOADS).read_text().splitlines()) == 1


def test_locating_records(tmp_path, monkeypatch, database_dir):
    directory, _ = database_dir
    monkeypatch.chdir(tmp_path)
    assert find_records("rasp4b", None) is None  # none here, none shipped
    target = board_dir(tmp_path / "tuning_logs", "host", "skylake")
    assert target == tmp_path / "tuning_logs" / "host" / "skylake"
    target.mkdir(parents=True)
    for name in (RECORDS, WORKLOADS):
        (target / name).write_bytes((directory / name).read_bytes())
    assert has_records(target)
    assert find_records("host", "skylake") == tmp_path / "tuning_logs" / "host" / "skylake"
    assert find_records("host", "skylake", tmp_path / "tuning_logs") == target
    assert find_records("host", "skylake", target) == target
    assert find_records("host", "znver4", tmp_path / "tuning_logs") is None
