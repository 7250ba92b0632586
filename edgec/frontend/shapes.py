"""Input shapes: parse what the user gave, resolve them against the model's declared inputs.

The compiled artifact has fully static shapes. Each model input keeps the dimensions the model
fixes; symbolic ones (``batch``, ``?``) must be given by the user, e.g.
``--input-shape x:1,3,224,224``. A model with a single input also accepts ``1,3,224,224``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import onnx

from edgec.errors import InputShapeError, UnsupportedModelError
from edgec.signature import TensorSpec

ShapeMap = Mapping[str, Sequence[int]]

_SPEC_RE = re.compile(r"^\s*(?:(?P<name>.+):)?(?P<dims>[0-9][0-9,x\s]*)\s*$")


def parse_shape_specs(specs: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``name:1,3,224,224`` strings. An unnamed spec is keyed by ``""``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        match = _SPEC_RE.match(spec)
        if not match:
            raise InputShapeError(
                f"cannot read input shape '{spec}'; write it as NAME:D0,D1,... "
                "e.g. x:1,3,224,224")
        name = (match.group("name") or "").strip()
        dims = tuple(int(d) for d in re.split(r"[,x\s]+", match.group("dims").strip()) if d)
        if not dims or any(d <= 0 for d in dims):
            raise InputShapeError(f"input shape '{spec}' must list positive dimensions")
        if name in shapes:
            raise InputShapeError(f"input '{name or '<unnamed>'}' is given a shape twice")
        shapes[name] = dims
    return shapes


def shape_map(input_shapes) -> dict[str, tuple[int, ...]] | None:
    """Input shapes as the Python API takes them (a mapping, one spec string or a list of
    spec strings) as a name -> dims map; None stays None."""
    if input_shapes is None:
        return None
    if isinstance(input_shapes, Mapping):
        shapes = {}
        for name, dims in input_shapes.items():
            try:
                shapes[str(name)] = tuple(int(d) for d in dims)
            except (TypeError, ValueError) as err:
                raise InputShapeError(f"input_shapes['{name}'] must be a sequence of ints, "
                                  f"not {dims!r}") from err
        return shapes
    if isinstance(input_shapes, str):
        input_shapes = [input_shapes]
    return parse_shape_specs(list(input_shapes))


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The real inputs of the graph (older exporters also list initializers as inputs)."""
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def resolve_input_specs(model: onnx.ModelProto, user: ShapeMap | None,
                        origin: str) -> list[TensorSpec]:
    """Static input specs for every model input, or an error naming what is missing."""
    inputs = graph_inputs(model)
    names = [i.name for i in inputs]
    user = dict(user or {})
    if "" in user:
        if len(inputs) != 1:
            raise InputShapeError(
                f"model '{origin}' has {len(inputs)} inputs ({', '.join(names)}); name the input "
                "in each shape, e.g. --input-shape NAME:1,3,224,224")
        user[names[0]] = user.pop("")
    unknown = sorted(set(user) - set(names))
    if unknown:
        raise InputShapeError(
            f"shape given for {', '.join(repr(u) for u in unknown)}, but model '{origin}' has "
            f"no such input; its inputs are: {', '.join(names)}")

    specs = []
    for value in inputs:
        dtype = _dtype_of(value, origin)
        declared = _declared_dims(value)
        given = user.get(value.name)
        if given is not None:
            shape = _merge(value.name, declared, tuple(given))
        else:
            symbolic = [f"axis {i} ({d})" for i, d in enumerate(declared) if isinstance(d, str)]
            if declared is None or symbolic:
                where = ", ".join(symbolic) if symbolic else "its rank is unknown"
                example = ",".join(str(d) if isinstance(d, int) else "N"
                                   for d in (declared or ["N"]))
                raise InputShapeError(
                    f"input '{value.name}' of model '{origin}' has symbolic dimensions "
                    f"[{where}]; give its shape, e.g. --input-shape {value.name}:{example}")
            shape = tuple(int(d) for d in declared)
        specs.append(TensorSpec(value.name, shape, dtype))
    return specs


def _declared_dims(value: onnx.ValueInfoProto) -> list[int | str] | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims: list[int | str] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return dims


def _merge(name: str, declared: list[int | str] | None,
           given: tuple[int, ...]) -> tuple[int, ...]:
    if declared is None:
        return given
    if len(declared) != len(given):
        raise InputShapeError(
            f"input '{name}' has rank {len(declared)} ({_show(declared)}), but the shape given "
            f"has rank {len(given)} ({_show(given)})")
    for axis, (d, g) in enumerate(zip(declared, given)):
        if isinstance(d, int) and d != g:
            raise InputShapeError(
                f"input '{name}' has fixed size {d} on axis {axis} ({_show(declared)}), but the "
                f"shape given says {g}; only symbolic dimensions can be set")
    return given


def _dtype_of(value: onnx.ValueInfoProto, origin: str) -> str:
    if not value.type.HasField("tensor_type"):
        raise UnsupportedModelError(
            f"input '{value.name}' of model '{origin}' is not a tensor (sequence/map inputs "
            "are not supported)")
    elem = value.type.tensor_type.elem_type
    try:
        np_dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
    except (KeyError, ValueError) as err:
        raise UnsupportedModelError(
            f"input '{value.name}' of model '{origin}' has element type "
            f"{onnx.TensorProto.DataType.Name(elem)}, which edgec cannot compile") from err
    if elem == onnx.TensorProto.BFLOAT16:
        return "bfloat16"
    if np_dtype.kind not in "biuf":
        raise UnsupportedModelError(
            f"input '{value.name}' of model '{origin}' has element type {np_dtype}, which edgec "
            "cannot compile (numeric tensors only)")
    return str(np_dtype)


def _show(dims: Sequence[int | str]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def fix_input_shapes(model: onnx.ModelProto, specs: Sequence[TensorSpec]) -> None:
    """Write the resolved static shapes into the graph's input declarations, in place."""
    by_name = {s.name: s for s in specs}
    for value in model.graph.input:
        spec = by_name.get(value.name)
        if spec is None:
            continue
        shape = value.type.tensor_type.shape
        shape.ClearField("dim")
        for d in spec.shape:
            shape.dim.add().dim_value = d
