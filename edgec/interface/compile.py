"""``edgec.compile``: the typed API behind ``edgec compile``.

model -> import (frontend) -> pass pipeline (passes/pipeline.py) -> code generation and link
(build/codegen.py) -> an :class:`~edgec.artifact.Artifact` with its manifest.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import onnx
import tvm

import edgec
from edgec.artifact.artifact import Artifact
from edgec.artifact.manifest import Manifest
from edgec.artifact.package import file_entry
from edgec.build.codegen import LIBRARY_NAME, build_library, find_compiler
from edgec.build.instructions import check_dot_instructions
from edgec.build.pass_runner import run_pipeline
from edgec.build.snapshot import Observer, baseline
from edgec.errors import OptionError
from edgec.frontend import ModelSource, import_model
from edgec.frontend.shapes import shape_map
from edgec.interface.compile_report import CompileReport
from edgec.passes.pipeline import PipelineOptions, build_pipeline
from edgec.passes.rewrite_log import collecting
from edgec.targets import Board, resolve_target

logger = logging.getLogger(__name__)

InputShapes = Mapping[str, Sequence[int]] | Iterable[str] | None


def compile(  # noqa: A001 - the public name users expect
    model: ModelSource,
    target: str | Board = "host",
    *,
    input_shapes: InputShapes = None,
    freeze_inputs=None,
    opt_level: int | None = None,
    disabled_passes: Iterable[str] = (),
    dump_ir: str | Path | None = None,
    tuning_logs: str | Path | bool | None = True,
    quantize: str | None = None,
    calibration=None,
    calibration_method: str = "minmax",
    per_channel: bool = True,
    bias_correction: bool = False,
    int8_adds: bool = False,
    evaluation=None,
    labels=None,
    accuracy_budget: str | float | None = None,
    accuracy_metric=None,
    group_size: int = 32,
    c_name: str | None = None,
) -> Artifact:
    """Compile an ONNX model (path, bytes or ModelProto) or a TFLite model (``.tflite`` path or
    bytes) for ``target``.

    ``input_shapes`` fixes symbolic input dimensions: ``{"x": (1, 3, 224, 224)}`` or
    ``["x:1,3,224,224"]``. ``freeze_inputs`` makes inputs that are constants in practice (a
    shape, axes, ``k``) constants: ``{"k": 3, "shape": [1, -1]}`` or ``["k=3", "mask=m.npy"]``.
    ``opt_level`` defaults to the board's. ``dump_ir`` writes the IR
    after every pass into that directory. ``tuning_logs``: True looks for the board's records
    (``tuning_logs/<board>`` here, then the ones shipped with edgec), a path uses that database,
    False uses none.

    ``quantize="int8"`` quantizes a float model after training: ``calibration`` (an ``.npz``
    file, a folder of them, or an iterable of ``{input: array}`` samples) gives the activation
    ranges, by ``calibration_method`` (minmax, percentile, entropy); weights are per output
    channel unless ``per_channel`` is False; ``bias_correction`` subtracts from each layer's
    bias the mean error int8 adds to its output channels on the calibration data;
    ``int8_adds`` runs the residual adds that feed int8 layers on int8 as well (their operands
    quantized: every tensor between int8 layers int8, at one more rounding). An already
    quantized (QDQ / QOperator) model
    needs none of this: its int8 operators run on integer kernels as they are.
    ``quantize="int8-dynamic"`` (int8 matmuls, activations quantized on every call),
    ``"int8-weights"`` or ``"int4-weights"`` (weights stored in 8 / 4 bits, ``group_size``
    rows per int4 scale, dequantized in the kernel) quantize the matrix multiplications with
    constant weights and need no calibration data.
    ``evaluation`` (same formats) measures int8 against float: top-1 with ``labels`` (one class
    index per sample, array or ``.npy``), else the output's error; ``accuracy_budget``
    (``"1%"``) keeps the most sensitive layers in float until the loss is within it.
    ``accuracy_metric(float_outputs, int8_outputs) -> loss`` replaces both measures with the
    task's own (arrays: the first output of every evaluation sample, stacked; the loss a
    fraction, 0 meaning as good as float, compared with the budget).

    ``c_name`` (microcontroller boards) names the C symbols: ``edgec_<c_name>_run``,
    ``EDGEC_<C_NAME>_ARENA_BYTES`` (default: the model's name), so that two models can share
    one firmware.
    """
    start = time.perf_counter()
    resolved = resolve_target(target)
    board = resolved.board
    if c_name is not None:
        _check_c_name(c_name, board)
    find_compiler(board.toolchain, board.name)  # fail before the slow part
    shapes = shape_map(input_shapes)
    import edgec.passes.ops  # noqa: F401  (registers edgec's operators before import)

    matmul_quantization = _matmul_quantization(quantize, calibration, group_size, per_channel)
    quantize_options = None if matmul_quantization is not None else \
        _quantize_options(quantize, calibration, calibration_method, per_channel,
                          bias_correction, int8_adds)
    budget = _check_evaluation(quantize_options, evaluation, labels, accuracy_budget,
                               accuracy_metric)
    from edgec.frontend.freeze import freeze_map

    imported = import_model(model, shapes, freeze_map(freeze_inputs))
    calibrate = None
    if quantize_options is not None:
        from edgec.quantize.calibrate import Calibrate
        from edgec.quantize.data import load_calibration

        inputs = imported.signature.inputs
        samples = load_calibration(calibration, inputs)
        evaluator = None
        if evaluation is not None:
            from edgec.quantize.evaluate import Evaluator, check_label_count, load_labels

            data = load_calibration(evaluation, inputs, min_samples=1, kind="evaluation")
            classes = None
            if labels is not None:
                classes = load_labels(labels)
                check_label_count(classes, len(data), imported.signature.outputs[0].shape)
            evaluator = (Evaluator(data, classes, accuracy_metric), budget)
        calibrate = Calibrate(samples, quantize_options, evaluator)
    t_import = time.perf_counter()

    level = board.pipeline.opt_level if opt_level is None else int(opt_level)
    records = _tuning_records(tuning_logs, board.name, resolved.target.get("mcpu"))
    options = PipelineOptions(
        opt_level=level,
        disabled_passes=frozenset(set(board.pipeline.disabled_passes) | set(disabled_passes)),
        layout=_layout(board, resolved, imported, calibrate),
        fuse_max_depth=board.pipeline.fuse_max_depth,
        tuning_records=str(records) if records else "", calibrate=calibrate,
        matmul_quantization=matmul_quantization, backend=BACKENDS[board.kind])
    entries = build_pipeline(options)
    tvm_target = resolved.tvm_target()
    before = baseline(imported.mod, tvm_target)
    observer = Observer()
    with collecting() as rewrites:
        mod, timings = run_pipeline(imported.mod, entries, tvm_target,
                                    dump_dir=Path(dump_ir) if dump_ir else None,
                                    on_pass=observer)
    after = observer.snapshot(mod)
    t_pipeline = time.perf_counter()

    if options.backend == "c":
        c_build = _build_c(mod, tvm_target, board, imported, c_name)
        files, entry, instructions = c_build.files(), c_build.entry(), None
    else:
        library = build_library(mod, tvm_target, board.toolchain, board.name)
        instructions = check_dot_instructions(library, board.toolchain, rewrites, board.name)
        files, entry, c_build = {LIBRARY_NAME: library}, {"library": LIBRARY_NAME,
                                                           "function": "main"}, None
    t_codegen = time.perf_counter()

    report = CompileReport(
        model=imported.name, board=board.name, target=resolved.target,
        onnx_nodes=sum(imported.source_ops.values()),
        onnx_nodes_cleaned=imported.cleanup.nodes_after, opset=imported.describe_format(), before=before, after=after,
        rewrites=dict(sorted(rewrites.items())), pass_timings=timings,
        seconds={"import": t_import - start, "pipeline": t_pipeline - t_import,
                 "codegen": t_codegen - t_pipeline, "total": t_codegen - start},
        library_bytes=sum(len(f) for f in files.values()))
    report.quantization = _quantization_entry(calibrate, rewrites, instructions,
                                              matmul_quantization)
    report.mcu = c_build.stats()["mcu"] if c_build else None
    manifest = Manifest(
        model=imported.manifest_entry(),
        board={"name": board.name, "arch": board.arch, "kind": board.kind,
               "description": board.description},
        target=resolved.target,
        cpu_features=list(resolved.cpu_features),
        versions=_versions(),
        signature=imported.signature,
        entry=entry,
        pipeline={"opt_level": level, "passes": [e.name for e in entries],
                  "disabled": sorted(options.disabled_passes),
                  "tuning": _tuning_entry(records, rewrites.get("tuned kernel", 0)),
                  "quantization": report.quantization},
        stats=report.stats_json(),
        files={name: file_entry(data) for name, data in files.items()},
    )
    logger.info("compiled %s for %s in %.1f s", imported.name, board.name, report.seconds["total"])
    return Artifact(manifest, files, report=report)


# What consumes the pipeline's module, by board kind: TVM's Relax VM (a shared library), or
# edgec's C back end (model.c / model.h with one static arena).
BACKENDS = {"cpu": "vm", "gpu": "vm", "mcu": "c"}


def _check_c_name(name: str, board) -> None:
    import re

    if board.kind != "mcu":
        raise OptionError(f"--c-name names the C symbols of a microcontroller artifact; board "
                          f"'{board.name}' builds a shared library (drop --c-name)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise OptionError(f"--c-name {name!r}: must be a C identifier (letters, digits, "
                          "underscores, not starting with a digit)")


def _build_c(mod, tvm_target, board, imported, c_name=None):
    from edgec.backends.c.build import build_c

    describe = (f"{imported.name} compiled by edgec {edgec.__version__} for {board.name} "
                f"({board.description})")
    return build_c(mod, tvm_target, board, c_name or imported.name,
                   [s.name for s in imported.signature.inputs],
                   [s.name for s in imported.signature.outputs], describe)


def _check_evaluation(quantize_options, evaluation, labels, budget,
                      metric=None) -> float | None:
    from edgec.quantize.evaluate import parse_budget

    if metric is not None and not callable(metric):
        raise OptionError(f"accuracy_metric must be a function (float outputs, int8 outputs) "
                          f"-> loss, not {type(metric).__name__}")
    if metric is not None and labels is not None:
        raise OptionError("give labels (top-1) or accuracy_metric (your own loss), not both")
    if evaluation is None:
        for given, flag in ((labels, "--labels"), (budget, "--accuracy-budget"),
                            (metric, "accuracy_metric")):
            if given is not None:
                raise OptionError(f"{flag} needs evaluation data to measure accuracy on: add "
                                  "--eval eval.npz (inputs like --calibration)")
        return None
    if quantize_options is None:
        raise OptionError("--eval measures a model quantized with calibration data against "
                          "its float version: use --quantize int8 --calibration ...")
    return parse_budget(budget)


def _layout(board, resolved, imported, calibrate) -> str:
    """The board's conv layout; NHWC for an int8 model on a CPU whose dot-product instruction
    reads 4 input channels at once (x86 VNNI: its kernels want channels last)."""
    from edgec.schedules.int8_dot import dot_isa

    layout = board.pipeline.layout
    quantized = calibrate is not None or imported.quantized
    if layout == "NCHW" and quantized and dot_isa(resolved.tvm_target()) is not None:
        return "NHWC"
    return layout


def _matmul_quantization(quantize, calibration, group_size: int, per_channel: bool):
    """The dynamic / weight-only modes (no calibration data), or None for the others."""
    from edgec.quantize.options import MATMUL_MODES, MatmulQuantization

    mode = str(quantize).lower() if quantize is not None else None
    if mode not in MATMUL_MODES:
        return None
    if calibration is not None:
        raise OptionError(f"--quantize {mode} quantizes activations on every call (or not at "
                          "all) and takes no calibration data; drop --calibration, or use "
                          "--quantize int8 for calibrated static int8")
    return MatmulQuantization(mode=mode, group_size=int(group_size), per_channel=per_channel)


def _quantize_options(quantize, calibration, method: str, per_channel: bool,
                      bias_correction: bool = False, int8_adds: bool = False):
    if quantize is None:
        if calibration is not None:
            raise OptionError("calibration data was given without --quantize int8; add "
                              "--quantize int8 or drop the calibration data")
        return None
    if str(quantize).lower() != "int8":
        from edgec.quantize.options import MODES

        raise OptionError(f"--quantize {quantize}: not a quantization edgec knows; use one of "
                          f"{', '.join(MODES)}")
    if calibration is None:
        raise OptionError("--quantize int8 needs calibration data (--calibration calib.npz, "
                          "or a folder of .npz files): a few hundred representative inputs")
    from edgec.quantize.options import QuantizeOptions

    return QuantizeOptions(method=method, per_channel=per_channel,
                           bias_correction=bool(bias_correction), int8_adds=bool(int8_adds))


def _quantization_entry(calibrate, rewrites: Mapping[str, int],
                        instructions: dict | None = None,
                        matmul_quantization=None) -> dict | None:
    """How the model was quantized, its integer kernels (``int8 conv2d``, ``int4 matmul
    (weight-only ...)``: by kind) and what stayed float (and why)."""
    from edgec.passes.qdq_to_integer import INT8_KERNEL, KEPT_IN_FLOAT

    kernels = {k.removeprefix(INT8_KERNEL): v for k, v in rewrites.items()
               if k.startswith(INT8_KERNEL)}
    kernels.update({k: v for k, v in rewrites.items() if k.startswith("int4 ")})
    prefix = KEPT_IN_FLOAT + " ("
    fallbacks = {k[len(prefix):-1]: v for k, v in rewrites.items() if k.startswith(prefix)}
    if calibrate is None and matmul_quantization is None and not kernels and not fallbacks:
        return None
    if matmul_quantization is not None:
        entry = matmul_quantization.summary()
    elif calibrate is not None and calibrate.summary:
        entry = calibrate.summary.to_json()
    else:
        entry = {"source": "model"}
    budget_kept = ((entry.get("evaluation") or {}).get("kept_float") or [])
    if budget_kept:
        fallbacks["accuracy budget"] = len(budget_kept)
    entry["int8_kernels"] = kernels
    entry["float_fallbacks"] = fallbacks
    if instructions is not None:
        entry["instructions"] = instructions
    return entry


def _tuning_records(tuning_logs, board: str, mcpu) -> Path | None:
    from edgec.tuning.locate import find_records

    if tuning_logs is False or tuning_logs is None:
        return None
    explicit = None if tuning_logs is True else tuning_logs
    found = find_records(board, mcpu, explicit)
    if explicit is not None and found is None:
        raise OptionError(f"--tuning-logs {explicit}: no tuning records there for board "
                          f"'{board}' (expected database_tuning_record.json in it or in "
                          f"{board}/{mcpu + '/' if board == 'host' and mcpu else ''})")
    return found


def _tuning_entry(records: Path | None, tuned: int) -> dict | None:
    """Which tuning database the artifact's schedules came from: where (relative to the
    working directory, or to edgec's shipped records), its content hash, kernels it tuned."""
    import hashlib

    from edgec.tuning.database import RECORDS
    from edgec.tuning.locate import shipped_dir

    if records is None:
        return None
    records = records.resolve()
    for root, prefix in ((Path.cwd(), ""), (shipped_dir().resolve(), "edgec:tuning_logs/")):
        if records.is_relative_to(root):
            where = prefix + records.relative_to(root).as_posix()
            break
    else:
        where = "/".join(records.parts[-2:])
    digest = hashlib.sha256((records / RECORDS).read_bytes()).hexdigest()
    return {"records": where, "sha256": digest, "tuned_kernels": tuned}


def _versions() -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return {"edgec": edgec.__version__, "tvm": str(tvm.__version__),
            "tvm_ffi": dist("apache-tvm-ffi"), "onnx": onnx.__version__}
