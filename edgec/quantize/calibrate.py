"""Calibrate: measure a float model's activation ranges on calibration data and rewrite it into
the QDQ form, so that ``QDQToInteger`` runs its convolutions and matmuls on int8.

Runs at the end of the graph phase, when batch norms are folded into the convolutions and the
activations are recognised, so the ranges are those of the tensors the int8 kernels produce:

1. **Points.** Every conv2d (NCHW) and matmul with a constant float32 weight is a *linear
   chain* ``op -> [+ bias] -> [relu | clip | hard_swish | hard_sigmoid]``; its input and the
   chain's end are the points whose ranges are measured.
2. **Measure.** A copy of ``main`` that also returns every point is lowered with edgec's own
   lower/finalize phases, built for the machine running the compile, and run on every sample
   (the model as edgec compiles it, not another engine's version of it). ``minmax`` needs one
   pass over the data; ``percentile`` and ``entropy`` a second one for histograms
   (``ranges.py``); the model's inputs always keep their min/max range.
3. **Rewrite.** Each point ``v`` becomes ``dequantize(quantize(v))`` with its int8 parameters,
   each weight ``dequantize(W_q)`` with symmetric int8 values, per output channel unless
   per-tensor was asked. ``QDQToInteger`` then turns each chain into an integer kernel.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.errors import InternalError
from edgec.passes.bindings import constant_array, key, make_constant
from edgec.passes.rewrite_log import collecting, record
from edgec.quantize.data import CalibrationSet
from edgec.quantize.options import QuantizeOptions
from edgec.quantize.ranges import Stats, int8_parameters, value_range, weight_parameters

logger = logging.getLogger(__name__)

_ACTIVATIONS = ("relax.nn.relu", "relax.clip", "relax.edgec.hard_swish",
                "relax.edgec.hard_sigmoid")


@dataclasses.dataclass
class _Chain:
    call: relax.Call            # the conv2d / matmul
    weight_axis: int            # output-channel axis of its weight
    input_var: relax.Var
    end_var: relax.Var | None


@dataclasses.dataclass
class TensorRange:
    """The calibrated parameters of one point, for the compile report."""

    name: str
    lo: float
    hi: float
    scale: float
    zero_point: int
    sqnr_db: float = float("nan")   # signal / int8 rounding+clipping error, on the samples


@dataclasses.dataclass
class LayerReport:
    """One quantized linear operator, for the report and the manifest."""

    op: str
    weight_shape: list[int]
    input: str
    output: str | None
    weight_sqnr_db: float
    precision: str = "int8"     # "float32" when the accuracy budget kept it in float


def sqnr_db(signal: float, noise: float) -> float:
    if noise <= 0:
        return float("inf")
    return float(10.0 * np.log10(max(signal, 1e-30) / noise))


def _fake_quantized(x: np.ndarray, scale: float, zero: int) -> np.ndarray:
    return (np.clip(np.rint(x / scale) + zero, -128, 127) - zero) * scale


def _op_name(value) -> str:
    if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op):
        return value.op.name
    return ""


def _bindings(func: relax.Function) -> list[relax.Binding]:
    return [b for block in func.body.blocks for b in block.bindings]


def find_chains(func: relax.Function) -> list[_Chain]:
    bindings = _bindings(func)
    value_of = {key(b.var): b.value for b in bindings}
    users: dict[int, list[relax.Var]] = {}
    for b in bindings:
        if isinstance(b.value, relax.Call):
            for arg in b.value.args:
                if isinstance(arg, relax.Var):
                    users.setdefault(key(arg), []).append(b.var)
    body = func.body.body
    returned = {key(e) for e in (body.fields if isinstance(body, relax.Tuple) else [body])
                if isinstance(e, relax.Var)}

    def only_user(var):
        found = users.get(key(var), [])
        return found[0] if len(found) == 1 and key(var) not in returned else None

    chains = []
    for b in bindings:
        value = b.value
        name = _op_name(value)
        if name not in ("relax.nn.conv2d", "relax.matmul"):
            continue
        weight = constant_array(value.args[1])
        if weight is None or weight.dtype != np.float32 or str(value.ty.dtype) != "float32":
            continue
        if not isinstance(value.args[0], relax.Var) or str(value.args[0].ty.dtype) != "float32":
            continue
        if name == "relax.nn.conv2d":
            attrs = value.attrs
            if (str(attrs.data_layout), str(attrs.kernel_layout)) != ("NCHW", "OIHW"):
                continue
            axis = 0
        elif weight.ndim == 2:
            axis = 1
        else:
            continue
        end = b.var
        nxt = only_user(end)
        if nxt is not None and _op_name(value_of[key(nxt)]) == "relax.add" \
                and any(constant_array(a) is not None for a in value_of[key(nxt)].args):
            end, nxt = nxt, only_user(nxt)
        if nxt is not None and _op_name(value_of[key(nxt)]) in _ACTIVATIONS:
            end = nxt
        # a model output stays float: the integer kernel dequantizes into it directly
        chains.append(_Chain(value, axis, value.args[0], None if key(end) in returned else end))
    return chains


def _positions(func: relax.Function, points: list[relax.Var]) -> list[tuple[str, int]]:
    """Where each point is: ("param", i) or ("binding", i), stable across ToNonDataflow."""
    params = {key(p): i for i, p in enumerate(func.params)}
    bound = {key(b.var): i for i, b in enumerate(_bindings(func))}
    return [("param", params[key(v)]) if key(v) in params else ("binding", bound[key(v)])
            for v in points]


def _instrumented(mod: tvm.IRModule, points: list[relax.Var]) -> tvm.IRModule:
    """``main`` returning (its outputs, *points), without dataflow blocks."""
    where = _positions(mod["main"], points)
    mod = relax.transform.ToNonDataflow()(mod)
    func = mod["main"]
    bindings = _bindings(func)
    fields = [func.body.body] + [func.params[i] if kind == "param" else bindings[i].var
                                 for kind, i in where]
    ret = relax.Tuple(fields)
    ret_ty = relax.TupleType([f.ty for f in fields])
    body = relax.SeqExpr(func.body.blocks, ret)
    out = mod.clone()
    out["main"] = relax.Function(func.params, body, ret_ty, func.is_pure, func.attrs)
    return relax.transform.Normalize()(out)


def _build(mod: tvm.IRModule) -> relax.VirtualMachine:
    """The instrumented copy lowered by edgec's own lower/finalize phases, for this machine."""
    from edgec.build.pass_runner import run_pipeline
    from edgec.passes.pipeline import PipelineOptions, build_pipeline
    from edgec.targets import resolve_target

    target = resolve_target("host").tvm_target()
    entries = [e for e in build_pipeline(PipelineOptions(opt_level=2))
               if e.phase in ("lower", "finalize")]
    with collecting():   # the copy's kernels are not the compile's: keep them out of its report
        lowered, _ = run_pipeline(mod, entries, target)
    try:
        executable = tvm.compile(lowered, target=target, relax_pipeline=None)
    except Exception as err:
        raise InternalError(f"building the calibration copy of the model failed: "
                            f"{type(err).__name__}: {err}") from err
    return relax.VirtualMachine(executable, tvm.cpu())


