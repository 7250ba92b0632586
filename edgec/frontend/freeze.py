"""``--freeze-input NAME=VALUE|FILE.npy``: a graph input that is a constant in practice (a
shape, axes, pads, scales, a ``k``, a sequence length) becomes an initializer before the
clean-up, so every operator that needs it constant sees a constant."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edgec.errors import OptionError
from edgec.frontend.shapes import _declared_dims, graph_inputs

Freezes = Mapping[str, object]


def parse_freeze_specs(specs: Iterable[str]) -> dict[str, object]:
    """``["k=3", "shape=1,-1", "mask=mask.npy"]`` -> ``{name: value text or Path}``."""
    frozen: dict[str, object] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name or not value:
            raise OptionError(f"--freeze-input {spec}: expected NAME=VALUE, NAME=v1,v2,... or "
                              "NAME=FILE.npy")
        if name in frozen:
            raise OptionError(f"--freeze-input {name}: given twice")
        frozen[name] = Path(value) if value.endswith(".npy") else value
    return frozen


def freeze_map(freeze_inputs) -> dict[str, object]:
    """The API's ``freeze_inputs``: a mapping name -> value, or CLI-style strings."""
    if not freeze_inputs:
        return {}
    if isinstance(freeze_inputs, Mapping):
        return dict(freeze_inputs)
    if isinstance(freeze_inputs, str):
        freeze_inputs = [freeze_inputs]
    return parse_freeze_specs(list(freeze_inputs))


def _array(name: str, value, dtype: np.dtype, dims) -> np.ndarray:
    if isinstance(value, Path):
        if not value.is_file():
            raise OptionError(f"--freeze-input {name}={value}: no such file")
        try:
            array = np.load(value, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise OptionError(f"--freeze-input {name}={value}: not a readable .npy file "
                              f"({err})") from err
    elif isinstance(value, str):
        try:
            array = np.array([float(v) for v in value.split(",")])
        except ValueError:
            raise OptionError(f"--freeze-input {name}={value}: not a number or a comma-separated "
                              "list of numbers (or give a .npy file)") from None
    else:
        array = np.asarray(value)
    if dtype.kind in "iub" and np.any(np.asarray(array, np.float64) % 1):
        raise OptionError(f"--freeze-input {name}: input '{name}' is {dtype}, the value given "
                          "is not whole numbers")
    array = np.asarray(array).astype(dtype)
    static = dims is not None and all(isinstance(d, int) for d in dims)
    if static:
        shape = tuple(dims)
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise OptionError(f"--freeze-input {name}: input '{name}' has shape "
                              f"{list(shape)} ({int(np.prod(shape))} values), the value given "
                              f"has {array.size}")
        array = array.reshape(shape)
    elif dims is not None and len(dims) == 0:
        array = array.reshape(())
    elif dims is not None and array.ndim != len(dims):
        if len(dims) == 1:
            array = array.reshape(-1)
        else:
            raise OptionError(f"--freeze-input {name}: input '{name}' has rank {len(dims)}, the "
                              f"value given has rank {array.ndim}; give a .npy of that rank")
    return array


def freeze_inputs(model: onnx.ModelProto, frozen: Freezes, origin: str) -> list[str]:
    """Turn the named graph inputs into initializers, in place; returns their names."""
    if not frozen:
        return []
    inputs = {i.name: i for i in graph_inputs(model)}
    unknown = sorted(set(frozen) - set(inputs))
    if unknown:
        raise OptionError(f"--freeze-input {', '.join(unknown)}: model '{origin}' has no such "
                          f"input; its inputs are: {', '.join(inputs)}")
    for name, value in frozen.items():
        info = inputs[name]
        elem = info.type.tensor_type.elem_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
        array = _array(name, value, np.dtype(dtype), _declared_dims(info))
        model.graph.initializer.append(numpy_helper.from_array(array, name))
        model.graph.input.remove(info)
    return list(frozen)


# inputs that decide an output's shape (or an axis), so must be constants in a static compile
_SHAPE_INPUTS = {
    "Reshape": (1,), "Resize": (1, 2, 3), "Upsample": (1,), "Pad": (1, 3), "Tile": (1,),
    "Slice": (1, 2, 3, 4), "Expand": (1,), "TopK": (1,), "OneHot": (1,), "Range": (0, 1, 2),
    "ConstantOfShape": (0,), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,),
    "CumSum": (1,), "CumProd": (1,), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,),
    "ReduceMin": (1,), "ReduceProd": (1,), "ReduceL1": (1,), "ReduceL2": (1,),
    "ReduceLogSum": (1,), "ReduceLogSumExp": (1,), "ReduceSumSquare": (1,),
    "CenterCropPad": (1,), "Col2Im": (1, 2), "HannWindow": (0,), "HammingWindow": (0,),
    "BlackmanWindow": (0,), "NonMaxSuppression": (2, 3, 4), "DFT": (1, 2), "STFT": (1, 3),
    "AffineGrid": (1,),
    # (their output's size is the count of true / non-zero / distinct values)
    "Compress": (1,), "NonZero": (0,), "Unique": (0,),
    "Loop": (0, 1),  # (the number of steps it is unrolled to: frontend/unroll_scan.py)
}
_SLOT_NAMES = {"Reshape": ["data", "shape"], "Resize": ["X", "roi", "scales", "sizes"],
               "Pad": ["data", "pads", "constant_value", "axes"], "TopK": ["X", "K"],
               "Slice": ["data", "starts", "ends", "axes", "steps"], "Tile": ["input", "repeats"],
               "Expand": ["input", "shape"], "OneHot": ["indices", "depth"],
               "Range": ["start", "limit", "delta"], "ConstantOfShape": ["input"],
               "CenterCropPad": ["input_data", "shape"],
               "Col2Im": ["input", "image_shape", "block_shape"], "HannWindow": ["size"],
               "HammingWindow": ["size"], "BlackmanWindow": ["size"],
               "NonMaxSuppression": ["boxes", "scores", "max_output_boxes_per_class",
                                     "iou_threshold", "score_threshold"],
               "DFT": ["input", "dft_length", "axis"],
               "STFT": ["signal", "frame_step", "window", "frame_length"],
               "AffineGrid": ["theta", "size"], "Compress": ["input", "condition"],
               "NonZero": ["X"], "Unique": ["X"], "Loop": ["M", "cond"]}


