"""Operator coverage: what ``edgec check-model`` reports about a model before compiling it, and
the operator table the README shows (``python -m edgec.frontend.coverage``).

For every operator type of the model: supported, supported only with a constant input (a shape,
axes, pads, ``k``: whether this model gives one, or which model input to freeze), folded away
by the clean-up (computed at compile time), or unsupported, with the nodes that use it.
"""

from __future__ import annotations

import collections
import dataclasses
import functools

SUPPORTED = "supported"
CONSTANT_INPUT = "supported (constant input)"
NEEDS_FREEZE = "needs --freeze-input"
FOLDED = "folded or unrolled at compile time"
EXPANDED = "supported (expanded into its ONNX function)"
UNSUPPORTED = "unsupported"
_MAX_NODES = 3


@dataclasses.dataclass
class OperatorEntry:
    op_type: str
    count: int
    status: str
    nodes: list[str]
    detail: str = ""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CoverageReport:
    model: str
    format: str
    operators: list[OperatorEntry]
    problems: list[str]  # what stops the compile besides operators (element types, shapes)

    @property
    def compiles(self) -> bool:
        return not self.problems and all(e.status not in (UNSUPPORTED, NEEDS_FREEZE)
                                         for e in self.operators)

    def to_json(self) -> dict:
        return {"model": self.model, "format": self.format, "compiles": self.compiles,
                "operators": [e.to_json() for e in self.operators], "problems": self.problems}

    def describe(self) -> str:
        width = max([len(e.op_type) for e in self.operators] + [8])
        lines = [f"model      {self.model} ({self.format})",
                 f"{'OPERATOR':<{width}}  {'COUNT':>5}  STATUS"]
        for e in self.operators:
            nodes = ", ".join(e.nodes[:_MAX_NODES]) + \
                (f" and {len(e.nodes) - _MAX_NODES} more" if len(e.nodes) > _MAX_NODES else "")
            detail = f": {e.detail}" if e.detail else ""
            where = f" [{nodes}]" if e.status in (UNSUPPORTED, NEEDS_FREEZE) and nodes else ""
            lines.append(f"{e.op_type:<{width}}  {e.count:>5}  {e.status}{detail}{where}")
        lines += [f"problem    {p}" for p in self.problems]
        counts = collections.Counter(e.status for e in self.operators)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        verdict = "edgec can compile this model" if self.compiles else \
            "edgec cannot compile this model as it is"
        lines.append(f"result     {len(self.operators)} operator types ({summary}): {verdict}")
        return "\n".join(lines)


def check_model(source, input_shapes=None, freeze=None) -> CoverageReport:
    """The coverage report of an ONNX or TFLite model (path or bytes)."""
    from edgec.frontend.tflite_import import is_tflite

    if is_tflite(source):
        return _check_tflite(source)
    return _check_onnx(source, input_shapes, freeze)


def _node_label(node, index: int) -> str:
    return node.name or f"#{index} ({node.output[0] if node.output else '?'})"


def _check_onnx(source, input_shapes, freeze) -> CoverageReport:
    from edgec.errors import EdgecError
    from edgec.frontend.fold_constants import fold_constants
    from edgec.frontend.freeze import freeze_inputs, shape_input_problems, shape_input_slots
    from edgec.frontend.onnx_load import load_onnx
    from edgec.frontend.opset import normalize_opset
    from edgec.frontend.shapes import fix_input_shapes, resolve_input_specs
    from edgec.frontend.support import check_element_types, supported_ops
    from edgec.frontend.unroll_scan import unroll_scans

    from edgec.frontend.expand_functions import expand_function_ops
    from edgec.frontend.narrow_types import NARROW_CONVERSIONS, lower_narrow_types

    loaded = load_onnx(source)
    problems: list[str] = []
    model = type(loaded.proto)()
    model.CopyFrom(loaded.proto)
    original = collections.OrderedDict()
    for index, node in enumerate(model.graph.node):
        original.setdefault(_op_key(node), []).append(_node_label(node, index))
    try:
        narrow = bool(lower_narrow_types(model, loaded.origin)) or any(
            n.domain == "ai.edgec" for n in model.graph.node)
    except EdgecError as err:
        problems.append(str(err))
        narrow = False
    expanded = expand_function_ops(model)
    model, opset = normalize_opset(model, loaded.origin)
    try:
        check_element_types(model, loaded.origin)
    except EdgecError as err:
        problems.append(str(err))
    freeze_inputs(model, freeze or {}, loaded.origin)
    try:
        fix_input_shapes(model, resolve_input_specs(model, input_shapes, loaded.origin))
    except EdgecError as err:  # symbolic shapes: folding works on what is static
        problems.append(str(err))
    try:
        folded, _ = fold_constants(model)
        if unroll_scans(folded):  # as the compile does: Scan's steps written out
            folded, _ = fold_constants(folded)
    except EdgecError as err:
        problems.append(str(err))
        folded = model
    remaining = collections.Counter(_op_key(n) for n in folded.graph.node)
    freeze_problems = collections.defaultdict(list)
    for problem in shape_input_problems(folded):
        freeze_problems[problem.op_type].append(problem)
    known = supported_ops()
    entries = []
    for key, nodes in original.items():
        op_type = key.rsplit("::", 1)[-1]
        if key in expanded:
            status, detail = EXPANDED, ""
        elif key not in remaining and narrow and key in NARROW_CONVERSIONS:
            status, detail = SUPPORTED, "float8/float4/2- and 4-bit tensors held in bytes"
        elif key not in remaining:
            status, detail = FOLDED, ""
        elif op_type not in known:
            status, detail = UNSUPPORTED, ""
        elif freeze_problems.get(op_type):
            found = freeze_problems[op_type]
            inputs = sorted({f for p in found for f in p.feeding})
            status = NEEDS_FREEZE
            detail = (f"its input {found[0].slot} decides a shape and depends on "
                      f"{', '.join(inputs)}")
            nodes = [p.node or p.tensor for p in found]
        elif shape_input_slots(op_type):
            status, detail = CONSTANT_INPUT, "given as a constant here"
        else:
            status, detail = SUPPORTED, ""
        entries.append(OperatorEntry(key, len(original[key]), status, nodes, detail))
    return CoverageReport(loaded.origin, f"ONNX, {opset.describe()}", entries, problems)


