"""The I/O signature of a compiled model: names, static shapes and dtypes of its tensors."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

# Element types under 8 bits of mantissa and exponent, or of 2 and 4 bits (numpy spells them
# through ml_dtypes), and the type the compiled function holds them in: float8 and float4 as
# their bit patterns (a float4 code in the low four bits), 2- and 4-bit integers as their
# values, one per byte.
STORAGE_DTYPES = {
    "float8_e4m3fn": "uint8", "float8_e4m3fnuz": "uint8", "float8_e5m2": "uint8",
    "float8_e5m2fnuz": "uint8", "float4_e2m1fn": "uint8",
    "int4": "int8", "uint4": "uint8", "int2": "int8", "uint2": "uint8",
}


def storage_dtype(dtype: str) -> str:
    """The dtype a compiled function takes or returns for a tensor of ``dtype``."""
    return STORAGE_DTYPES.get(dtype, dtype)


def numpy_dtype(dtype: str) -> np.dtype:
    if dtype in STORAGE_DTYPES or dtype == "bfloat16":
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, dtype))
    return np.dtype(dtype)


def to_storage(dtype: str, array: np.ndarray) -> np.ndarray:
    """``array`` (of ``dtype``) as the compiled function takes it."""
    if dtype not in STORAGE_DTYPES:
        return array
    if dtype.startswith("float"):
        return array.view(np.uint8)
    return array.astype(STORAGE_DTYPES[dtype])


def from_storage(dtype: str, array: np.ndarray) -> np.ndarray:
    """What the compiled function returned for a tensor of ``dtype``, as ``dtype``."""
    if dtype not in STORAGE_DTYPES:
        return array
    if dtype.startswith("float"):
        return np.asarray(array, dtype=np.uint8).view(numpy_dtype(dtype))
    return array.astype(numpy_dtype(dtype))


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One named tensor with a fully static shape."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TensorSpec":
        return cls(name=str(data["name"]), shape=tuple(int(d) for d in data["shape"]),
                   dtype=str(data["dtype"]))

    def describe(self) -> str:
        return f"{self.name}: {self.dtype}[{','.join(str(d) for d in self.shape)}]"


@dataclasses.dataclass(frozen=True)
class Signature:
    """Inputs and outputs of a model, in the order the compiled function takes and returns them."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_json(self) -> dict[str, Any]:
        return {"inputs": [t.to_json() for t in self.inputs],
                "outputs": [t.to_json() for t in self.outputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Signature":
        return cls(inputs=tuple(TensorSpec.from_json(t) for t in data["inputs"]),
                   outputs=tuple(TensorSpec.from_json(t) for t in data["outputs"]))

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]
