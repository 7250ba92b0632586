"""Calibrate: measure a float model's activation ranges on calibration data and rewrite it into
the QDQ form, so that ``QDQToInteger`` runs its convolutions and matmuls on int8.

Runs at the end of the graph phase, when batch norms are folded into the convolutions and the
activations are recognised, so the ranges are those of the tensors the int8 kernels produce:

1. **Points.** Every conv2d (NCHW) and matmul with a constant float32 weight is a *linear
   chain* ``op -> [+ bias] -> [relu | clip | hard_swish | hard_sigmoid]``; its input and the
   chain's end are the points whose ranges are measured, with (``int8_adds``) the operands of
   the residual adds that run on int8 (``_int8_tensors``).
2. **Measure.** A copy of ``main`` that also returns every point is lowered with edgec's own
   lower/finalize phases, built for the machine running the compile, and run on every sample
   (the model as edgec compiles it, not another engine's version of it). ``minmax`` needs one
   pass over the data; ``percentile`` and ``entropy`` a second one for histograms
   (``ranges.py``); the model's inputs always keep their min/max range.
3. **Rewrite.** Each point an int8 chain reads becomes ``dequantize(quantize(v))`` with its
   int8 parameters (a chain's end that only float operators read stays float; with
   ``int8_adds``, the operands of a residual add whose result an int8 chain reads are
   quantized, so the add runs on int8),
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
from edgec.passes.bindings import constant_array, key, make_constant, static_shape
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
    bias: relax.Call | None = None   # the ``add(op, constant)`` after it, if any


@dataclasses.dataclass
class TensorRange:
    """The calibrated parameters of one point, for the compile report."""

    name: str
    lo: float
    hi: float
    scale: float
    zero_point: int
    sqnr_db: float = float("nan")   # signal / int8 rounding+clipping error, on the samples
    means: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)
    quantized: bool = True          # False: a chain's end that stays float (measured only)


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


def _graph(func: relax.Function):
    """(bindings, key(var) -> bound value, key(var) -> the vars bound to calls reading it as an
    argument, keys of the vars ``main`` returns)."""
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
    return bindings, value_of, users, returned


def find_chains(func: relax.Function) -> list[_Chain]:
    bindings, value_of, users, returned = _graph(func)

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
        end, bias = b.var, None
        nxt = only_user(end)
        if nxt is not None and _op_name(value_of[key(nxt)]) == "relax.add" \
                and any(constant_array(a) is not None for a in value_of[key(nxt)].args):
            end, bias, nxt = nxt, value_of[key(nxt)], only_user(nxt)
        if nxt is not None and _op_name(value_of[key(nxt)]) in _ACTIVATIONS:
            end = nxt
        # a model output stays float: the integer kernel dequantizes into it directly
        chains.append(_Chain(value, axis, value.args[0], None if key(end) in returned else end,
                             bias))
    return chains


@dataclasses.dataclass
class _Add:
    """A residual add of two computed tensors of its own shape, and its end: itself, or the
    ReLU/clip that is its only user."""

    operands: list[relax.Var]
    end_var: relax.Var


def find_adds(func: relax.Function) -> list[_Add]:
    bindings, value_of, users, returned = _graph(func)
    adds = []
    for b in bindings:
        if _op_name(b.value) != "relax.add" or str(b.var.ty.dtype) != "float32":
            continue
        operands = list(b.value.args)
        shape = static_shape(b.var)
        if shape is None or not all(
                isinstance(a, relax.Var) and key(a) in value_of and key(a) not in returned
                and str(a.ty.dtype) == "float32" and static_shape(a) == shape
                for a in operands):
            continue
        end = b.var
        found = users.get(key(end), [])
        if len(found) == 1 and key(end) not in returned \
                and _op_name(value_of[key(found[0])]) in ("relax.nn.relu", "relax.clip"):
            end = found[0]
        adds.append(_Add(operands, end))
    return adds


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
            options: QuantizeOptions, choose, channel_axes=None) -> list[TensorRange]:
    """Ranges of ``points`` on the samples; ``choose(index, stats) -> TensorRange``; then the
    error of each range on the same samples (one more pass). The copy is built once.
    ``channel_axes[i]``: axes along which that pass also averages point i and its quantized
    value, into ``TensorRange.means[axis] = (mean of x, mean of quantized x)``."""
    channel_axes = channel_axes or [()] * len(points)
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
    sums: list[dict] = [{} for _ in points]

    def errors(arrays):
        for i, (r, a) in enumerate(zip(chosen, arrays)):
            a = a.astype(np.float64)
            q = _fake_quantized(a, r.scale, r.zero_point)
            signal[i] += float(np.sum(a * a))
            noise[i] += float(np.sum((a - q) ** 2))
            for axis in channel_axes[i]:
                others = tuple(d for d in range(a.ndim) if d != axis % a.ndim)
                x, y, n = sums[i].get(axis, (0.0, 0.0, 0))
                sums[i][axis] = (x + a.sum(others), y + q.sum(others),
                                 n + a.size // a.shape[axis])

    run(errors)
    for i, r in enumerate(chosen):
        r.sqnr_db = sqnr_db(signal[i], noise[i])
        r.means = {axis: (x / n, y / n) for axis, (x, y, n) in sums[i].items()}
    return chosen


def _shared_ends(func: relax.Function, ends: list[relax.Var], read: set[int]) -> dict[int, int]:
    """key(end) -> key(int8 tensor) for each layer end (a chain's or a residual add's) that is
    not in ``read`` but reaches a tensor of ``read`` (an int8 chain's or add's input) through
    operators that only select or move values (a max pool, a nearest resize, a concat, a
    reshape, a transpose), with no other user on the way. Quantized with
    that input's parameters, the end gives the same values there (selection and the rounding
    commute) and the values stay int8 through those operators (``QDQToInteger`` runs them on
    the integers; a concat once all its fields are int8 with those parameters)."""
    from edgec.passes.qdq_to_integer import data_inputs, is_transparent

    bindings = _bindings(func)
    users: dict[int, list] = {}
    for b in bindings:
        if isinstance(b.value, relax.Call):
            for arg in b.value.args:
                for var in (arg.fields if isinstance(arg, relax.Tuple) else [arg]):
                    if isinstance(var, relax.Var):
                        users.setdefault(key(var), []).append(b)
    shares = {}
    for end in ends:
        if key(end) in read:
            continue
        var = end
        while True:
            found = users.get(key(var), [])
            if len(found) != 1 or not is_transparent(found[0].value) \
                    or not any(x.same_as(var) for x in data_inputs(found[0].value)):
                break
            var = found[0].var
            if key(var) in read:
                shares[key(end)] = key(var)
                break
    return shares


def _int8_tensors(func: relax.Function, chains: list[_Chain], adds: list[_Add]):
    """(read, shares): the tensors quantized with their own parameters (every chain's input;
    the operands of each of ``adds`` whose end is quantized) and the ends quantized as the
    int8 tensor they only move into (``_shared_ends``). A residual add (``adds``: only with
    ``int8_adds``) whose result an int8 layer reads runs on int8 too (``QDQToInteger``): its operands, float chain ends
    otherwise, are quantized so the kernels before it write int8 and it reads int8, as
    TFLite's and ONNX Runtime's quantizers do."""
    read = {key(c.input_var) for c in chains}
    ends = [c.end_var for c in chains if c.end_var is not None] + [a.end_var for a in adds]
    while True:
        shares = _shared_ends(func, ends, read)
        grown = {key(v) for a in adds if key(a.end_var) in read or key(a.end_var) in shares
                 for v in a.operands} - read
        if not grown:
            return read, shares
        read |= grown


def _closure(inputs: set[int], adds: list[_Add], shares: dict[int, int]) -> set[int]:
    """The tensors quantized when the chains reading ``inputs`` are int8 (``_int8_tensors``
    for a subset of the chains)."""
    quantized = set(inputs)
    while True:
        size = len(quantized)
        quantized |= {end for end, target in shares.items() if target in quantized}
        quantized |= {key(v) for a in adds if key(a.end_var) in quantized for v in a.operands}
        if len(quantized) == size:
            return quantized


def bias_correction(chain: _Chain, weight: np.ndarray, restored: np.ndarray,
                    means: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """What the int8 chain adds on average to each output channel before its bias, compared
    with float: ``E[conv(q(x), W_q)] - E[conv(x, W)]`` from the channel means of its input in
    float and quantized (``means``), borders ignored. Subtracted from the bias ("bias
    correction", ``--bias-correction``), it removes the mean error of the weights' rounding
    and of the input's: an edge detector whose taps sum to almost 0 can gain a DC response
    from rounding alone. Measured: MNIST CNN top-1 unchanged (per channel and per tensor);
    PP-OCRv4's recognizer read 73% of lines as float with it and 80% without, since there
    the error that matters changes from image to image (the paper's grey), which no constant
    removes. Hence off by default."""
    x, xq = means
    if chain.weight_axis == 1:                      # matmul [K, N]
        return restored.T.astype(np.float64) @ xq - weight.T.astype(np.float64) @ x
    out_channels, group_inputs = weight.shape[:2]
    groups = x.size // group_inputs
    per_group = out_channels // groups
    index = (np.arange(out_channels)[:, None] // per_group) * group_inputs \
        + np.arange(group_inputs)[None, :]
    return (restored.astype(np.float64).sum((2, 3)) * xq[index]).sum(1) \
        - (weight.astype(np.float64).sum((2, 3)) * x[index]).sum(1)


@mutator
class _Inserter(PyExprMutator):
    """Puts the QDQ form in: ``wrap`` and ``params`` give a tensor's (scale, zero point,
    switch index), ``weights`` a linear call's (int8 values, scales, axis, switch index).

    With ``switch`` (a float32 vector parameter) each one is switchable when the module runs:
    ``x + switch[i] * (dequantize(quantize(x)) - x)`` is the quantized value at 1 and the float
    one at 0, so one build scores any choice of layers kept in float (``_evaluate``)."""

    def __init__(self, mod, wrap: dict, weights: dict, params: dict,
                 corrections: dict | None = None, switch: relax.Var | None = None):
        super().__init__(mod)
        self.wrap = wrap
        self.weights = weights
        self.params = params
        # key(bias add, or linear call without one) -> (what to add to the bias, switch index)
        self.corrections = corrections or {}
        self.switch = switch

    def _corrected(self, call, original, shift: np.ndarray, index: int):
        """``call`` (the bias add, or the linear call with no bias) plus ``shift``."""
        added = self.builder_.normalize(self._switched(
            relax.const(np.zeros(shift.shape, np.float32)), make_constant(shift, "float32"),
            index))
        if not (isinstance(original.op, tvm.ir.Op) and original.op.name == "relax.add"):
            return relax.op.add(self.builder_.normalize(call), added)
        at = next(i for i, a in enumerate(call.args) if constant_array(a) is not None)
        args = list(call.args)
        args[at] = make_constant(constant_array(args[at]) + shift, "float32") \
            if self.switch is None else self.builder_.normalize(relax.op.add(args[at], added))
        return relax.Call(call.op, args, call.attrs)

    def _switched(self, exact, quantized, index: int):
        if self.switch is None:
            return quantized
        on = self.builder_.normalize(relax.op.take(
            self.switch, relax.const(np.array([index], np.int64), "int64")))
        error = self.builder_.normalize(relax.op.subtract(quantized, exact))
        return relax.op.add(exact, self.builder_.normalize(relax.op.multiply(on, error)))

    def _fake_quantize(self, expr, scale: float, zero: int, index: int):
        s = relax.const(np.float32(scale), "float32")
        z = relax.const(np.int8(zero), "int8")
        q = self.builder_.normalize(relax.op.quantize(expr, s, z, axis=-1, out_dtype="int8"))
        dq = relax.op.dequantize(q, s, z, axis=-1, out_dtype="float32")
        return self._switched(expr, self.builder_.normalize(dq), index)

    def visit_call_(self, call):
        original = call
        call = super().visit_call_(call)
        weight = self.weights.get(key(original))
        if weight is not None:
            values, scales, axis, index = weight
            x = call.args[0]
            param = self.params.get(key(original.args[0]))
            if param is not None:
                x = self.builder_.normalize(self._fake_quantize(x, *param))
            zeros = np.zeros(scales.shape, np.int8)
            w = self.builder_.normalize(relax.op.dequantize(
                make_constant(values, "int8"), make_constant(scales, "float32"),
                make_constant(zeros, "int8"), axis=axis, out_dtype="float32"))
            w = self._switched(call.args[1], w, index)
            call = relax.Call(call.op, [x, self.builder_.normalize(w), *call.args[2:]],
                              call.attrs)
        correction = self.corrections.get(key(original))
        if correction is not None:
            call = self._corrected(call, original, *correction)
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
    int8_adds: bool = False

    def to_json(self) -> dict:
        def clean(d):
            return {k: (round(v, 6) if np.isfinite(v) else None) if isinstance(v, float) else v
                    for k, v in d.items() if k != "means"}

        return {"source": "calibrated", "method": self.method, "per_channel": self.per_channel,
                "samples": self.samples, "int8_adds": self.int8_adds,
                "tensors": [clean(dataclasses.asdict(t)) for t in self.tensors],
                "layers": [clean(dataclasses.asdict(x)) for x in self.layers],
                **({"evaluation": self.evaluation.to_json()} if self.evaluation else {})}


def quantize_main(mod: tvm.IRModule, calibration: CalibrationSet, options: QuantizeOptions,
                  evaluation=None) -> tuple[tvm.IRModule, QuantizeSummary]:
    """Calibrate ``mod['main']`` and return it in QDQ form, with what was chosen.
    ``evaluation``: ``(Evaluator, budget or None)`` to measure accuracy (``evaluate.py``)."""
    func = mod["main"]
    chains = find_chains(func)
    summary = QuantizeSummary(options.method, options.per_channel, len(calibration), [], [],
                              int8_adds=options.int8_adds)
    if not chains:
        return mod, summary
    adds = find_adds(func) if options.int8_adds else []
    read, shares = _int8_tensors(func, chains, adds)
    points: list[relax.Var] = []
    seen = set()
    extra = [v for a in adds for v in (*a.operands, a.end_var)
             if key(v) in read or key(v) in shares]
    for var in [v for c in chains for v in (c.input_var, c.end_var)] + extra:
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

    def channel_axis(chain: _Chain) -> int:
        return 1 if chain.weight_axis == 0 else -1      # conv NCHW / matmul [..., K]

    axes = {}
    for chain in chains:
        axes.setdefault(key(chain.input_var), set()).add(channel_axis(chain))
    report = measure(mod, points, calibration, options, choose,
                     [sorted(axes.get(key(v), ())) if options.bias_correction else ()
                      for v in points])
    ranges = {key(var): r for var, r in zip(points, report)}
    weights, layers, corrections = {}, [], {}
    for chain in chains:
        array = constant_array(chain.call.args[1])
        values, scales = weight_parameters(array, chain.weight_axis if options.per_channel
                                           else None)
        weights[key(chain.call)] = (values, scales, chain.weight_axis)
        shape = [1] * array.ndim
        if scales.size > 1:
            shape[chain.weight_axis] = -1
        restored = values.astype(np.float64) * scales.reshape(shape)
        means = ranges[key(chain.input_var)].means.get(channel_axis(chain))
        if means is not None:
            shift = -bias_correction(chain, array, restored, means)
            corrections[key(chain.call)] = shift.reshape(
                (1, -1, 1, 1) if chain.weight_axis == 0 else (-1,)).astype(np.float32)
        layers.append(LayerReport(
            chain.call.op.name.rsplit(".", 1)[-1], list(array.shape), chain.input_var.name,
            chain.end_var.name if chain.end_var is not None else None,
            sqnr_db(float(np.sum(array.astype(np.float64) ** 2)),
                    float(np.sum((array - restored) ** 2)))))

    def rewrite(float_chains: frozenset[int] | None) -> tvm.IRModule:
        """``mod`` in QDQ form with the chains in ``float_chains`` left in float: their weights
        stay float, and only a tensor that an int8 layer reads is quantized (``_closure``). A
        chain's end that only float operators read stays float (the kernel dequantizes into
        it): quantizing it too would round the values twice on their way to the next int8
        input, once at the end and again after the float operators in between (an affine).
        On PP-OCRv4's recognizer, not quantizing those ends raised the output SQNR from 9.9 to
        14.3 dB. With ``int8_adds``, a residual add whose result an int8 layer reads runs on
        int8 and its operands are quantized.

        ``float_chains=None``: every chain and input switchable at run time instead, the
        module taking one more parameter, ``switches(...)``'s vector."""
        switchable = float_chains is None
        kept = chains if switchable else [c for i, c in enumerate(chains)
                                          if i not in float_chains]
        needed = _closure({key(c.input_var) for c in kept}, adds, shares) if not switchable \
            else read | set(shares)
        wrap, params = {}, {}
        for index, var in enumerate(points):
            if key(var) not in needed:
                continue
            r = ranges[key(var)]
            value = value_of.get(key(var))
            if value is None:
                params[key(var)] = (r.scale, r.zero_point, index)
            else:
                wrap[key(value)] = (r.scale, r.zero_point, index)
        chosen = {key(c.call): (*weights[key(c.call)], len(points) + chain_index[key(c.call)])
                  for c in kept}
        switch = relax.Var("edgec_quantize_switch", relax.TensorType(
            (len(points) + len(chains),), "float32")) if switchable else None
        shifts = {key(c.bias if c.bias is not None else c.call):
                  (corrections[key(c.call)], len(points) + chain_index[key(c.call)])
                  for c in kept if key(c.call) in corrections}
        body = _Inserter(mod, wrap, chosen, params, shifts, switch).visit_expr(func)
        if switch is not None:
            body = relax.Function([*func.params, switch], body.body, body.ret_ty,
                                  body.is_pure, body.attrs)
        out = mod.clone()
        out["main"] = body
        return relax.transform.Normalize()(out) if switchable else out

    chain_index = {key(c.call): i for i, c in enumerate(chains)}

    def switches(float_chains) -> np.ndarray:
        """The switch vector of ``rewrite(None)`` that makes it ``rewrite(float_chains)``."""
        on = np.zeros(len(points) + len(chains), np.float32)
        kept = [i for i in range(len(chains)) if i not in float_chains]
        quantized = _closure({key(chains[i].input_var) for i in kept}, adds, shares)
        for i, var in enumerate(points):
            on[i] = float(key(var) in quantized)
        for i in kept:
            on[len(points) + i] = 1.0
        return on

    for var, r in zip(points, report):
        source = shares.get(key(var))
        if source is not None:   # quantized as the int8 input it only moves or pools into
            target = ranges[source]
            r.lo, r.hi, r.scale, r.zero_point = target.lo, target.hi, target.scale, \
                target.zero_point
            r.sqnr_db = target.sqnr_db
        r.quantized = key(var) in read or source is not None
    float_chains: frozenset[int] = frozenset()
    if evaluation is not None:
        float_chains = _evaluate(mod, rewrite, switches, chains, layers, evaluation, summary)
    for index in float_chains:
        layers[index].precision = "float32"
    record("tensors calibrated", len(points))
    summary.tensors, summary.layers = report, layers
    return rewrite(float_chains), summary


