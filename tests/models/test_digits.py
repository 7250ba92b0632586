"""The project's own model: accuracy is measurable, and edgec must not lose any."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import edgec
from edgec.reference import OrtReference, compare_outputs
from tests.conftest import DIGITS_DIR


def test_compiled_accuracy_matches_onnxruntime(digits_model, digits_test_set):
    images, labels = digits_test_set
    artifact = edgec.compile(digits_model, "host", input_shapes={"input": images.shape})
    logits = artifact.run({"input": images})["logits"]
    expected = OrtReference(digits_model).run({"input": images})["logits"]
    assert compare_outputs({"logits": logits}, {"logits": expected}, atol=1e-4, rtol=0).passed
    accuracy = float((logits.argmax(1) == labels).mean())
    assert accuracy == float((expected.argmax(1) == labels).mean())
    assert accuracy > 0.95


def _load_trainer():
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS_DIR / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_gradients_match_finite_differences():
    train = _load_trainer()
    params, running = train.init_params(0)
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 8, 8)).astype(np.float64)
    params = {k: v.astype(np.float64) for k, v in params.items()}
    y = np.array([1, 2, 3, 4])

    def loss(p):
        logits, caches = train.forward(p, {i: dict(r) for i, r in running.items()}, x, True)
        z = logits - logits.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(4), y].mean(), logits, caches

    value, logits, caches = loss(params)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    probs[np.arange(4), y] -= 1
    grads = train.backward(params, caches, probs / 4)
    for name in ("conv0.weight", "bn1.weight", "conv2.bias", "fc.weight"):
        index = tuple(0 for _ in params[name].shape)
        bumped = {k: v.copy() for k, v in params.items()}
        bumped[name][index] += 1e-6
        numeric = (loss(bumped)[0] - value) / 1e-6
        assert abs(numeric - grads[name][index]) < 1e-4 * max(1, abs(numeric)), name


@pytest.mark.slow
def test_training_reproduces_the_bundled_model(tmp_path):
    train = _load_trainer()
    x_train, y_train, x_test, y_test = train.load_data(0)
    params, running = train.train(x_train, y_train, epochs=30, seed=0)
    assert train.accuracy(params, running, x_test, y_test) > 0.95
    train.export_onnx(params, running, tmp_path / "digits.onnx")
    # Floating-point summation order differs between BLAS builds, so weights drift apart over
    # training; what must reproduce is the behaviour of the bundled model.
    fresh = OrtReference(tmp_path / "digits.onnx").run({"input": x_test})["logits"]
    bundled = OrtReference(DIGITS_DIR / "digits_cnn.onnx").run({"input": x_test})["logits"]
    assert float((fresh.argmax(1) == bundled.argmax(1)).mean()) > 0.97
