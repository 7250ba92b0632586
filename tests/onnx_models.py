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


def small_cnn(seed: int = 0, size: int = 16, classes: int = 10) -> onnx.ModelProto:
    """conv3x3+relu -> conv3x3/2+relu6 -> conv1x1 + residual -> GAP -> flatten -> Gemm: every
    operator a quantized CNN needs, small enough to quantize and compile in seconds."""
    rng = np.random.default_rng(seed)

    def weight(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    inits = {"w1": weight(8, 3, 3, 3), "b1": rng.normal(0, 0.1, 8).astype(np.float32),
             "w2": weight(16, 8, 3, 3), "b2": rng.normal(0, 0.1, 16).astype(np.float32),
             "w3": weight(16, 16, 1, 1), "b3": rng.normal(0, 0.1, 16).astype(np.float32),
             "lo": np.array(0, np.float32), "hi": np.array(6, np.float32),
             "wf": weight(classes, 16), "bf": rng.normal(0, 0.1, classes).astype(np.float32)}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1],
                         strides=[2, 2], name="conv2"),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("Add", ["c3", "r2"], ["s3"], name="residual"),
        helper.make_node("GlobalAveragePool", ["s3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1, name="fc"),
    ]
    return make_model(nodes, [tensor("x", [1, 3, size, size])], [tensor("y", [1, classes])],
                      inits, opset=13, name="small_cnn")
