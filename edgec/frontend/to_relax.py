"""Hand the cleaned ONNX graph to TVM's Relax importer and read back the I/O signature."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import onnx
import tvm
from tvm import relax

from edgec.errors import EdgecError, InternalError
from edgec.frontend.opset import model_opset
from edgec.signature import TensorSpec

logger = logging.getLogger(__name__)


def import_to_relax(model: onnx.ModelProto, inputs: Sequence[TensorSpec],
                    origin: str) -> tuple[tvm.IRModule, list[TensorSpec]]:
    """Return the Relax module (weights bound as constants) and the output specs."""
    shape_dict = {s.name: list(s.shape) for s in inputs}
    dtype_dict = {s.name: s.dtype for s in inputs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mod = _importer(shape_dict, dtype_dict).from_onnx(model.graph,
                                                             model_opset(model))
        except EdgecError:
            raise  # a converter's refusal names the node and what to do
        except Exception as err:
            raise InternalError(
                f"TVM's ONNX importer failed on model '{origin}' after edgec's clean-up: "
                f"{type(err).__name__}: {_first_line(err)}") from err
    for warning in caught:
        logger.debug("importer: %s", warning.message)
    outputs = output_specs(mod, [o.name for o in model.graph.output], origin)
    return mod, outputs


def _importer(shape_dict, dtype_dict):
    """TVM's ONNX importer, with edgec's converters (``converters/``) tried first."""
    from tvm.relax.frontend.onnx.onnx_frontend import ONNXGraphImporter

    from edgec.frontend.converters import CONVERTERS

    class EdgecImporter(ONNXGraphImporter):
        def _check_for_unsupported_ops(self, graph):
            pass  # edgec's check_operators ran before, knowing edgec's converters too

        def _convert_operator(self, op_name, inputs, attrs, opset):
            converter = CONVERTERS.get(op_name)
            if converter is not None:
                result = converter(self.bb, inputs, attrs, opset)
                if result is not None:
                    return self.bb.normalize(result)
            return super()._convert_operator(op_name, inputs, attrs, opset)

    return EdgecImporter(shape_dict, dtype_dict)


def output_specs(mod: tvm.IRModule, names: Sequence[str], origin: str) -> list[TensorSpec]:
    """The specs of ``main``'s results, named by the model's outputs."""
    ret = mod["main"].ret_ty
    fields = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    if len(fields) != len(names):
        raise InternalError(f"model '{origin}': {len(names)} model outputs but the imported "
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
