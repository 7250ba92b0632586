"""Inputs for a compiled model: checked against its signature, generated, read and written."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgec.errors import RunInputError
from edgec.signature import Signature, TensorSpec, numpy_dtype, to_storage

Inputs = Mapping[str, Any] | Sequence[Any] | np.ndarray


def normalize_inputs(signature: Signature, inputs: Inputs, origin: str = "") -> list[np.ndarray]:
    """Arrays in the signature's order; any mismatch is one error naming the input."""
    specs = signature.inputs
    expected = ", ".join(s.describe() for s in specs)
    where = f" of '{origin}'" if origin else ""
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        names = {s.name for s in specs}
        unknown = sorted(set(inputs) - names)
        missing = [s.name for s in specs if s.name not in inputs]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown input(s) {', '.join(repr(u) for u in unknown)}")
            if missing:
                parts.append(f"missing input(s) {', '.join(repr(m) for m in missing)}")
            raise RunInputError(f"{' and '.join(parts)}; the model{where} takes: {expected}")
        values = [inputs[s.name] for s in specs]
    else:
        values = list(inputs)
        if len(values) != len(specs):
            raise RunInputError(f"{len(values)} input(s) given; the model{where} takes "
                                f"{len(specs)}: {expected}")
    return [_check(spec, value, where) for spec, value in zip(specs, values)]


def storage_inputs(signature: Signature, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Checked inputs (``normalize_inputs``) as the compiled function takes them: float8,
    float4 and 2/4-bit tensors in their byte storage."""
    return [to_storage(spec.dtype, a) for spec, a in zip(signature.inputs, arrays)]


def restore_dtype(dtype: str, value: np.ndarray) -> np.ndarray:
    """An array of an ml_dtypes type (float8, int4, bfloat16) that went through an .npz file,
    which keeps only its bytes (dtype ``V1``/``V2``), seen as ``dtype`` again."""
    target = numpy_dtype(dtype)
    if value.dtype.kind == "V" and value.dtype != target and \
            value.dtype.itemsize == target.itemsize and value.dtype.names is None:
        return value.view(target)
    return value


def _check(spec: TensorSpec, value: Any, where: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        if hasattr(value, "numpy"):
            value = value.numpy()
        else:
            raise RunInputError(f"input '{spec.name}'{where} must be a numpy array, not "
                                f"{type(value).__name__}")
    value = restore_dtype(spec.dtype, value)
    if value.dtype != numpy_dtype(spec.dtype):
        raise RunInputError(
            f"input '{spec.name}'{where} has dtype {value.dtype}; the model takes {spec.dtype} "
            f"(convert it with .astype('{spec.dtype}'))")
    if tuple(value.shape) != spec.shape:
        raise RunInputError(
            f"input '{spec.name}'{where} has shape {list(value.shape)}; the model was compiled "
            f"for {list(spec.shape)} (recompile with --input-shape "
            f"{spec.name}:{','.join(str(d) for d in value.shape)} for that shape)")
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
    return value if value.flags.c_contiguous else np.array(value, order="C")


def random_inputs(signature: Signature, seed: int = 0) -> dict[str, np.ndarray]:
    """Reproducible inputs: uniform [0, 1) for floats, the whole range for int8/uint8 (quantized
    data), small non-negative integers for the other integers (indices, lengths)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for spec in signature.inputs:
        dtype = numpy_dtype(spec.dtype)
        if dtype.kind == "f" or "float" in dtype.name:
            arrays[spec.name] = rng.random(spec.shape, dtype=np.float64).astype(dtype)
        elif dtype.kind == "b":
            arrays[spec.name] = rng.integers(0, 2, spec.shape).astype(dtype)
        elif dtype.itemsize == 1:
            info = np.iinfo(dtype) if dtype.kind in "iu" else ml_int_info(dtype)
            arrays[spec.name] = rng.integers(info.min, info.max + 1, spec.shape).astype(dtype)
        else:
            arrays[spec.name] = rng.integers(0, 10, spec.shape).astype(dtype)
    return arrays


def ml_int_info(dtype: np.dtype):
    import ml_dtypes

    return ml_dtypes.iinfo(dtype)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise RunInputError(f"inputs file '{path}' does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise RunInputError(f"inputs file '{path}' is not a readable .npz file: {err}") from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise RunInputError(f"inputs file '{path}' is a single .npy array; save inputs as .npz "
                            "with one array per input name (numpy.savez)")
    with data:
        arrays = {}
        for name in data.files:
            try:
                arrays[name] = data[name]
            except ValueError:  # a type numpy knows only through ml_dtypes ('<f1': float8)
                arrays[name] = _raw_member(path, name)
        return arrays


def _raw_member(path: Path, name: str) -> np.ndarray:
    """An .npz member whose dtype numpy cannot name, as its bytes (``V<itemsize>``), for
    ``restore_dtype`` to see as the type the model declares."""
    import ast

    with zipfile.ZipFile(path) as archive:
        raw = archive.read(name + ".npy")
    size_bytes = 2 if raw[6] == 1 else 4
    length = int.from_bytes(raw[8:8 + size_bytes], "little")
    header = ast.literal_eval(raw[8 + size_bytes:8 + size_bytes + length].decode("latin1"))
    if header.get("fortran_order") or not isinstance(header.get("descr"), str):
        raise RunInputError(f"inputs file '{path}': array '{name}' has a layout edgec cannot "
                            "read; save it C-ordered with numpy.savez")
    itemsize = int(header["descr"].lstrip("<>|=")[1:] or 0)
    shape = tuple(header["shape"])
    start = 8 + size_bytes + length
    return np.frombuffer(raw[start:], dtype=f"V{itemsize}",
                         count=int(np.prod(shape, dtype=np.int64))).reshape(shape)


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise RunInputError(f"cannot write '{path}': directory '{parent}' does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **dict(arrays))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
