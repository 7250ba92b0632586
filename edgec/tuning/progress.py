"""A one-line progress display for tuning: tasks done, trials, best latency, time left."""

from __future__ import annotations

import collections
import sys
import time


class Progress:
    def __init__(self, total_trials: int, total_tasks: int, stream=None):
        self.total_trials = max(1, total_trials)
        self.total_tasks = total_tasks
        self.trials = 0
        self.tasks_done = 0
        self.start = time.time()
        self.best: dict[str, float] = {}
        self.measured = 0                    # trials that gave a latency
        self.failures: collections.Counter = collections.Counter()  # reason -> trials
        self.stream = stream or sys.stderr
        self.task = ""
        self.enabled = self.stream.isatty() if hasattr(self.stream, "isatty") else False
        self.last_line = 0.0     # not a terminal (a log file): a line at most every 30 s

    def update(self, task: str, trials: int, best_us: float | None,
               failures: list[str] = ()) -> None:
        self.task = task
        self.trials += trials
        self.measured += trials - len(failures)
        self.failures.update(failures)
        if best_us is not None:
            self.best[task] = min(self.best.get(task, float("inf")), best_us)
        self._draw()

    def task_done(self) -> None:
        self.tasks_done += 1
        self._draw(final=not self.enabled)

    def _draw(self, final: bool = False) -> None:
        elapsed = time.time() - self.start
        rate = self.trials / elapsed if elapsed > 0 else 0
        left = (self.total_trials - self.trials) / rate if rate > 0 else float("nan")
        best = self.best.get(self.task)
        best_text = f"{best / 1000:.3f} ms" if best is not None else "-"
        filled = int(30 * min(1.0, self.trials / self.total_trials))
        line = (f"[{'#' * filled}{'.' * (30 - filled)}] tasks {self.tasks_done}/{self.total_tasks}"
                f"  trials {self.trials}/{self.total_trials}  {self.task[:28]:<28} best "
                f"{best_text}  left {_duration(left)}"
                + (f"  failed {sum(self.failures.values())}" if self.failures else ""))
        if self.enabled:
            self.stream.write("\r" + line)
        elif final or time.time() - self.last_line >= 30:
            self.last_line = time.time()
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"
