"""The pass pipeline: one ordered list, built from the board's data and an optimization level.

Phases, in order (a progress marker is logged between them):

1. ``graph``    graph rewrites on Relax operators. TVM's inference decomposition (batch norm
                into arithmetic), quantized convolutions and matmuls onto integers, float16 accumulation in float32, and constant folding;
                then edgec's: activation recognition,
                affine folding into convolutions (output side, input side, then output side
                again to merge the biases the input side made), clean-up; with ``--quantize
                int8``, calibration into QDQ form and the integer rewrite again; with
                ``--quantize int8-dynamic|int8-weights|int4-weights``, the matmuls' weights
                quantized (activations quantized per call, or weights dequantized in the
                kernel).
2. ``layout``   at -O3, for boards that prefer another data layout (ARM CPUs: NHWC):
                ConvertLayout, weight transposes folded, transposes sunk until they cancel.
3. ``lower``    int8 convolutions onto the board's dot-product instruction (VNNI, sdot) with
                weights packed for it, int8 depthwise ones onto exact float32 arithmetic; convolutions on narrow feature maps get packed weights
                (vectors along output channels); operators legalized to TIR kernels (ReduceMax/Min by edgec);
                TVM's FuseOps/FuseTIR fuse each conv or matmul with its bias, activation and
                residual add into one kernel (the board may cap the fused group depth);
                tuning records, then default schedules (a failing rule never fails it).
4. ``finalize`` Relax VM lowering: static memory planning, explicit allocation, shape lowering.
                For the C back end (microcontrollers) only the first steps (dataflow
                reshapes made views, dataflow blocks flattened): it plans memory itself
                (``edgec/backends/c``) from the ``call_tir`` bindings left.

Levels: ``-O0`` only what TVM needs to produce code (no folding, no fusion); ``-O1`` adds
TVM's folding and fusion; ``-O2`` edgec's graph rewrites; ``-O3`` layout transforms. Every
pass has a name; one that is not ``required`` can be turned off by name (``--disable-pass``),
which turns off every occurrence of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tvm
from tvm import relax

from edgec.errors import OptionError

PHASES = ("graph", "layout", "lower", "finalize")
LAYOUTS = ("NCHW", "NHWC")
BACKENDS = ("vm", "c")  # what consumes the module: TVM's Relax VM, or edgec's C back end


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    opt_level: int = 3
    disabled_passes: frozenset[str] = frozenset()
    layout: str = "NCHW"        # conv2d data layout at -O3
    fuse_max_depth: int = 0     # 0: TVM's default fused group depth
    tuning_records: str = ""    # a MetaSchedule database directory to apply, or ""
    # post-training int8: an ``edgec.quantize.calibrate.Calibrate`` step (it holds the data)
    calibrate: object | None = dataclasses.field(default=None, compare=False)
    # dynamic / weight-only quantization of matmuls: an ``edgec.quantize.options.
    # MatmulQuantization`` (its ``pass_name`` and ``as_pass``)
    matmul_quantization: object | None = None
    backend: str = "vm"


@dataclasses.dataclass(frozen=True)
class PassEntry:
    """One pass in the pipeline; ``make`` builds it fresh for each run."""

    name: str
    phase: str
    make: Callable[[], tvm.transform.Pass]
    min_opt_level: int = 0
    required: bool = False


def _entry(name, make, phase, min_opt_level=0, required=False) -> PassEntry:
    return PassEntry(name=name, phase=phase, make=make, min_opt_level=min_opt_level,
                     required=required)


def _edgec_graph_passes() -> list[PassEntry]:
    from edgec.passes.fold_affine import FoldAffineIntoConv
    from edgec.passes.fold_input_affine import FoldInputAffine
    from edgec.passes.recognize_activations import RecognizeActivations
    from edgec.passes.simplify_ops import SimplifyOps
    from edgec.passes.split_transposed_conv import SplitTransposedConv

    t = relax.transform
    return [
        _entry("RecognizeActivations", RecognizeActivations, "graph", 2),
        _entry("FoldAffineIntoConv", FoldAffineIntoConv, "graph", 2),
        _entry("FoldInputAffine", FoldInputAffine, "graph", 2),
        _entry("FoldAffineIntoConv", FoldAffineIntoConv, "graph", 2),
        _entry("SplitTransposedConv", SplitTransposedConv, "graph", 2),
        _entry("SimplifyOps", SimplifyOps, "graph", 2),
        _entry("EliminateCommonSubexpr", t.EliminateCommonSubexpr, "graph", 2),
    ]


def _convert_layout(desired: dict, needed=None) -> tvm.transform.Pass:
    """TVM's ConvertLayout, run only on a module with an operator ``desired`` names (and, with
    ``needed``, one for which ``needed(call)`` holds): the layout is the convolutions', and TVM
    0.27's pass crashes the process (an integer division by zero) on a quantize with a runtime
    scale over a 1-d tensor, as in DynamicQuantizeLinear written out in plain operators, with no
    convolution in sight."""
    convert = relax.transform.ConvertLayout(desired)

    @tvm.transform.module_pass(opt_level=0, name="ConvertLayout")
    def run(mod, ctx):
        names = set(desired)
        for _, func in mod.functions_items():
            if isinstance(func, relax.Function) and any(
                    isinstance(v, relax.Call) and isinstance(v.op, tvm.ir.Op)
                    and v.op.name in names and (needed is None or needed(v))
                    for v in relax.analysis.get_var2val(func).values()):
                return convert(mod)
        return mod

    return run


def _transposed_conv_nchw() -> tvm.transform.Pass:
    return _convert_layout({"relax.nn.conv2d_transpose": ["NCHW", "IOHW"]},
                           lambda call: str(call.attrs.data_layout) != "NCHW"
                           or str(call.attrs.kernel_layout) != "IOHW")


def _layout_passes(layout: str) -> list[PassEntry]:
    from edgec.passes.simplify_ops import SimplifyOps
    from edgec.passes.sink_transposes import SinkTransposes

    t = relax.transform
    desired = {"relax.nn.conv2d": [layout, "OHWI" if layout == "NHWC" else "OIHW"],
               # TVM legalizes conv2d_transpose in NCHW only
               "relax.nn.conv2d_transpose": ["NCHW", "IOHW"]}
    return [
        _entry("ConvertLayout", lambda: _convert_layout(desired), "layout", 3),
        _entry("FoldConstant", t.FoldConstant, "layout", 3),
        _entry("EliminateCommonSubexpr", t.EliminateCommonSubexpr, "layout", 3),
        _entry("SinkTransposes", SinkTransposes, "layout", 3),
        _entry("SimplifyOps", SimplifyOps, "layout", 3),
        _entry("DeadCodeElimination", t.DeadCodeElimination, "layout", 3),
    ]


def _fuse_ops(max_depth: int) -> tvm.transform.Pass:
    if not max_depth:
        return relax.transform.FuseOps()

    @tvm.transform.module_pass(opt_level=0, name="FuseOps")
    def fuse(mod, ctx):
        config = dict(ctx.config) if ctx.config else {}
        config["relax.FuseOps.max_depth"] = max_depth
        with tvm.transform.PassContext(opt_level=ctx.opt_level, config=config):
            return relax.transform.FuseOps()(mod)

    return fuse


def _apply_records(directory: str) -> tvm.transform.Pass:
    from edgec.passes.apply_tuning_records import ApplyTuningRecords

    return ApplyTuningRecords(directory)


def _dot_product_conv() -> tvm.transform.Pass:
    from edgec.passes.dot_product_conv import DotProductConv

    return DotProductConv()


def _float_exact_depthwise() -> tvm.transform.Pass:
    from edgec.passes.float_exact_depthwise import FloatExactDepthwise

    return FloatExactDepthwise()


def _pack_conv_weights() -> tvm.transform.Pass:
    from edgec.passes.pack_conv_weights import PackConvWeights

    return PackConvWeights()


def _narrow_boundaries() -> tvm.transform.Pass:
    from edgec.passes.narrow_kernel_boundaries import NarrowKernelBoundaries

    return NarrowKernelBoundaries()


def _fold_prologues() -> tvm.transform.Pass:
    from edgec.passes.fold_prologues import FoldPrologues

    return FoldPrologues()


def _qdq_to_integer() -> tvm.transform.Pass:
    from edgec.passes.qdq_to_integer import QDQToInteger

    return QDQToInteger()


def _accumulate_in_float32() -> tvm.transform.Pass:
    from edgec.passes.accumulate_in_float32 import AccumulateInFloat32

    return AccumulateInFloat32()


def _legalize_ops() -> tvm.transform.Pass:
    from edgec.passes.legalize_quantize import QUANTIZE_LEGALIZATIONS
    from edgec.passes.legalize_reductions import REDUCTION_LEGALIZATIONS

    return relax.transform.LegalizeOps(
        customize_legalize_map={**REDUCTION_LEGALIZATIONS, **QUANTIZE_LEGALIZATIONS})


def _default_schedules() -> tvm.transform.Pass:
    from edgec.passes.default_schedules import DefaultSchedules

    return DefaultSchedules()


def _all_passes(options: PipelineOptions) -> list[PassEntry]:
    t = relax.transform
    entries = [
        # -- graph ---------------------------------------------------------------------------
        _entry("DecomposeOpsForInference", t.DecomposeOpsForInference, "graph", required=True),
        _entry("QDQToInteger", _qdq_to_integer, "graph", 1),
        _entry("AccumulateInFloat32", _accumulate_in_float32, "graph"),
        _entry("CanonicalizeBindings", t.CanonicalizeBindings, "graph", 1),
        _entry("FoldConstant", t.FoldConstant, "graph", 1),
        *_edgec_graph_passes(),
        _entry("DeadCodeElimination", t.DeadCodeElimination, "graph", 1),
    ]
    if options.calibrate is not None:
        entries += [
            _entry("Calibrate", options.calibrate.as_pass, "graph", required=True),
            _entry("QDQToInteger", _qdq_to_integer, "graph", 1),
            _entry("DeadCodeElimination", t.DeadCodeElimination, "graph", 1),
        ]
    if options.matmul_quantization is not None:
        quantization = options.matmul_quantization
        entries += [
            _entry(quantization.pass_name, quantization.as_pass, "graph", required=True),
            _entry("DeadCodeElimination", t.DeadCodeElimination, "graph", 1),
        ]
    # -- layout ------------------------------------------------------------------------------
    if options.layout != "NCHW":
        entries += _layout_passes(options.layout)
    entries += [
        # TVM lowers conv2d_transpose in NCHW only; a TFLite model's are NHWC (every board)
        _entry("TransposedConvNCHW", _transposed_conv_nchw, "layout", required=True),
        # -- lower ---------------------------------------------------------------------------
        _entry("DispatchSampling", relax.backend.DispatchSampling, "lower", required=True),
        _entry("DispatchSortScan", relax.backend.DispatchSortScan, "lower", required=True),
        _entry("DotProductConv", _dot_product_conv, "lower", 2),
        _entry("FloatExactDepthwise", _float_exact_depthwise, "lower", 2),
        _entry("PackConvWeights", _pack_conv_weights, "lower", 2),
        *([_entry("FoldPrologues", _fold_prologues, "lower", 2)] if options.backend == "c"
          else []),
        _entry("LegalizeOps", _legalize_ops, "lower", required=True),
        _entry("AnnotateTIROpPattern", t.AnnotateTIROpPattern, "lower", 1),
        _entry("FoldConstantTIR", t.FoldConstant, "lower", 1),
        _entry("FuseOps", lambda: _fuse_ops(options.fuse_max_depth), "lower", 1),
        *([_entry("NarrowKernelBoundaries", _narrow_boundaries, "lower", 2)]
          if options.backend == "c" else []),
        _entry("FuseTIR", t.FuseTIR, "lower", 1),
        *([_entry("ApplyTuningRecords", lambda: _apply_records(options.tuning_records),
                  "lower", 2)] if options.tuning_records else []),
        _entry("DefaultSchedules", _default_schedules, "lower", 2),
        # -- finalize (Relax VM lowering) ----------------------------------------------------
        _entry("RewriteDataflowReshape", t.RewriteDataflowReshape, "finalize", required=True),
        _entry("ToNonDataflow", t.ToNonDataflow, "finalize", required=True),
        _entry("RemovePurityChecking", t.RemovePurityChecking, "finalize", required=True),
    ]
    if options.backend == "c":
        return entries
    entries += [
        _entry("CallTIRRewrite", t.CallTIRRewrite, "finalize", required=True),
        _entry("StaticPlanBlockMemory", t.StaticPlanBlockMemory, "finalize", required=True),
        _entry("LowerAllocTensor", t.LowerAllocTensor, "finalize", required=True),
        _entry("KillAfterLastUse", t.KillAfterLastUse, "finalize", required=True),
        _entry("LowerRuntimeBuiltin", t.LowerRuntimeBuiltin, "finalize", required=True),
        _entry("ComputePrimValue", t.ComputePrimValue, "finalize", required=True),
        _entry("VMShapeLower", t.VMShapeLower, "finalize", required=True),
        _entry("AttachGlobalSymbol", t.AttachGlobalSymbol, "finalize", required=True),
    ]
    return entries


def _every_pass(options: PipelineOptions) -> list[PassEntry]:
    """The passes of every variant of ``options`` (layouts, tuning, both back ends)."""
    full = dataclasses.replace(options, layout="NHWC", tuning_records="x")
    entries = _all_passes(dataclasses.replace(full, backend="vm"))
    seen = {e.name for e in entries}
    return entries + [e for e in _all_passes(dataclasses.replace(full, backend="c"))
                      if e.name not in seen]


def pass_names(options: PipelineOptions | None = None) -> list[str]:
    """Every pass name the pipeline can contain (in order, once each)."""
    options = options or PipelineOptions(layout="NHWC", tuning_records="x")
    names: list[str] = []
    for entry in _every_pass(options):
        if entry.name not in names:
            names.append(entry.name)
    return names


def build_pipeline(options: PipelineOptions) -> list[PassEntry]:
    """The ordered passes for ``options``; unknown or required pass names are errors."""
    if not 0 <= options.opt_level <= 3:
        raise OptionError(f"optimization level -O{options.opt_level} does not exist; use -O0..-O3")
    if options.layout not in LAYOUTS:
        raise OptionError(f"layout '{options.layout}' is not one of {', '.join(LAYOUTS)}")
    if options.backend not in BACKENDS:
        raise OptionError(f"back end '{options.backend}' is not one of {', '.join(BACKENDS)}")
    entries = _all_passes(options)
    every = _every_pass(options)
    by_name = {e.name: e for e in every}
    for name in sorted(options.disabled_passes):
        if name not in by_name:
            optional = sorted({e.name for e in every if not e.required})
            raise OptionError(f"--disable-pass {name}: no such pass; passes are "
                              f"{', '.join(optional)}")
        if by_name[name].required:
            raise OptionError(f"--disable-pass {name}: this pass is required to produce code "
                              "and cannot be turned off")
    return [e for e in entries
            if e.min_opt_level <= options.opt_level and e.name not in options.disabled_passes]