@dataclasses.dataclass(frozen=True)
class ShapeInputProblem:
    """An operator input that decides a shape but depends on model inputs."""

    op_type: str
    node: str
    slot: str           # the input's name in the operator's signature, or #N
    tensor: str
    feeding: tuple[str, ...]  # the model inputs it depends on

    def message(self, origin: str) -> str:
        label = f"{self.op_type} node '{self.node}'" if self.node else f"a {self.op_type} node"
        first = self.feeding[0]
        return (f"{label} of model '{origin}' needs its input {self.slot} ('{self.tensor}') as "
                f"a constant (it decides a shape), but it depends on the model input(s) "
                f"{', '.join(repr(f) for f in self.feeding)}; if that is a constant in practice, "
                f"freeze it: --freeze-input {first}=VALUE (or {first}=value.npy; "
                f"freeze_inputs= from Python)")


def shape_input_slots(op_type: str) -> tuple[int, ...]:
    """Which inputs of ``op_type`` decide a shape (must be constants in a static compile)."""
    return _SHAPE_INPUTS.get(op_type, ())


def shape_input_problems(model: onnx.ModelProto) -> list[ShapeInputProblem]:
    """Every operator input that decides a shape and depends on a model input."""
    graph = model.graph
    real_inputs = {i.name for i in graph_inputs(model)}
    producers = {out: node for node in graph.node for out in node.output}

    def sources(tensor: str) -> set[str]:
        found, stack, seen = set(), [tensor], set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in real_inputs:
                found.add(name)
            node = producers.get(name)
            # a Shape/Size reads only the (static) shape of its input, not its values
            if node is not None and node.op_type not in ("Shape", "Size"):
                stack.extend(i for i in node.input if i)
        return found

    problems = []
    for node in graph.node:
        for slot in _SHAPE_INPUTS.get(node.op_type, ()):
            if slot >= len(node.input) or not node.input[slot]:
                continue
            feeding = sorted(sources(node.input[slot]))
            if not feeding:
                continue
            names = _SLOT_NAMES.get(node.op_type)
            what = f"'{names[slot]}'" if names and slot < len(names) else f"#{slot}"
            problems.append(ShapeInputProblem(node.op_type, node.name, what, node.input[slot],
                                              tuple(feeding)))
    return problems


def check_shape_inputs(model: onnx.ModelProto, origin: str) -> None:
    """After the clean-up: an operator input that decides a shape and still depends on a model
    input is an error that names the node, the input and ``--freeze-input``."""
    from edgec.errors import UnsupportedModelError

    problems = shape_input_problems(model)
    if problems:
        raise UnsupportedModelError(problems[0].message(origin))
