"""Tiny ONNX graphs built in tests, each for one behaviour."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17,
               name: str = "test") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k)
                               for k, v in dict(initializers).items()])
    model = helper.make_model(graph, producer_name="edgec-tests",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def tensor(name: str, shape, dtype=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def add_relu(shape=(1, 4), opset: int = 17) -> onnx.ModelProto:
    """y = relu(x + b)"""
    return make_model(
        [helper.make_node("Add", ["x", "b"], ["s"], name="add"),
         helper.make_node("Relu", ["s"], ["y"], name="relu")],
        [tensor("x", list(shape))], [tensor("y", list(shape))],
        {"b": np.linspace(-1, 1, shape[-1]).astype(np.float32)}, opset=opset)


def shape_reshape(batch="N") -> onnx.ModelProto:
    """Flatten x[N,2,3,4] to [N,24] through Shape -> Gather -> Concat -> Reshape, as
    PaddlePaddle and PyTorch exporters emit it."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Constant", [], ["zero"], name="const_zero",
                         value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Constant", [], ["minus1"], name="const_m1",
                         value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["n", "minus1"], ["new_shape"], name="concat", axis=0),
        helper.make_node("Identity", ["x"], ["x_id"], name="identity"),
        helper.make_node("Reshape", ["x_id", "new_shape"], ["y"], name="reshape"),
    ]
    return make_model(nodes, [tensor("x", [batch, 2, 3, 4])], [tensor("y", [batch, 24])])