def _run_samples(vm: relax.VirtualMachine, names: list[str], calibration: CalibrationSet,
                 count: int, observe) -> None:
    last = time.perf_counter()
    for index, sample in enumerate(calibration):
        result = vm["main"](*[tvm.runtime.tensor(sample[n]) for n in names])
        observe([result[1 + i].numpy() for i in range(count)])
        if time.perf_counter() - last > 5:
            last = time.perf_counter()
            logger.info("calibrating: %d/%d samples", index + 1, len(calibration))


def measure(mod: tvm.IRModule, points: list[relax.Var], calibration: CalibrationSet,
            options: QuantizeOptions, choose) -> list[TensorRange]:
    """Ranges of ``points`` on the samples; ``choose(index, stats) -> TensorRange``; then the
    error of each range on the same samples (one more pass). The copy is built once."""
    stats = [Stats() for _ in points]
    instrumented = _instrumented(mod, points)
    vm = _build(instrumented)
    names = [p.name for p in instrumented["main"].params]

    def run(observe):
        _run_samples(vm, names, calibration, len(points), observe)

    def ranges(arrays):
        for s, a in zip(stats, arrays):
            s.observe_range(a)

    def histograms(arrays):
        for s, a in zip(stats, arrays):
            s.observe_histogram(a)

    run(ranges)
    if options.method != "minmax":
        run(histograms)
    chosen = [choose(i, s) for i, s in enumerate(stats)]
    signal = np.zeros(len(points))
    noise = np.zeros(len(points))

    def errors(arrays):
        for i, (r, a) in enumerate(zip(chosen, arrays)):
            a = a.astype(np.float64)
            signal[i] += float(np.sum(a * a))
            noise[i] += float(np.sum((a - _fake_quantized(a, r.scale, r.zero_point)) ** 2))

    run(errors)
    for i, r in enumerate(chosen):
        r.sqnr_db = sqnr_db(signal[i], noise[i])
    return chosen


