"""The MNIST CNN the project trains (``examples/mnist``, 91% top-1 on 1000 held-out real
images): int8 keeps its top-1 within 1 point, per output channel, with min/max and with the
(guarded) entropy calibration."""

from __future__ import annotations

import numpy as np
import pytest

import edgec
from edgec.quantize.ranges import BINS, Stats, value_range
from tests.conftest import REPO
from tests.quantize.conftest import int8_convs

MNIST = REPO / "examples" / "mnist"
BATCH = 50


@pytest.fixture(scope="module")
def mnist():
    data = np.load(MNIST / "mnist_test.npz")
    images = data["images"].astype(np.float32) / 255.0
    # calibration from the first 200 (no labels used), top-1 on the other 800
    return images[:200], images[200:], data["labels"][200:]


def _top1(artifact, images, labels) -> float:
    predicted = np.concatenate([artifact.run({"input": images[i:i + BATCH]})["logits"].argmax(1)
                                for i in range(0, len(images), BATCH)])
    return float(np.mean(predicted == labels))


@pytest.fixture(scope="module")
def fp32_top1(mnist):
    _, images, labels = mnist
    artifact = edgec.compile(MNIST / "mnist_cnn.onnx", "host", tuning_logs=False,
                             input_shapes={"input": (BATCH, 1, 28, 28)})
    return _top1(artifact, images, labels)


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_mnist_int8_keeps_top1(mnist, fp32_top1, method):
    calib, images, labels = mnist
    samples = [{"input": calib[i:i + BATCH]} for i in range(0, len(calib), BATCH)] * 2
    artifact = edgec.compile(MNIST / "mnist_cnn.onnx", "host", tuning_logs=False,
                             input_shapes={"input": (BATCH, 1, 28, 28)}, quantize="int8",
                             calibration=samples, calibration_method=method)
    assert int8_convs(artifact.report.rewrites) == 3
    assert fp32_top1 >= 0.85
    assert _top1(artifact, images, labels) >= fp32_top1 - 0.01


def test_entropy_keeps_the_signal_past_a_background_spike():
    """A ReLU output that is mostly one constant (the response to blank background) and
    sometimes large: KL alone clips just past the spike; the guard keeps the full range."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.full(200_000, 0.9), rng.uniform(0, 6.0, 4_000)]).astype(np.float32)
    stats = Stats()
    stats.observe_range(x)
    stats.observe_histogram(x)
    lo, hi = value_range(stats, "entropy")
    assert lo == 0.0 and hi > 5.5, hi
    assert stats.magnitudes.size == BINS
