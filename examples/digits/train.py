#!/usr/bin/env python3
"""Train a small CNN on scikit-learn's bundled digits (8x8 images) and export it to ONNX.

Pure NumPy (no deep-learning framework), deterministic for a given seed. The exported graph is
what a PyTorch export of the same network looks like: Conv -> BatchNormalization -> Relu blocks,
MaxPool, GlobalAveragePool, Flatten, Gemm, with a symbolic batch dimension ``N`` on the input.

    python examples/digits/train.py [--out-dir examples/digits] [--epochs 30] [--seed 0]

writes ``digits_cnn.onnx``, ``digits_test.npz`` (the held-out images, as the model's ``input``,
ready for ``edgec run --inputs``) and ``digits_test_labels.npy`` (their labels). It prints the
test accuracy of the NumPy model it exports.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHANNELS = (16, 32, 64)
NUM_CLASSES = 10
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def load_data(seed: int = 0):
    """Digits scaled to [0, 1], split 80/20 with a fixed permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(len(x) * 0.8)
    train, test = order[:split], order[split:]
    return x[train], y[train], x[test], y[test]


# -- layers (NCHW), forward returns (out, cache), backward returns input grad (+ param grads) --

def _im2col(x, k=3, pad=1):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, w), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * k * k)


def _col2im(cols, shape, k=3, pad=1):
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + h, j:j + w] += cols[:, :, i, j]
    return xp[:, :, pad:pad + h, pad:pad + w]


def conv_forward(x, w, b):
    n, _, h, wd = x.shape
    cols = _im2col(x)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), (x.shape, cols)


def conv_backward(dout, w, cache):
    shape, cols = cache
    d = dout.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(axis=0)
    dx = _col2im(d @ w.reshape(w.shape[0], -1), shape)
    return dx, dw, db


def bn_forward(x, gamma, beta, running, training):
    if training:
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        running["mean"] = (1 - BN_MOMENTUM) * running["mean"] + BN_MOMENTUM * mean
        running["var"] = (1 - BN_MOMENTUM) * running["var"] + BN_MOMENTUM * var
    else:
        mean, var = running["mean"], running["var"]
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
    return gamma[None, :, None, None] * xhat + beta[None, :, None, None], (xhat, inv, gamma)


def bn_backward(dout, cache):
    xhat, inv, gamma = cache
    m = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dbeta = dout.sum(axis=(0, 2, 3))
    dxhat = dout * gamma[None, :, None, None]
    dx = (inv[None, :, None, None] / m) * (
        m * dxhat - dxhat.sum(axis=(0, 2, 3))[None, :, None, None]
        - xhat * (dxhat * xhat).sum(axis=(0, 2, 3))[None, :, None, None])
    return dx, dgamma, dbeta


def maxpool_forward(x):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = r.max(axis=(3, 5))
    mask = r == out[:, :, :, None, :, None]
    return out, mask


def maxpool_backward(dout, mask):
    d = mask * dout[:, :, :, None, :, None]
    d = d / np.maximum(mask.sum(axis=(3, 5), keepdims=True), 1)
    n, c, h2, _, w2, _ = d.shape
    return d.reshape(n, c, h2 * 2, w2 * 2)


def init_params(seed: int):
    rng = np.random.default_rng(seed)
    params, c_in = {}, 1
    for i, c_out in enumerate(CHANNELS):
        fan_in = c_in * 9
        params[f"conv{i}.weight"] = (rng.standard_normal((c_out, c_in, 3, 3)) *
                                     np.sqrt(2.0 / fan_in)).astype(np.float32)
        params[f"conv{i}.bias"] = np.zeros(c_out, np.float32)
        if i < 2:
            params[f"bn{i}.weight"] = np.ones(c_out, np.float32)
            params[f"bn{i}.bias"] = np.zeros(c_out, np.float32)
        c_in = c_out
    params["fc.weight"] = (rng.standard_normal((NUM_CLASSES, c_in)) *
                           np.sqrt(1.0 / c_in)).astype(np.float32)
    params["fc.bias"] = np.zeros(NUM_CLASSES, np.float32)
    running = {i: {"mean": np.zeros(c, np.float32), "var": np.ones(c, np.float32)}
               for i, c in enumerate(CHANNELS[:2])}
    return params, running


def forward(params, running, x, training):
    caches = {}
    h = x
    for i in range(3):
        h, caches[f"conv{i}"] = conv_forward(h, params[f"conv{i}.weight"], params[f"conv{i}.bias"])
        if i < 2:
            h, caches[f"bn{i}"] = bn_forward(h, params[f"bn{i}.weight"], params[f"bn{i}.bias"],
                                             running[i], training)
        caches[f"relu{i}"] = h > 0
        h = np.maximum(h, 0)
        if i == 1:
            h, caches["pool"] = maxpool_forward(h)
    caches["gap_shape"] = h.shape
    feat = h.mean(axis=(2, 3))
    caches["feat"] = feat
    logits = feat @ params["fc.weight"].T + params["fc.bias"]
    return logits, caches