@mutator
class _Inserter(PyExprMutator):
    def __init__(self, mod, wrap: dict, weights: dict, params: dict):
        super().__init__(mod)
        self.wrap = wrap          # key(bound value) -> (scale, zero point)
        self.weights = weights    # key(linear call) -> (int8 values, scales, axis)
        self.params = params      # key(param) -> (scale, zero point), wrapped at each use

    def _fake_quantize(self, expr, scale: float, zero: int):
        s = relax.const(np.float32(scale), "float32")
        z = relax.const(np.int8(zero), "int8")
        q = self.builder_.normalize(relax.op.quantize(expr, s, z, axis=-1, out_dtype="int8"))
        return relax.op.dequantize(q, s, z, axis=-1, out_dtype="float32")

    def visit_call_(self, call):
        original = call
        call = super().visit_call_(call)
        weight = self.weights.get(key(original))
        if weight is not None:
            values, scales, axis = weight
            x = call.args[0]
            param = self.params.get(key(original.args[0]))
            if param is not None:
                x = self.builder_.normalize(self._fake_quantize(x, *param))
            zeros = np.zeros(scales.shape, np.int8)
            w = relax.op.dequantize(make_constant(values, "int8"),
                                    make_constant(scales, "float32"),
                                    make_constant(zeros, "int8"), axis=axis,
                                    out_dtype="float32")
            call = relax.Call(call.op, [x, self.builder_.normalize(w), *call.args[2:]],
                              call.attrs)
        wrap = self.wrap.get(key(original))
        if wrap is not None:
            return self._fake_quantize(self.builder_.normalize(call), *wrap)
        return call


@dataclasses.dataclass
class QuantizeSummary:
    """What calibration chose, for the compile report and the manifest."""

    method: str
    per_channel: bool
    samples: int
    tensors: list[TensorRange]
    layers: list[LayerReport]
    evaluation: object | None = None     # ``evaluate.Evaluation`` with --eval

    def to_json(self) -> dict:
        def clean(d):
            return {k: (round(v, 6) if np.isfinite(v) else None) if isinstance(v, float) else v
                    for k, v in d.items()}

        return {"source": "calibrated", "method": self.method, "per_channel": self.per_channel,
                "samples": self.samples,
                "tensors": [clean(dataclasses.asdict(t)) for t in self.tensors],
                "layers": [clean(dataclasses.asdict(x)) for x in self.layers],
                **({"evaluation": self.evaluation.to_json()} if self.evaluation else {})}


