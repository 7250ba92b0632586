"""``edgec tune``: MetaSchedule (evolutionary search, XGBoost cost model) over a model's
kernels, heaviest first, into ``tuning_logs/<board>/`` (host: ``tuning_logs/host/<cpu>/``).

Resumable by construction: every kernel's budget is ``trials_per_task`` minus the records the
database already holds for it, and tuning proceeds in small chunks whose records are appended
as soon as each measurement batch completes; a run killed at any moment loses at most the batch
in flight (``batch`` trials, default 8), and a torn last line is set aside on the next start.
The overall budget (``trials``) and the wall-clock budget are checked between chunks.
Measurement is local, or on devices registered with a TVM RPC tracker (``edgec serve
--tracker``), where a device that dies mid-run only fails the trials it was running.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from edgec.errors import OptionError, TuningError
from edgec.targets import resolve_target
from edgec.tuning.database import open_database
from edgec.tuning.locate import board_dir
from edgec.tuning.progress import Progress
from edgec.tuning.tasks import Task, extract_tasks, lowered_module

logger = logging.getLogger(__name__)

CHUNK_TRIALS = 64  # per search; each search trains its cost model from its own measurements


@dataclasses.dataclass
class TuneReport:
    database: Path
    tasks: int
    trials_run: int
    trials_before: int
    seconds: float
    stopped_by: str          # "done", "trials", "time budget", "nothing measured"
    best_us: dict[str, float]
    measured: int = 0        # trials of this run that gave a latency
    failures: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> trials


def tune(model, target: str = "host", *, input_shapes=None, trials_per_task: int = 64,
         trials: int | None = None, time_budget: float | None = None,
         log_dir: str | Path = "tuning_logs", rpc_tracker: str | None = None,
         rpc_key: str | None = None, batch: int = 8, progress: bool = True,
         build_timeout: float | None = None) -> TuneReport:
    """Tune ``model``'s kernels for ``target``; see the module docstring. ``build_timeout``:
    seconds a candidate's build may take (None: sized from the builds measured). Raises
    :class:`TuningError` when trials ran but not one could be measured."""
    from edgec.runtime.threads import configure_threads
    from edgec.tuning.measure import make_runner

    if trials_per_task < 1 or (trials is not None and trials < 1) or batch < 1:
        raise OptionError("--trials, --trials-per-task and --batch must be positive")
    if build_timeout is not None and build_timeout <= 0:
        raise OptionError(f"--build-timeout {build_timeout:g}: must be a positive number of "
                          "seconds")
    if bool(rpc_tracker) != bool(rpc_key):
        raise OptionError("--rpc-tracker and --rpc-key go together")
    configure_threads()  # measurement workers inherit the thread count deployment uses
    start = time.time()
    resolved = resolve_target(target)
    tvm_target = resolved.tvm_target()
    runner = make_runner(rpc_tracker, rpc_key)  # an unreachable tracker fails before any file
    database_dir = board_dir(Path(log_dir), resolved.board.name, resolved.target.get("mcpu"))
    database = open_database(database_dir)
    mod = lowered_module(model, resolved, input_shapes)
    tasks = extract_tasks(mod, tvm_target)
    records = _records_by_task(database, tasks)
    # measured schedules per task, failed measurements included (they were spent budget too)
    spent = {task.name: len(records.get(task.name, [])) for task in tasks}
    trials_before = sum(spent.values())
    # --trials counts searched schedules; each kernel's default schedule is measured besides.
    searched = sum(max(0, min(v, trials_per_task) - 1) for v in spent.values())
    budget_total = trials if trials is not None else (trials_per_task - 1) * len(tasks)
    remaining_global = max(0, budget_total - searched)
    # Each kernel's current default schedule is a record (measured in one batch, besides
    # --trials, unless the database has it): compiling with the database then never picks a
    # schedule slower than compiling without it, and the search goes where the time goes.
    defaults, failed_defaults = _missing_defaults(tasks, tvm_target, records)
    for name, count in failed_defaults.items():  # measured again below: not spent budget
        spent[name] -= count
    bar = Progress(len(defaults) + min(remaining_global, sum(
                       max(0, trials_per_task - max(spent[t.name], 1)) for t in tasks)), len(tasks),
                   stream=None if progress else open(os.devnull, "w"))
    builder = _builder(resolved, build_timeout)
    try:
        trials_run, stopped_by = _search(tasks, defaults, spent, tvm_target, database, builder,
                                         runner, bar, trials_per_task, remaining_global, batch,
                                         start, time_budget)
    finally:
        builder.close()
        bar.close()
    report = TuneReport(database=database_dir, tasks=len(tasks), trials_run=trials_run,
                        trials_before=trials_before, seconds=time.time() - start,
                        stopped_by=stopped_by, best_us=dict(bar.best), measured=bar.measured,
                        failures=dict(bar.failures))
    _check_measured(report)
    return report


def _check_measured(report: TuneReport) -> None:
    """Trials that all failed are an error (the records say nothing); some failures a warning."""
    if not report.failures:
        return
    failed = sum(report.failures.values())
    reasons = "; ".join(f"{n} x {reason}" for reason, n in
                        sorted(report.failures.items(), key=lambda kv: -kv[1])[:3])
    if report.measured == 0:
        raise TuningError(
            f"no schedule could be measured: all {failed} trials failed ({reasons}); nothing "
            "useful was recorded. If the machine is busy, tune when it is quieter or give "
            "builds more time (--build-timeout SECONDS)")
    logger.warning("%d of %d trials could not be measured (%s)", failed,
                   failed + report.measured, reasons)


def _search(tasks, defaults, spent, tvm_target, database, builder, runner, bar,
            trials_per_task, remaining_global, batch, start, time_budget) -> tuple[int, str]:
    """Measure the missing defaults, then search the tasks slowest first; return (trials run,
    why it stopped)."""
    _measure_defaults(defaults, tvm_target, database, builder, runner, bar)
    if defaults and bar.measured == 0:
        return len(defaults), "nothing measured"  # the search would fail the same way
    for task, _, _ in defaults:
        spent[task.name] += 1
    tasks = _by_measured_cost(database, tasks)
    trials_run, stopped_by = len(defaults), "done"
    with tempfile.TemporaryDirectory(prefix="edgec-tune-") as scratch:
        for task in tasks:
            left = min(trials_per_task - spent[task.name], remaining_global)
            while left > 0:
                if time_budget is not None and time.time() - start > time_budget:
                    stopped_by = "time budget"
                    break
                chunk = min(left, CHUNK_TRIALS)
                before = bar.trials
                _tune_chunk(task, tvm_target, database, builder, runner, chunk, batch, scratch,
                            bar)
                trials_run += bar.trials - before
                if bar.trials == before:  # the search space is exhausted
                    break
                left -= chunk
                remaining_global -= chunk
            if stopped_by != "done":
                break
            bar.task_done()
            if remaining_global <= 0 and any(spent[t.name] < trials_per_task
                                             for t in tasks[tasks.index(task) + 1:]):
                stopped_by = "trials"
                break
    return trials_run, stopped_by


def _by_measured_cost(database, tasks: list[Task]) -> list[Task]:
    """Tasks ordered by where the time goes: best measured latency x calls per inference,
    slowest first (flop counts mislead: a 2x2 stride-2 transposed conv has few flops and can
    be the slowest kernel); tasks never measured keep their flop order, after the others."""
    measured = {}
    for task in tasks:
        if database.has_workload(task.mod):
            top = database.get_top_k(database.commit_workload(task.mod), 1)
            if top:
                measured[task.name] = float(top[0].run_secs[0]) * task.weight
    known = sorted((t for t in tasks if t.name in measured), key=lambda t: -measured[t.name])
    return known + [t for t in tasks if t.name not in measured]


def _missing_defaults(tasks: list[Task], target, records: dict[str, list]
                      ) -> tuple[list[tuple], dict]:
    """(task, default schedule, args) for each task whose database records lack a measurement
    of its current default schedule (new kernels, default rules that changed since, or a
    default whose build failed, e.g. timed out on a busy machine: it is tried again), and per
    task how many failed records of its default there are (not spent budget: re-measured).
    ``records``: every record of each task, by task name (``_records_by_task``)."""
    from tvm.s_tir import meta_schedule as ms

    from edgec.schedules import default_schedule
    from edgec.tuning.records import measured, trace_key

    missing, failed = [], {}
    with target:
        for task in tasks:
            sch = default_schedule(task.mod["main"], target)
            if sch is None:
                continue
            trace = trace_key(sch.trace)
            same = [r for r in records.get(task.name, []) if trace_key(r.trace) == trace]
            if any(measured(r) for r in same):
                continue
            failed[task.name] = len(same)
            missing.append((task, sch, ms.arg_info.ArgInfo.from_prim_func(task.mod["main"])))
    return missing, failed


def _records_by_task(database, tasks: list[Task]) -> dict[str, list]:
    """Every record in the database (failed ones too) of each task, by task name."""
    workloads = {task.name: database.commit_workload(task.mod)
                 for task in tasks if database.has_workload(task.mod)}
    grouped: dict[str, list] = {name: [] for name in workloads}
    for record in database.get_all_tuning_records():
        for name, workload in workloads.items():
            if record.workload.same_as(workload):
                grouped[name].append(record)
                break
    return grouped


def _measure_defaults(scheduled: list[tuple], target, database, builder, runner,
                      bar: Progress) -> None:
    """Build and measure edgec's default schedules like any candidate, and commit them (a
    failed measurement too: it is what the default costs there)."""
    from tvm.s_tir import meta_schedule as ms

    if not scheduled:
        return
    device = "cpu" if target.kind.name == "llvm" else target.kind.name
    built = builder.build([ms.builder.BuilderInput(sch.mod, target) for _, sch, _ in scheduled])
    runnable = [(item, b) for item, b in zip(scheduled, built) if b.error_msg is None]
    futures = runner.run([ms.runner.RunnerInput(b.artifact_path, device, item[2])
                          for item, b in runnable])
    results = {id(item): future.result() for (item, _), future in zip(runnable, futures)}
    for item, b in zip(scheduled, built):
        task, sch, args_info = item
        result = results.get(id(item))
        run_secs = [1e10]
        failure = None
        if result is not None and result.error_msg is None and result.run_secs:
            run_secs = [float(x) for x in result.run_secs]
        else:
            error = b.error_msg if result is None else result.error_msg
            failure = failure_reason(error)
            logger.warning("%s: the default schedule failed to %s: %s", task.name,
                           "build" if result is None else "run", (error or "")[-300:])
        database.commit_tuning_record(ms.database.TuningRecord(
            sch.trace, database.commit_workload(task.mod), run_secs, target, args_info))
        mean_us = sum(run_secs) / len(run_secs) * 1e6
        bar.update(task.name, 1, mean_us if mean_us < 1e9 else None,
                   failures=[failure] if failure else [])


def _tune_chunk(task, target, database, builder, runner, trials, batch, scratch, bar) -> None:
    from tvm.s_tir import meta_schedule as ms

    context = ms.TuneContext(mod=task.mod, target=target, space_generator="post-order-apply",
                             search_strategy=_search_strategy(trials), task_name=task.name,
                             num_threads="physical")
    callbacks = ms.measure_callback.MeasureCallback.create("default") + [_Progress(task, bar)]
    ms.tune_tasks(tasks=[context], task_weights=[1.0], work_dir=scratch,
                  max_trials_global=trials, max_trials_per_task=trials,
                  num_trials_per_iter=min(batch, trials), builder=builder, runner=runner,
                  database=database, cost_model="xgb", measure_callbacks=callbacks)


def _search_strategy(trials: int):
    """MetaSchedule's evolutionary search with a population sized to the run: its default
    (512 candidates, 50 of them fresh random samples, scored by the cost model over 4 genetic
    rounds per batch) is meant for runs of hundreds of trials per kernel; a run of a few
    trials per kernel spent most of its time there (digits, 4 searched trials: 64 s)."""
    from tvm.s_tir import meta_schedule as ms

    population = int(min(512, max(32, 16 * trials)))
    return ms.search_strategy.EvolutionarySearch(
        population_size=population, init_min_unmeasured=min(50, population // 4))


def failure_reason(error: str | None) -> str:
    """A trial's error message as one short line (the kind of failure, not its traceback)."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return "no latency measured"
    first = lines[0]
    if "Timeout" in first:
        return first
    return f"{first} {lines[-1]}"[:160] if len(lines) > 1 else first[:160]


def _Progress(task: Task, bar: Progress):
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class ProgressCallback(ms.measure_callback.PyMeasureCallback):
        def apply(self, task_scheduler, task_id, measure_candidates, builder_results,
                  runner_results):
            best, failures = None, []
            for built, result in zip(builder_results, runner_results):
                mean = None
                if result.run_secs and result.error_msg is None:
                    mean = sum(float(s) for s in result.run_secs) / len(result.run_secs)
                if mean is not None and mean < 1e9:
                    best = mean * 1e6 if best is None else min(best, mean * 1e6)
                else:
                    failures.append(failure_reason(built.error_msg or result.error_msg))
            bar.update(task.name, len(runner_results), best, failures=failures)

    return ProgressCallback()


def _builder(resolved, timeout: float | None):
    from edgec.tuning.measure import PatientBuilder

    if resolved.board.arch == "x86_64" and resolved.board.toolchain.compiler in ("", "g++"):
        return PatientBuilder(timeout=timeout)
    compiler = shutil.which(resolved.board.toolchain.compiler) or \
        resolved.board.toolchain.compiler
    return PatientBuilder(compiler=compiler, timeout=timeout)