def backward(params, caches, dlogits):
    grads = {"fc.weight": dlogits.T @ caches["feat"], "fc.bias": dlogits.sum(axis=0)}
    dfeat = dlogits @ params["fc.weight"]
    n, c, h, w = caches["gap_shape"]
    dh = np.broadcast_to(dfeat[:, :, None, None] / (h * w), (n, c, h, w)).copy()
    for i in reversed(range(3)):
        if i == 1:
            dh = maxpool_backward(dh, caches["pool"])
        dh = dh * caches[f"relu{i}"]
        if i < 2:
            dh, grads[f"bn{i}.weight"], grads[f"bn{i}.bias"] = bn_backward(dh, caches[f"bn{i}"])
        dh, grads[f"conv{i}.weight"], grads[f"conv{i}.bias"] = conv_backward(
            dh, params[f"conv{i}.weight"], caches[f"conv{i}"])
    return grads


def train(x, y, epochs: int = 30, seed: int = 0, batch: int = 64, lr: float = 3e-3):
    """Adam on softmax cross-entropy; returns (params, running BN statistics)."""
    params, running = init_params(seed)
    rng = np.random.default_rng(seed + 1)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            logits, caches = forward(params, running, x[idx], training=True)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            probs[np.arange(len(idx)), y[idx]] -= 1.0
            grads = backward(params, caches, probs / len(idx))
            step += 1
            for k in params:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                mhat = m[k] / (1 - 0.9 ** step)
                vhat = v[k] / (1 - 0.999 ** step)
                params[k] = (params[k] - lr * mhat / (np.sqrt(vhat) + 1e-8)).astype(np.float32)
    return params, running


def accuracy(params, running, x, y) -> float:
    logits, _ = forward(params, running, x, training=False)
    return float((logits.argmax(axis=1) == y).mean())


def export_onnx(params, running, path: Path, opset: int = 17, name: str = "digits_cnn",
                input_hw: tuple[int, int] = (8, 8)) -> onnx.ModelProto:
    """The network as a PyTorch exporter would write it (batch dimension symbolic)."""
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in params.items()]
    for i in range(2):
        inits.append(numpy_helper.from_array(running[i]["mean"].astype(np.float32),
                                             f"bn{i}.running_mean"))
        inits.append(numpy_helper.from_array(running[i]["var"].astype(np.float32),
                                             f"bn{i}.running_var"))
    nodes, h = [], "input"
    for i in range(3):
        nodes.append(helper.make_node("Conv", [h, f"conv{i}.weight", f"conv{i}.bias"],
                                      [f"/conv{i}/Conv_output_0"], name=f"/conv{i}/Conv",
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
        h = f"/conv{i}/Conv_output_0"
        if i < 2:
            nodes.append(helper.make_node(
                "BatchNormalization", [h, f"bn{i}.weight", f"bn{i}.bias", f"bn{i}.running_mean",
                                       f"bn{i}.running_var"],
                [f"/bn{i}/BatchNormalization_output_0"], name=f"/bn{i}/BatchNormalization",
                epsilon=BN_EPS, momentum=1 - BN_MOMENTUM))
            h = f"/bn{i}/BatchNormalization_output_0"
        nodes.append(helper.make_node("Relu", [h], [f"/relu{i}/Relu_output_0"],
                                      name=f"/relu{i}/Relu"))
        h = f"/relu{i}/Relu_output_0"
        if i == 1:
            nodes.append(helper.make_node("MaxPool", [h], ["/pool/MaxPool_output_0"],
                                          name="/pool/MaxPool", kernel_shape=[2, 2],
                                          strides=[2, 2]))
            h = "/pool/MaxPool_output_0"
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["/gap/GlobalAveragePool_output_0"],
                                  name="/gap/GlobalAveragePool"))
    nodes.append(helper.make_node("Flatten", ["/gap/GlobalAveragePool_output_0"],
                                  ["/Flatten_output_0"], name="/Flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"],
                                  ["logits"], name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, *input_hw])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        inits)
    model = helper.make_model(graph, producer_name="edgec-examples", producer_version="1",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_data(args.seed)
    params, running = train(x_train, y_train, epochs=args.epochs, seed=args.seed)
    acc = accuracy(params, running, x_test, y_test)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(params, running, args.out_dir / "digits_cnn.onnx")
    np.savez(args.out_dir / "digits_test.npz", input=x_test)
    np.save(args.out_dir / "digits_test_labels.npy", y_test)
    print(f"test accuracy {acc:.4f} on {len(y_test)} held-out digits; wrote digits_cnn.onnx, "
          f"digits_test.npz and digits_test_labels.npy to {args.out_dir}")


if __name__ == "__main__":
    main()
