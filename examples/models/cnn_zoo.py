#!/usr/bin/env python3
"""Classic CNNs built as ONNX graphs with onnx.helper, no network needed: ResNet-50 and
MobileNetV2 (torchvision topologies, 224x224, random He-initialised weights with a fixed seed,
batch norms kept as separate nodes as an exporter without fusion writes them), and AlexNet,
VGG-19 and GoogLeNet as the ONNX model zoo publishes them (opset 9, LRN, ``Dropout`` nodes
with their mask output, ``Gemm`` heads); ``width`` scales their channels for quick tests.

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

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, pad: int | None = None,
             groups: int = 1) -> str:
        """Conv with bias + ReLU (no batch norm, as the pre-2015 networks are)."""
        fan_in = c_in // groups * k * k
        w = self.rng.standard_normal((c_out, c_in // groups, k, k)) * np.sqrt(2.0 / fan_in)
        out, y = self._name("conv"), self._name("relu")
        pad = k // 2 if pad is None else pad
        self.nodes.append(helper.make_node(
            "Conv", [x, self._const(w, "w"), self._const(self.rng.normal(0, 0.1, c_out), "b")],
            [out], kernel_shape=[k, k], strides=[stride] * 2, pads=[pad] * 4, group=groups))
        self.nodes.append(helper.make_node("Relu", [out], [y]))
        return y

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        y = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [y], **attrs))
        return y

    def pool(self, x: str, k: int = 3, stride: int = 2, pad: int = 0, kind: str = "MaxPool"):
        return self.op(kind, [x], kernel_shape=[k, k], strides=[stride] * 2, pads=[pad] * 4)

    def dropout(self, x: str, ratio: float = 0.5) -> str:
        """Inference-mode Dropout with its (unused) mask output, as the zoo's models have."""
        y, mask = self._name("dropout"), self._name("mask")
        self.nodes.append(helper.make_node("Dropout", [x], [y, mask], ratio=ratio))
        return y

    def dense(self, x: str, c_in: int, c_out: int, relu: bool = True, name: str = "") -> str:
        w = self.rng.standard_normal((c_out, c_in)) * np.sqrt(2.0 / c_in)
        out = name or self._name("fc")
        self.nodes.append(helper.make_node(
            "Gemm", [x, self._const(w, "fc_w"), self._const(self.rng.normal(0, 0.1, c_out),
                                                            "fc_b")], [out], transB=1))
        return self.op("Relu", [out]) if relu else out

    def classifier(self, x: str, c_in: int, hidden: int, dropout_first: bool) -> str:
        """flatten -> [dropout] -> fc -> relu -> dropout -> fc -> relu -> [dropout] -> logits"""
        x = self.op("Flatten", [x], axis=1)
        if dropout_first:
            x = self.dropout(x)
        x = self.dropout(self.dense(x, c_in, hidden))
        x = self.dense(x, hidden, hidden)
        if not dropout_first:
            x = self.dropout(x)
        return self.dense(x, hidden, 1000, relu=False, name="logits")

    def model(self, name: str, size: int = 224, opset: int = 17) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                             ["N", 3, size, size])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
            self.inits)
        model = helper.make_model(graph, producer_name="edgec-examples",
                                  opset_imports=[helper.make_opsetid("", opset)])
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


def _lrn(b: _Builder, x: str) -> str:
    return b.op("LRN", [x], size=5, alpha=1e-4, beta=0.75, bias=1.0)


def alexnet(seed: int = 0, width: float = 1.0) -> onnx.ModelProto:
    """bvlc_alexnet's layers: conv11/4 -> LRN -> pool -> conv5 -> LRN -> pool -> conv3 x3 ->
    pool -> fc6 -> dropout -> fc7 -> dropout -> fc8."""
    b = _Builder(seed)
    c = [max(8, int(n * width)) for n in (96, 256, 384, 384, 256, 4096)]
    x = b.pool(_lrn(b, b.conv("input", 3, c[0], 11, stride=4, pad=2)))
    x = b.pool(_lrn(b, b.conv(x, c[0], c[1], 5)))
    x = b.pool(b.conv(b.conv(b.conv(x, c[1], c[2], 3), c[2], c[3], 3), c[3], c[4], 3))
    b.classifier(x, c[4] * 6 * 6, c[5], dropout_first=False)
    return b.model("alexnet", opset=9)


def vgg19(seed: int = 0, width: float = 1.0) -> onnx.ModelProto:
    """VGG-19: 16 3x3 convs in five stages with max pools, two 4096 fc layers with dropout."""
    b = _Builder(seed)
    x, c_in = "input", 3
    for channels, convs in ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)):
        c_out = max(8, int(channels * width))
        for _ in range(convs):
            x, c_in = b.conv(x, c_in, c_out, 3), c_out
        x = b.pool(x, k=2, stride=2)
    b.classifier(x, c_in * 7 * 7, max(8, int(4096 * width)), dropout_first=False)
    return b.model("vgg19", opset=9)


def googlenet(seed: int = 0, width: float = 1.0) -> onnx.ModelProto:
    """GoogLeNet / Inception v1 (bvlc_googlenet): stem with LRN, nine inception modules
    (1x1, 1x1->3x3, 1x1->5x5, pool->1x1 branches concatenated), global average pool, dropout
    0.4, fc."""
    b = _Builder(seed)

    def w(n: int) -> int:
        return max(4, int(n * width))

    x = b.pool(b.conv("input", 3, w(64), 7, stride=2), pad=1)
    x = _lrn(b, x)
    x = b.conv(b.conv(x, w(64), w(64), 1), w(64), w(192), 3)
    x, c_in = b.pool(_lrn(b, x), pad=1), w(192)
    modules = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "pool",
               (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64),
               (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
               (256, 160, 320, 32, 128, 128), "pool",
               (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]
    for spec in modules:
        if spec == "pool":
            x = b.pool(x, pad=1)
            continue
        c1, r3, c3, r5, c5, cp = (w(n) for n in spec)
        branches = [b.conv(x, c_in, c1, 1),
                    b.conv(b.conv(x, c_in, r3, 1), r3, c3, 3),
                    b.conv(b.conv(x, c_in, r5, 1), r5, c5, 5),
                    b.conv(b.pool(x, stride=1, pad=1), c_in, cp, 1)]
        x, c_in = b.op("Concat", branches, axis=1), c1 + c3 + c5 + cp
    x = b.dropout(b.op("GlobalAveragePool", [x]), ratio=0.4)
    b.dense(b.op("Flatten", [x], axis=1), c_in, 1000, relu=False, name="logits")
    return b.model("googlenet", opset=9)


MODELS = {"resnet50": resnet50, "mobilenet_v2": mobilenet_v2, "alexnet": alexnet,
          "vgg19": vgg19, "googlenet": googlenet}


def build(name: str, path: Path, **options) -> Path:
    """Write model ``name`` to ``path`` unless it is there already (``options``: e.g.
    ``width`` for the classic CNNs)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        onnx.save(MODELS[name](**options), str(tmp))
        tmp.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=float, default=None,
                        help="channel multiplier (alexnet, vgg19, googlenet only)")
    args = parser.parse_args()
    options = {} if args.width is None else {"width": args.width}
    print(build(args.model, args.out, **options))


if __name__ == "__main__":
    main()