def quantize_main(mod: tvm.IRModule, calibration: CalibrationSet, options: QuantizeOptions,
                  evaluation=None) -> tuple[tvm.IRModule, QuantizeSummary]:
    """Calibrate ``mod['main']`` and return it in QDQ form, with what was chosen.
    ``evaluation``: ``(Evaluator, budget or None)`` to measure accuracy (``evaluate.py``)."""
    func = mod["main"]
    chains = find_chains(func)
    summary = QuantizeSummary(options.method, options.per_channel, len(calibration), [], [])
    if not chains:
        return mod, summary
    points: list[relax.Var] = []
    seen = set()
    for chain in chains:
        for var in (chain.input_var, chain.end_var):
            if var is not None and key(var) not in seen:
                seen.add(key(var))
                points.append(var)
    logger.info("calibrating %d tensors of %d linear operators on %d samples (%s)",
                len(points), len(chains), len(calibration), options.method)
    value_of = {key(b.var): b.value for b in _bindings(func)}

    def choose(index: int, stats: Stats) -> TensorRange:
        var = points[index]
        # model inputs keep their full range (images, features: clipping them only loses)
        method = options.method if key(var) in value_of else "minmax"
        lo, hi = value_range(stats, method, options.percentile)
        scale, zero = int8_parameters(lo, hi)
        return TensorRange(var.name, lo, hi, scale, zero)

    report = measure(mod, points, calibration, options, choose)
    ranges = {key(var): r for var, r in zip(points, report)}
    weights, layers = {}, []
    for chain in chains:
        array = constant_array(chain.call.args[1])
        values, scales = weight_parameters(array, chain.weight_axis if options.per_channel
                                           else None)
        weights[key(chain.call)] = (values, scales, chain.weight_axis)
        shape = [1] * array.ndim
        if scales.size > 1:
            shape[chain.weight_axis] = -1
        restored = values.astype(np.float64) * scales.reshape(shape)
        layers.append(LayerReport(
            chain.call.op.name.rsplit(".", 1)[-1], list(array.shape), chain.input_var.name,
            chain.end_var.name if chain.end_var is not None else None,
            sqnr_db(float(np.sum(array.astype(np.float64) ** 2)),
                    float(np.sum((array - restored) ** 2)))))

    def rewrite(float_chains: frozenset[int]) -> tvm.IRModule:
        """``mod`` in QDQ form with the chains in ``float_chains`` left in float: their weights
        stay float, and a tensor only int8 chains read or make is quantized."""
        kept = [c for i, c in enumerate(chains) if i not in float_chains]
        needed = {key(v) for c in kept for v in (c.input_var, c.end_var) if v is not None}
        wrap, params = {}, {}
        for var in points:
            if key(var) not in needed:
                continue
            r = ranges[key(var)]
            value = value_of.get(key(var))
            if value is None:
                params[key(var)] = (r.scale, r.zero_point)
            else:
                wrap[key(value)] = (r.scale, r.zero_point)
        chosen = {key(c.call): weights[key(c.call)] for c in kept}
        out = mod.clone()
        out["main"] = _Inserter(mod, wrap, chosen, params).visit_expr(func)
        return out

    float_chains: frozenset[int] = frozenset()
    if evaluation is not None:
        float_chains = _evaluate(mod, rewrite, chains, layers, report, ranges, evaluation,
                                 summary)
    for index in float_chains:
        layers[index].precision = "float32"
    record("tensors calibrated", len(points))
    summary.tensors, summary.layers = report, layers
    return rewrite(float_chains), summary


MEASURED_RANKING = 12   # up to this many layers, each one's sensitivity is measured


def _evaluate(mod, rewrite, chains, layers, report, ranges, evaluation, summary):
    """Score the int8 form on the evaluation data; under a budget, choose the layers that go
    back to float (``evaluate.search_float_layers``). Returns their chain indices."""
    from edgec.quantize.evaluate import search_float_layers

    evaluator, budget = evaluation
    logger.info("evaluating float and int8 on %d samples", len(evaluator.data))
    evaluator.set_reference(mod)
    result = evaluator.score(rewrite(frozenset()), budget)
    chosen: list[int] = []
    if budget is not None and not result.within_budget:
        def sensitivity(index: int) -> float:
            chain = chains[index]
            out = ranges.get(key(chain.end_var)) if chain.end_var is not None else None
            values = [layers[index].weight_sqnr_db, out.sqnr_db if out else float("inf")]
            return min(v for v in values if np.isfinite(v)) if any(
                np.isfinite(v) for v in values) else float("inf")

        def trial(subset) -> object:
            return evaluator.score(rewrite(frozenset(subset)), budget)

        ranked = 0
        if len(chains) <= MEASURED_RANKING:
            # few layers: measure each one's effect (its loss with only it in float)
            losses = [trial([i]).loss for i in range(len(chains))]
            ranked = len(chains)
            order = sorted(range(len(chains)), key=lambda i: (losses[i], sensitivity(i)))
        else:
            order = sorted(range(len(chains)), key=sensitivity)
        everywhere = result.loss
        result, chosen, trials = search_float_layers(order, trial)
        result.trials = 1 + ranked + trials
        result.all_int8_loss = everywhere
        result.kept_float = [layers[i].output or layers[i].input for i in chosen]
    summary.evaluation = result
    return frozenset(chosen)


class Calibrate:
    """The pipeline step: holds the data, runs ``quantize_main`` once as a module pass."""

    def __init__(self, calibration: CalibrationSet, options: QuantizeOptions,
                 evaluation=None):
        self.calibration = calibration
        self.options = options
        self.evaluation = evaluation   # (Evaluator, budget) or None
        self.summary: QuantizeSummary | None = None

    def as_pass(self) -> tvm.transform.Pass:
        step = self

        @tvm.transform.module_pass(opt_level=0, name="Calibrate")
        def calibrate(mod, ctx):
            mod, step.summary = quantize_main(mod, step.calibration, step.options,
                                              step.evaluation)
            return mod

        return calibrate
