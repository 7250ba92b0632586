"""Accuracy of the int8 model against the float one, and mixed precision under a budget.

``--eval`` data (same formats as calibration data) runs through the float model and through
its quantized form; with ``--labels`` (one class index per sample) the metric is top-1 of the
first output, with ``accuracy_metric`` (Python API) the user's own loss over the first outputs
of float and int8 (OCR: the share of lines read differently), else the first output's relative
RMS error against float (reported as SQNR too).

With ``--accuracy-budget B%``, a top-1 drop above B points (or, without labels, an RMS error
above B% of the float output's) sends the most sensitive layers back to float32: layers ranked
by their measured effect (the loss with only that layer in float), the first 1, 2, 4, ... kept
float until the budget holds, then the smallest count between the last two that holds. The
quantized form is built once for this machine with every quantization switchable at run time
(``calibrate._Inserter``), so each trial only runs the evaluation samples.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from pathlib import Path

import numpy as np
import tvm

from edgec.errors import CalibrationError, OptionError

logger = logging.getLogger(__name__)


def parse_budget(value) -> float | None:
    """``"1%"``, ``"0.5%"`` (or a number of percent) -> a fraction; None stays None."""
    if value is None:
        return None
    text = str(value).strip()
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*%?", text)
    if not match or not 0 < float(match.group(1)) < 100:
        raise OptionError(f"--accuracy-budget {value}: give the largest accepted loss in "
                          "percent, e.g. 1% (top-1 points with labels, else relative RMS "
                          "error of the output)")
    return float(match.group(1)) / 100.0


def load_labels(source) -> np.ndarray:
    """Class indices (``.npy`` file or array), one per row of the first output over all
    evaluation samples (a sample with a batch of 40 takes 40); checked when the outputs are
    known."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            labels = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CalibrationError(f"labels '{path}' is not a readable .npy file: {err}") from err
        origin = f"labels '{path}'"
    else:
        labels, origin = np.asarray(source), "the labels"
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim == 0:
        raise CalibrationError(f"{origin} must hold integer class indices, one per evaluated "
                               f"row; got {labels.dtype} {list(labels.shape)}")
    return labels.reshape(-1).astype(np.int64)


def check_label_count(labels: np.ndarray, samples: int, output_shape) -> None:
    """One label per row of the first output (``output_shape`` without its class axis)."""
    rows = samples * int(np.prod(list(output_shape)[:-1]))
    if rows != labels.size:
        raise CalibrationError(
            f"{labels.size} labels for {rows} predictions ({samples} evaluation samples, "
            f"first output {list(output_shape)}): give one class index per row of the output")


@dataclasses.dataclass
class Evaluation:
    """What the evaluation measured, for the compile report and the manifest."""

    metric: str                    # "top-1", "output error" or "metric" (the user's)
    samples: int
    float_value: float             # top-1 (fraction) or 0.0 (error of float against itself)
    int8_value: float              # top-1, or relative RMS error
    sqnr_db: float                 # first output, int8 against float
    budget: float | None = None
    within_budget: bool | None = None
    kept_float: list[str] = dataclasses.field(default_factory=list)
    trials: int = 1
    all_int8_loss: float | None = None  # before the budget sent layers back to float

    @property
    def loss(self) -> float:
        """Top-1 points lost, or the relative RMS error."""
        return self.float_value - self.int8_value if self.metric == "top-1" else self.int8_value

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["loss"] = self.loss
        return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v)
                for k, v in data.items()}


def _first_output(result) -> np.ndarray:
    while isinstance(result, (tuple, list)) or hasattr(result, "__getitem__") and \
            not hasattr(result, "numpy"):
        result = result[0]
    return result.numpy()


class Evaluator:
    """Runs modules on the evaluation samples and scores them against the float model."""

    def __init__(self, data, labels: np.ndarray | None, metric=None):
        self.data = data
        self.labels = labels
        # metric(float outputs, int8 outputs) -> loss (a fraction; 0 = as good as float),
        # both the first output stacked over the samples
        self.metric = metric
        self.reference: np.ndarray | None = None

    def runner(self, mod: tvm.IRModule):
        """``mod`` built for this machine, as ``run(*extra) -> first outputs``: every sample,
        with ``extra`` arrays after the model's own inputs (``mod`` takes them last)."""
        from edgec.quantize.calibrate import _build

        vm = _build(mod)
        names = [p.name for p in mod["main"].params]

        def run(*extra) -> np.ndarray:
            more = [tvm.runtime.tensor(np.ascontiguousarray(e)) for e in extra]
            own = names[:len(names) - len(more)]
            return np.stack([_first_output(vm["main"](
                *[tvm.runtime.tensor(s[n]) for n in own], *more)) for s in self.data])

        return run

    def outputs(self, mod: tvm.IRModule) -> np.ndarray:
        return self.runner(mod)()

    def set_reference(self, float_mod: tvm.IRModule) -> None:
        self.reference = self.outputs(float_mod).astype(np.float64)
        if self.labels is not None:
            check_label_count(self.labels, len(self.data), self.reference.shape[1:])

    def _top1(self, outputs: np.ndarray) -> float:
        predicted = outputs.reshape(-1, outputs.shape[-1]).argmax(-1)
        return float(np.mean(predicted == self.labels))

    def score(self, mod: tvm.IRModule, budget: float | None) -> Evaluation:
        return self.score_outputs(self.outputs(mod), budget)

    def score_outputs(self, out: np.ndarray, budget: float | None) -> Evaluation:
        out = out.astype(np.float64)
        signal = float(np.sum(self.reference ** 2))
        noise = float(np.sum((out - self.reference) ** 2))
        from edgec.quantize.calibrate import sqnr_db

        sqnr = sqnr_db(signal, noise)
        if self.metric is not None:
            loss = self.metric(self.reference, out)
            try:
                loss = float(loss)
            except (TypeError, ValueError) as err:
                raise OptionError(f"the accuracy metric returned {loss!r}; it must return "
                                  "one number, the loss as a fraction (0 = as float)") from err
            ev = Evaluation("metric", len(self.data), 0.0, loss, sqnr, budget)
        elif self.labels is not None:
            ev = Evaluation("top-1", len(self.data), self._top1(self.reference), self._top1(out),
                            sqnr, budget)
        else:
            error = math.sqrt(noise / signal) if signal > 0 else (0.0 if noise == 0 else math.inf)
            ev = Evaluation("output error", len(self.data), 0.0, error, sqnr, budget)
        if budget is not None:
            ev.within_budget = ev.loss <= budget + 1e-12
        return ev


def search_float_layers(order: list[int], trial) -> tuple[Evaluation, list[int], int]:
    """Keep the first k of ``order`` (most sensitive first) in float for k = 1, 2, 4, ...
    until ``trial(float_indices) -> Evaluation`` is within budget, then the smallest k between
    the last two sizes that is. Returns (evaluation, float indices, trials run)."""
    evals: dict[int, Evaluation] = {}

    def run(k: int) -> Evaluation:
        evals[k] = trial(order[:k])
        logger.info("accuracy budget: %d layer(s) in float: loss %.4f", k, evals[k].loss)
        return evals[k]

    k, last_miss = 1, 0
    while True:
        k = min(k, len(order))
        if run(k).within_budget or k == len(order):
            break
        last_miss, k = k, k * 2
    if evals[k].within_budget:
        low, high = last_miss, k  # low misses (or is 0: all int8 missed), high holds
        while high - low > 1:
            mid = (low + high) // 2
            if run(mid).within_budget:
                high = mid
            else:
                low = mid
        k = high
    return evals[k], order[:k], len(evals)