def _evaluate(mod, rewrite, switches, chains, layers, evaluation, summary):
    """Score the int8 form on the evaluation data; under a budget, choose the layers that go
    back to float (``evaluate.search_float_layers``). Returns their chain indices.

    Every trial runs one build: the switchable form (``rewrite(None)``), given the switch
    vector of the layers it keeps in float. Each layer's effect is measured (the loss with
    only it in float) and ranks it; a layer's effect depends on the rest being int8, which
    no per-layer statistic shows (the recognizer's most harmful layers by their own output
    SQNR were not the ones whose return to float helped)."""
    from edgec.quantize.evaluate import search_float_layers

    evaluator, budget = evaluation
    logger.info("evaluating float and int8 on %d samples", len(evaluator.data))
    evaluator.set_reference(mod)
    run = evaluator.runner(rewrite(None))

    def trial(subset) -> object:
        return evaluator.score_outputs(run(switches(frozenset(subset))), budget)

    result = trial(())
    chosen: list[int] = []
    if budget is not None and not result.within_budget:
        alone, last = [], time.perf_counter()
        for i in range(len(chains)):
            alone.append(trial([i]))
            if time.perf_counter() - last > 5:
                last = time.perf_counter()
                logger.info("accuracy budget: measured %d/%d layers", i + 1, len(chains))
        # a coarse loss (a few lines of text, a top-1 over few samples) ties often: the
        # output's SQNR with the layer in float breaks the ties
        order = sorted(range(len(chains)), key=lambda i: (alone[i].loss, -alone[i].sqnr_db, i))
        everywhere = result.loss
        result, chosen, trials = search_float_layers(order, trial)
        result.trials = 1 + len(chains) + trials
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
