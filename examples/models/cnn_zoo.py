#!/usr/bin/env python3
"""Classic CNNs built as ONNX graphs with onnx.helper, no network needed: ResNet-50 and
MobileNetV2 (torchvision topologies, 224x224, random He-initialised weights with a fixed seed,
batch norms kept as separate nodes as an exporter without fusion writes them).

They exist to measure speed on well-known shapes; their accuracy means nothing.

    python examples/models/cnn_zoo.py resnet50 --out resnet50.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def _const(self, array: np.ndarray, kind: str) -> str:
        name = self._name(kind)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv_bn(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1,
                act: str | None = "relu") -> str:
        fan_in = c_in // groups * k * k
        w = self.rng.standard_normal((c_out, c_in // groups, k, k)) * np.sqrt(2.0 / fan_in)
        out = self._name("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, self._const(w, "w")], [out], kernel_shape=[k, k], strides=[stride] * 2,
            pads=[k // 2] * 4, group=groups))
        bn = self._name("bn")
        params = [self._const(self.rng.uniform(0.5, 1.0, c_out), "gamma"),
                  self._const(self.rng.normal(0, 0.1, c_out), "beta"),
                  self._const(self.rng.normal(0, 0.1, c_out), "mean"),
                  self._const(self.rng.uniform(0.5, 1.5, c_out), "var")]
        self.nodes.append(helper.make_node("BatchNormalization", [out, *params], [bn],
                                           epsilon=1e-5))
        if act == "relu":
            y = self._name("relu")
            self.nodes.append(helper.make_node("Relu", [bn], [y]))
            return y
        if act == "relu6":
            y = self._name("relu6")
            lo, hi = self._const(np.array(0.0), "lo"), self._const(np.array(6.0), "hi")
            self.nodes.append(helper.make_node("Clip", [bn, lo, hi], [y]))
            return y
        return bn

    def add(self, a: str, b: str, act: bool = False) -> str:
        y = self._name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [y]))
        if act:
            r = self._name("relu")
            self.nodes.append(helper.make_node("Relu", [y], [r]))
            return r
        return y

    def head(self, x: str, c_in: int, classes: int = 1000) -> str:
        pooled, flat, out = self._name("gap"), self._name("flat"), "logits"
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
        self.nodes.append(helper.make_node("Flatten", [pooled], [flat], axis=1))
        w = self.rng.standard_normal((classes, c_in)) * np.sqrt(1.0 / c_in)
        self.nodes.append(helper.make_node(
            "Gemm", [flat, self._const(w, "fc_w"), self._const(np.zeros(classes), "fc_b")],
            [out], transB=1))
        return out

    def model(self, name: str, size: int = 224) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                             ["N", 3, size, size])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
            self.inits)
        model = helper.make_model(graph, producer_name="edgec-examples",
                                  opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model


def resnet50(seed: int = 0) -> onnx.ModelProto:
    b = _Builder(seed)
    x = b.conv_bn("input", 3, 64, 7, stride=2)
    pooled = b._name("pool")
    b.nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3],
                                    strides=[2, 2], pads=[1, 1, 1, 1]))
    x, c_in = pooled, 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = b.conv_bn(x, c_in, width, 1)
            y = b.conv_bn(y, width, width, 3, stride=s)
            y = b.conv_bn(y, width, width * 4, 1, act=None)
            shortcut = x if (i > 0) else b.conv_bn(x, c_in, width * 4, 1, stride=s, act=None)
            x, c_in = b.add(y, shortcut, act=True), width * 4
    b.head(x, c_in)
    return b.model("resnet50")


def mobilenet_v2(seed: int = 0) -> onnx.ModelProto:
    b = _Builder(seed)
    x, c_in = b.conv_bn("input", 3, 32, 3, stride=2, act="relu6"), 32
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    for expand, c_out, repeats, stride in settings:
        for i in range(repeats):
            s = stride if i == 0 else 1
            hidden = c_in * expand
            y = b.conv_bn(x, c_in, hidden, 1, act="relu6") if expand != 1 else x
            y = b.conv_bn(y, hidden, hidden, 3, stride=s, groups=hidden, act="relu6")
            y = b.conv_bn(y, hidden, c_out, 1, act=None)
            x = b.add(x, y) if (s == 1 and c_in == c_out) else y
            c_in = c_out
    x = b.conv_bn(x, c_in, 1280, 1, act="relu6")
    b.head(x, 1280)
    return b.model("mobilenet_v2")


MODELS = {"resnet50": resnet50, "mobilenet_v2": mobilenet_v2}


def build(name: str, path: Path) -> Path:
    """Write model ``name`` to ``path`` unless it is there already."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        onnx.save(MODELS[name](), str(tmp))
        tmp.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(build(args.model, args.out))


if __name__ == "__main__":
    main()
