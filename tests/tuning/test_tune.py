"""edgec tune end to end on the digits CNN: real MetaSchedule searches measured on this CPU,
records that compile picks up, resuming after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import edgec
import edgec.targets
from edgec.errors import OptionError
from edgec.reference import OrtReference
from edgec.runtime.inputs import random_inputs
from edgec.tuning.database import RECORDS
from edgec.tuning.tune import tune
from tests.conftest import DIGITS_MODEL, run_cli

SHAPE = "input:1,1,8,8"


def _lines(directory) -> int:
    path = directory / RECORDS
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def tuned_digits(tmp_path_factory):
    """A database with every kernel's default schedule and 3 searched schedules of the
    slowest kernel."""
    import concurrent.futures
    import multiprocessing

    log_dir = tmp_path_factory.mktemp("tuning_logs")
    # In a process of its own, as the CLI tunes: in a process that had exported a model with
    # PyTorch's dynamo exporter (as the suite's earlier tests do), the same search took twice
    # as long.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        report = pool.submit(tune, DIGITS_MODEL, "host", input_shapes=[SHAPE], trials=3,
                             trials_per_task=4, log_dir=log_dir, batch=4,
                             progress=False).result()
    return log_dir, report


def _measured_records(database) -> list[float]:
    """Latencies (s) of the records that were really measured (failures hold 1e10)."""
    secs = [min(json.loads(line)[1][1]) for line in (database / RECORDS).read_text().splitlines()]
    return [s for s in secs if s < 1e9]


def test_tune_writes_records_under_the_board(tuned_digits):
    log_dir, report = tuned_digits
    assert report.tasks == 7 and report.trials_run == 7 + 3 and report.trials_before == 0
    assert report.stopped_by == "trials"
    assert report.database.parent == log_dir / "host"  # host records are per CPU model
    assert _lines(report.database) == 10
    assert report.best_us and all(0 < us < 1e5 for us in report.best_us.values())
    # every kernel's default schedule, at least, was measured (not just attempted)
    assert report.measured >= 7 and report.measured + sum(report.failures.values()) == 10
    assert len(_measured_records(report.database)) == report.measured


@pytest.mark.slow
def test_a_run_that_measures_nothing_fails_with_one_line(tmp_path):
    """Builds that cannot finish in time (as on a machine too busy for the timeout) make
    nothing of the run: an error saying why, not a success with no records. Run again with
    time to build, on a machine oversubscribed (a busy process on every core, and one more),
    the failed defaults, not spent budget, are all built and measured."""
    from tests.tuning.load import cpu_load

    command = ["tune", DIGITS_MODEL, "-s", SHAPE, "--trials", "1", "--trials-per-task", "1",
               "--log-dir", tmp_path]
    result = run_cli(*command, "--build-timeout", "0.001")
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("edgec: error:")]
    assert len(errors) == 1 and "no schedule could be measured: all 7 trials failed" in \
        errors[0] and "Timeout" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    database = next(tmp_path.rglob(RECORDS)).parent
    assert _measured_records(database) == []
    with cpu_load(processes=(os.cpu_count() or 1) + 1):
        again = run_cli(*command)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "trials     7 this run (7 measured)" in again.stdout, again.stdout
    assert len(_measured_records(database)) == 7


def test_rerun_with_the_same_budget_has_nothing_left(tuned_digits):
    log_dir, report = tuned_digits
    again = tune(DIGITS_MODEL, "host", input_shapes=[SHAPE], trials=3, trials_per_task=4,
                 log_dir=log_dir, batch=4, progress=False)
    assert again.trials_run == 0 and again.trials_before == 10
    assert _lines(report.database) == 10


def test_compile_applies_the_records_and_stays_correct(tuned_digits, digits_model):
    log_dir, _ = tuned_digits
    artifact = edgec.compile(digits_model, "host", input_shapes=[SHAPE], tuning_logs=log_dir)
    rewrites = artifact.report.rewrites
    # every kernel has records; those whose best record is the default schedule say so
    assert rewrites.get("tuned kernel", 0) <= 1
    assert rewrites.get("tuned kernel", 0) + rewrites["default schedule"] == 7
    tuning = artifact.manifest.pipeline["tuning"]
    assert tuning["tuned_kernels"] == rewrites.get("tuned kernel", 0)
    assert len(tuning["sha256"]) == 64
    assert not tuning["records"].startswith("/")  # no machine paths in artifacts
    inputs = random_inputs(artifact.signature)
    want = OrtReference(digits_model).run(inputs)
    got = artifact.run(inputs)
    np.testing.assert_allclose(got["logits"], want["logits"], rtol=1e-4, atol=1e-4)
    untuned = edgec.compile(digits_model, "host", input_shapes=[SHAPE], tuning_logs=False)
    assert "tuned kernel" not in untuned.report.rewrites
    assert untuned.manifest.pipeline["tuning"] is None


def _copy_database(source, target_dir, edit=None):
    """A copy of a tuning database, each record line passed through ``edit`` (None drops it)."""
    import shutil

    target_dir.mkdir(parents=True)
    shutil.copy(source / "database_workload.json", target_dir)
    lines = (source / RECORDS).read_text().splitlines()
    kept = [line for line in (edit(i, line) if edit else line for i, line in enumerate(lines))
            if line is not None]
    (target_dir / RECORDS).write_text("".join(line + "\n" for line in kept))
    return target_dir


def test_records_of_another_cpu_are_not_used(tuned_digits, tmp_path, digits_model):
    """Records carry the target they were measured on; forced onto another CPU with
    --tuning-logs they are ignored (a schedule's speed does not carry over between CPUs)."""
    _, report = tuned_digits
    mcpu = edgec.targets.resolve_target("host").target["mcpu"]
    other = "znver4" if mcpu != "znver4" else "rocketlake"  # any CPU but this one
    foreign = _copy_database(report.database, tmp_path / "foreign",
                             lambda i, line: line.replace(f'"mcpu":"{mcpu}"',
                                                          f'"mcpu":"{other}"'))
    artifact = edgec.compile(digits_model, "host", input_shapes=[SHAPE], tuning_logs=foreign)
    rewrites = artifact.report.rewrites
    assert "tuned kernel" not in rewrites and rewrites["default schedule"] == 7
    assert rewrites["tuning records of another CPU (ignored)"] == 7
    assert "with records of another CPU (ignored)" in "\n".join(artifact.report.lines())


def test_records_without_the_current_default_measured_are_not_used(tuned_digits, tmp_path,
                                                                    digits_model):
    """A tuned record is used only next to a measurement of the kernel's current default
    schedule (the first 7 records): without it, it could be slower than the default."""
    _, report = tuned_digits
    searched_only = _copy_database(report.database, tmp_path / "stale",
                                   lambda i, line: line if i >= 7 else None)
    artifact = edgec.compile(digits_model, "host", input_shapes=[SHAPE],
                             tuning_logs=searched_only)
    rewrites = artifact.report.rewrites
    assert "tuned kernel" not in rewrites and rewrites["default schedule"] == 7
    assert rewrites["tuning records older than the default schedule (ignored)"] >= 1


def test_compile_cli_reports_tuned_and_default(tuned_digits, tmp_path):
    log_dir, _ = tuned_digits
    out = tmp_path / "d.edgec.tar"
    result = run_cli("compile", DIGITS_MODEL, "-s", SHAPE, "--tuning-logs", log_dir, "-o", out)
    assert result.returncode == 0, result.stderr
    tuned = edgec.load(out).manifest.pipeline["tuning"]["tuned_kernels"]
    assert f"schedules  {tuned} tuned, {7 - tuned} default" in result.stdout
    shown = run_cli("inspect", out)
    assert f"tuning     {tuned} kernels from" in shown.stdout


@pytest.mark.slow
def test_killed_mid_run_resumes_and_sets_a_torn_line_aside(tmp_path):
    log_dir = tmp_path / "logs"
    command = [sys.executable, "-m", "edgec", "tune", str(DIGITS_MODEL), "-s", SHAPE,
               "--trials", "2", "--trials-per-task", "8", "--batch", "1",
               "--log-dir", str(log_dir)]
    database = log_dir / "host"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    records = None
    while time.time() < deadline and process.poll() is None:
        found = list(database.rglob(RECORDS))
        if found and _lines(found[0].parent) >= 7 + 1:  # the defaults, then a searched batch
            records = found[0].parent
            break
        time.sleep(0.2)
    assert records is not None, process.communicate()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for child in _popen_workers():  # MetaSchedule's measurement workers die with it
        os.kill(child, signal.SIGKILL)
    kept = _lines(records)
    assert 7 + 1 <= kept < 7 + 2
    with open(records / RECORDS, "a") as handle:  # as if power was lost mid-write
        handle.write('[0,[[["Split"')
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "set aside 1 unreadable line" in result.stderr
    assert f"{kept} before" in result.stdout
    assert (records / (RECORDS + ".torn")).exists()
    assert _lines(records) == 7 + 2
    for line in (records / RECORDS).read_text().splitlines():
        json.loads(line)


def _popen_workers() -> list[int]:
    """Orphaned ``tvm.exec.popen_worker`` processes of this test (parent died)."""
    import psutil

    return [proc.pid for proc in psutil.process_iter(["cmdline", "ppid"])
            if proc.info["ppid"] == 1
            and "tvm.exec.popen_worker" in " ".join(proc.info["cmdline"] or [])]


def test_option_errors(tmp_path):
    with pytest.raises(OptionError, match="--rpc-tracker and --rpc-key go together"):
        tune(DIGITS_MODEL, "host", input_shapes=[SHAPE], rpc_tracker="127.0.0.1:9190")
    with pytest.raises(OptionError, match="must be positive"):
        tune(DIGITS_MODEL, "host", input_shapes=[SHAPE], trials_per_task=0)
    result = run_cli("tune", DIGITS_MODEL, "-s", SHAPE, "--time-budget", "soon")
    assert result.returncode == 2 and "--time-budget soon: write a duration" in result.stderr
    result = run_cli("tune", DIGITS_MODEL, "-s", SHAPE, "--rpc-tracker", "127.0.0.1:9",
                     "--rpc-key", "rasp4b", "--log-dir", tmp_path / "logs")
    assert result.returncode != 0 and "no RPC tracker answers at 127.0.0.1:9" in result.stderr
    assert not (tmp_path / "logs").exists()  # nothing half-made
    result = run_cli("compile", DIGITS_MODEL, "-s", SHAPE, "--tuning-logs", "/nonexistent")
    assert result.returncode == 2 and "no tuning records there" in result.stderr


def test_time_budget_parsing():
    from edgec.cli.tune import parse_duration

    assert parse_duration("30m") == 1800 and parse_duration("2h") == 7200
    assert parse_duration("90") == 90 and parse_duration(None) is None
    with pytest.raises(OptionError):
        parse_duration("0s")