def _op_key(node) -> str:
    domain = node.domain if node.domain not in ("", "ai.onnx") else ""
    return f"{domain}::{node.op_type}" if domain else node.op_type


def _check_tflite(source) -> CoverageReport:
    from edgec.frontend import tflite_import as tfl

    data, _, origin = tfl.read_tflite(source)
    model = tfl.parse_tflite(data, origin)
    known = tflite_supported_ops()
    from edgec.frontend.tflite_converter import hybrid_weights

    hybrid = hybrid_weights(model)
    graph = model.Subgraphs(0)
    nodes = collections.OrderedDict()
    hybrid_ops = set()
    names = tfl.operator_names(model)
    ordered = tfl.operator_list(model)
    for index, name in enumerate(ordered):
        op = graph.Operators(index)
        out = int(op.OutputsAsNumpy()[0]) if op.OutputsLength() else -1
        label = graph.Tensors(out).Name().decode("utf-8", "replace") if out >= 0 else f"#{index}"
        label = label if len(label) <= 60 else label[:57] + "..."
        nodes.setdefault(name, []).append(label)
        if op.InputsLength() and any(int(t) in hybrid for t in op.InputsAsNumpy()):
            hybrid_ops.add(name)
    entries = []
    for name, labels in nodes.items():
        if name not in known:
            entries.append(OperatorEntry(name, names[name], UNSUPPORTED, labels))
        else:
            detail = "int8 weights dequantized (dynamic-range quantization)" \
                if name in hybrid_ops else ""
            entries.append(OperatorEntry(name, names[name], SUPPORTED, labels, detail))
    return CoverageReport(origin, f"TFLite, schema {model.Version()}", entries, [])


@functools.cache
def tflite_supported_ops() -> frozenset[str]:
    """The TFLite builtin operators TVM's Relax TFLite frontend converts."""
    import inspect

    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

    import re

    # The converter table is a dict literal in __init__, one '"NAME": converter,' per line.
    source = inspect.getsource(OperatorConverter.__init__)
    return frozenset(re.findall(r'^\s+"([A-Z0-9_]+)":', source, re.MULTILINE))


# -- the README's table -----------------------------------------------------------------------

def onnx_operator_table() -> list[tuple[str, str, str]]:
    """(operator, how edgec imports it, note) for every ONNX operator of the default domain
    that the installed onnx package defines."""
    import onnx
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    from edgec.frontend.converters import CONVERTERS
    from edgec.frontend.expand_functions import expandable
    from edgec.frontend.freeze import shape_input_slots

    tvm_ops = set(_get_convert_map())
    schemas = sorted({s.name for s in onnx.defs.get_all_schemas_with_history()
                      if s.domain in ("", "ai.onnx") and not s.deprecated})
    rows = []
    for name in schemas:
        if name in CONVERTERS:
            how = "edgec converter"
        elif expandable(name):
            how = "edgec (expanded ONNX function)"
        elif name in ("Scan", "Loop"):
            how = "edgec (unrolled)"
        elif name in tvm_ops or name == "If":
            how = "TVM importer"
        else:
            how = "unsupported"
        note = "shape inputs must be constant or frozen" if how != "unsupported" and \
            shape_input_slots(name) else ""
        rows.append((name, how, note))
    from edgec.frontend.narrow_types import EDGEC_OPS

    extra = sorted(k for k in CONVERTERS if k not in schemas and k not in EDGEC_OPS)
    rows += [(name, "edgec converter", "com.microsoft / contrib") for name in extra]
    return rows


def markdown_table() -> str:
    rows = onnx_operator_table()
    counts = collections.Counter(how for _, how, _ in rows)
    ours = counts["edgec converter"] + counts["edgec (unrolled)"] + \
        counts["edgec (expanded ONNX function)"]
    lines = [f"{counts['TVM importer'] + ours} of {len(rows)} ONNX operators import ({ours} "
             "through edgec's own converters); generated by `python -m edgec.frontend.coverage`.",
             "",
             "| operator | imported by | note |", "|---|---|---|"]
    lines += [f"| {name} | {how} | {note} |" for name, how, note in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
