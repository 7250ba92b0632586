#!/usr/bin/env python3
"""A BERT-style transformer encoder as ONNX exporters write it, with random weights.

Each layer: LayerNormalization -> Q, K, V projections (MatMul + Add) -> heads (Reshape,
Transpose) -> scaled dot-product attention (MatMul, Mul, Softmax, MatMul) -> output projection
-> residual; LayerNormalization -> feed-forward (MatMul + Add, GELU written with Erf as
PyTorch exports it, MatMul + Add) -> residual. Almost all of its time and weights are in the
matrix multiplications with constant weights, which is what ``--quantize int8-dynamic`` /
``int8-weights`` / ``int4-weights`` are for (latency does not depend on the weights' values).

    python examples/models/transformer.py out.onnx [--layers 2] [--hidden 256] [--heads 4]
                                                    [--tokens 64]
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def encoder(layers: int = 2, hidden: int = 256, heads: int = 4, tokens: int = 64,
            inner: int | None = None, seed: int = 0) -> onnx.ModelProto:
    """The encoder with input ``x[tokens, hidden]`` and output ``y`` of the same shape."""
    rng = np.random.default_rng(seed)
    inner = inner or 4 * hidden
    head = hidden // heads
    nodes, weights = [], []

    def const(name: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def dense(name: str, x: str, rows: int, cols: int) -> str:
        w = const(f"{name}.w", (rng.standard_normal((rows, cols)) / np.sqrt(rows))
                  .astype(np.float32))
        b = const(f"{name}.b", (rng.standard_normal(cols) * 0.02).astype(np.float32))
        nodes.append(helper.make_node("MatMul", [x, w], [f"{name}.mm"]))
        nodes.append(helper.make_node("Add", [f"{name}.mm", b], [f"{name}.out"]))
        return f"{name}.out"

    def norm(name: str, x: str) -> str:
        gamma = const(f"{name}.g", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        beta = const(f"{name}.b", (0.1 * rng.standard_normal(hidden)).astype(np.float32))
        nodes.append(helper.make_node("LayerNormalization", [x, gamma, beta], [f"{name}.out"],
                                      axis=-1, epsilon=1e-5))
        return f"{name}.out"

    heads_shape = const("heads_shape", np.array([tokens, heads, head], np.int64))
    flat_shape = const("flat_shape", np.array([tokens, hidden], np.int64))
    scale = const("scale", np.array(1 / np.sqrt(head), np.float32))
    half = const("half", np.array(0.5, np.float32))
    one = const("one", np.array(1.0, np.float32))
    root2 = const("root2", np.array(np.sqrt(2.0), np.float32))
    x = "x"
    for i in range(layers):
        p = f"l{i}"
        ln = norm(f"{p}.ln1", x)
        split = {}
        for part in "qkv":
            projected = dense(f"{p}.{part}", ln, hidden, hidden)
            nodes.append(helper.make_node("Reshape", [projected, heads_shape],
                                          [f"{p}.{part}.heads"]))
            perm = [1, 2, 0] if part == "k" else [1, 0, 2]  # k as [heads, head, tokens]
            nodes.append(helper.make_node("Transpose", [f"{p}.{part}.heads"],
                                          [f"{p}.{part}.t"], perm=perm))
            split[part] = f"{p}.{part}.t"
        nodes += [
            helper.make_node("MatMul", [split["q"], split["k"]], [f"{p}.scores"]),
            helper.make_node("Mul", [f"{p}.scores", scale], [f"{p}.scaled"]),
            helper.make_node("Softmax", [f"{p}.scaled"], [f"{p}.probs"], axis=-1),
            helper.make_node("MatMul", [f"{p}.probs", split["v"]], [f"{p}.ctx"]),
            helper.make_node("Transpose", [f"{p}.ctx"], [f"{p}.ctx.t"], perm=[1, 0, 2]),
            helper.make_node("Reshape", [f"{p}.ctx.t", flat_shape], [f"{p}.ctx.flat"]),
        ]
        attended = dense(f"{p}.o", f"{p}.ctx.flat", hidden, hidden)
        nodes.append(helper.make_node("Add", [x, attended], [f"{p}.res1"]))
        ln2 = norm(f"{p}.ln2", f"{p}.res1")
        up = dense(f"{p}.ff1", ln2, hidden, inner)
        nodes += [  # GELU as 0.5 x (1 + erf(x / sqrt 2))
            helper.make_node("Div", [up, root2], [f"{p}.g.div"]),
            helper.make_node("Erf", [f"{p}.g.div"], [f"{p}.g.erf"]),
            helper.make_node("Add", [f"{p}.g.erf", one], [f"{p}.g.add"]),
            helper.make_node("Mul", [up, f"{p}.g.add"], [f"{p}.g.mul"]),
            helper.make_node("Mul", [f"{p}.g.mul", half], [f"{p}.gelu"]),
        ]
        down = dense(f"{p}.ff2", f"{p}.gelu", inner, hidden)
        nodes.append(helper.make_node("Add", [f"{p}.res1", down], [f"{p}.out"]))
        x = f"{p}.out"
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(
        nodes, "encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [tokens, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [tokens, hidden])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    onnx.save(encoder(args.layers, args.hidden, args.heads, args.tokens), args.output)


if __name__ == "__main__":
    main()
