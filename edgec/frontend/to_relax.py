"""Hand the cleaned ONNX graph to TVM's Relax importer and read back the I/O signature."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import onnx
import tvm
from tvm import relax

from edgec.errors import InternalError
from edgec.signature import TensorSpec

logger = logging.getLogger(__name__)


def import_to_relax(model: onnx.ModelProto, inputs: Sequence[TensorSpec],
                    origin: str) -> tuple[tvm.IRModule, list[TensorSpec]]:
    """Return the Relax module (weights bound as constants) and the output specs."""
    from tvm.relax.frontend.onnx import from_onnx

    shape_dict = {s.name: list(s.shape) for s in inputs}
    dtype_dict = {s.name: s.dtype for s in inputs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mod = from_onnx(model, shape_dict=shape_dict, dtype_dict=dtype_dict)
        except Exception as err:
            raise InternalError(
                f"TVM's ONNX importer failed on model '{origin}' after edgec's clean-up: "
                f"{type(err).__name__}: {_first_line(err)}") from err
    for warning in caught:
        logger.debug("importer: %s", warning.message)
    outputs = _output_specs(mod, model, origin)
    return mod, outputs


def _output_specs(mod: tvm.IRModule, model: onnx.ModelProto, origin: str) -> list[TensorSpec]:
    ret = mod["main"].ret_ty
    fields = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    names = [o.name for o in model.graph.output]
    if len(fields) != len(names):
        raise InternalError(f"model '{origin}': {len(names)} ONNX outputs but the imported "
                            f"function returns {len(fields)} values")
    specs = []
    for name, field in zip(names, fields):
        if not isinstance(field, relax.TensorType) or field.shape is None:
            raise InternalError(f"output '{name}' of model '{origin}' is not a tensor after import")
        dims = []
        for dim in field.shape.values:
            if not isinstance(dim, tvm.tirx.IntImm):
                raise InternalError(
                    f"output '{name}' of model '{origin}' has a data-dependent shape "
                    f"({field.shape}); edgec compiles static shapes only")
            dims.append(int(dim))
        specs.append(TensorSpec(name, tuple(dims), str(field.dtype)))
    return specs


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__
