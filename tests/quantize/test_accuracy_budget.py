"""--eval / --labels / --accuracy-budget: int8 measured against float, and the most sensitive
layers sent back to float until the loss is within the budget."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import edgec
from edgec.errors import CalibrationError, OptionError
from edgec.quantize.evaluate import parse_budget, search_float_layers
from tests.conftest import DIGITS_DIR

BATCH = 8


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    images = np.load(DIGITS_DIR / "digits_test.npz")["input"]
    labels = np.load(DIGITS_DIR / "digits_test_labels.npy")
    n = (len(images) // BATCH) * BATCH
    folder = tmp_path_factory.mktemp("digits")
    # calibration on the first half, evaluation on the rest (whole batches)
    half = (n // 2 // BATCH) * BATCH
    np.savez(folder / "calib.npz", input=images[:half])
    np.savez(folder / "eval.npz", input=images[half:n])
    np.save(folder / "labels.npy", labels[half:n])
    return folder


def _compile(model, folder, **kwargs):
    return edgec.compile(model, "host", input_shapes={"input": (BATCH, 1, 8, 8)},
                         tuning_logs=False, quantize="int8", calibration=folder / "calib.npz",
                         evaluation=folder / "eval.npz", per_channel=False, **kwargs)


def test_top1_of_float_and_int8(digits_model, digits_files):
    artifact = _compile(digits_model, digits_files, labels=digits_files / "labels.npy")
    ev = artifact.report.quantization["evaluation"]
    images = np.load(digits_files / "eval.npz")["input"]
    labels = np.load(digits_files / "labels.npy")
    # the float top-1 is the float model's: check it against edgec's own fp32 build
    fp32 = edgec.compile(digits_model, "host", input_shapes={"input": (BATCH, 1, 8, 8)},
                         tuning_logs=False)
    hits = sum(int((fp32.run({"input": images[i:i + BATCH]})["logits"].argmax(1)
                    == labels[i:i + BATCH]).sum()) for i in range(0, len(images), BATCH))
    assert ev["metric"] == "top-1" and ev["samples"] == len(images) // BATCH
    assert abs(ev["float_value"] - hits / len(images)) <= 1 / len(images)
    assert ev["loss"] <= 0.01
    assert any(line.startswith("accuracy   top-1") for line in artifact.report.lines())


def test_budget_sends_sensitive_layers_to_float(digits_model, digits_files):
    plain = _compile(digits_model, digits_files)
    loss = plain.report.quantization["evaluation"]["loss"]  # relative RMS error, no labels
    assert loss > 0
    budget = loss / 2
    tight = _compile(digits_model, digits_files, accuracy_budget=f"{100 * budget:.4f}%")
    entry = tight.report.quantization
    ev = entry["evaluation"]
    assert ev["within_budget"] and ev["loss"] <= budget
    assert ev["kept_float"] and ev["all_int8_loss"] == pytest.approx(loss, rel=1e-6)
    assert entry["float_fallbacks"]["accuracy budget"] == len(ev["kept_float"])
    assert sum(entry["int8_kernels"].values()) < sum(
        plain.report.quantization["int8_kernels"].values())
    precisions = [layer["precision"] for layer in entry["layers"]]
    assert precisions.count("float32") == len(ev["kept_float"])
    # the artifact itself is closer to float than the all-int8 one
    x = {"input": np.load(digits_files / "eval.npz")["input"][:BATCH]}
    fp32 = edgec.compile(digits_model, "host", input_shapes={"input": (BATCH, 1, 8, 8)},
                         tuning_logs=False).run(x)["logits"]
    err = [np.linalg.norm(a.run(x)["logits"] - fp32) for a in (plain, tight)]
    assert err[1] < err[0]


def test_search_takes_the_fewest_layers():
    from edgec.quantize.evaluate import Evaluation

    def trial(subset):  # holds once layers 0..4 of the order are float
        loss = max(0, 5 - len(subset)) * 0.01
        return Evaluation("output error", 1, 0.0, loss, 0.0, 0.0, loss <= 0)

    result, chosen, trials = search_float_layers([3, 1, 4, 0, 2, 5, 6, 7], trial)
    assert chosen == [3, 1, 4, 0, 2] and result.within_budget
    assert trials <= 6  # 1, 2, 4, 8, then 6 and 5


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"labels": "x.npy"}, OptionError, "--labels needs evaluation data"),
    ({"accuracy_budget": "1%"}, OptionError, "--accuracy-budget needs evaluation data"),
    ({"evaluation": "e.npz", "quantize": None, "calibration": None}, OptionError,
     "--eval measures a model quantized with calibration data"),
])
def test_option_mistakes(float_cnn, kwargs, error, match):
    args = {"quantize": "int8", "calibration": "c.npz", **kwargs}
    with pytest.raises(error, match=match):
        edgec.compile(float_cnn, "host", tuning_logs=False, **args)


@pytest.mark.parametrize("text", ["1", "0.5%", "2 %", ".5%"])
def test_budget_parses(text):
    assert parse_budget(text) == pytest.approx(float(text.strip(" %")) / 100)


@pytest.mark.parametrize("text", ["", "abc", "0%", "150%", "-1%"])
def test_bad_budget_is_an_option_error(text):
    with pytest.raises(OptionError, match="--accuracy-budget"):
        parse_budget(text)


def test_wrong_label_count_names_both_numbers(digits_model, digits_files, tmp_path):
    np.save(tmp_path / "few.npy", np.zeros(7, np.int64))
    with pytest.raises(CalibrationError, match="7 labels for"):
        _compile(digits_model, digits_files, labels=tmp_path / "few.npy")


def test_cli_prints_accuracy_and_report_shows_precision(digits_model, digits_files, tmp_path):
    out = tmp_path / "d.edgec.tar"
    cmd = [sys.executable, "-m", "edgec", "compile", str(digits_model), "--target", "host",
           "--input-shape", f"input:{BATCH},1,8,8", "--no-tuning-logs", "--quantize", "int8",
           "--calibration", str(digits_files / "calib.npz"), "--eval",
           str(digits_files / "eval.npz"), "--labels", str(digits_files / "labels.npy"),
           "--accuracy-budget", "5%", "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "accuracy   top-1" in done.stdout and "budget 5% holds" in done.stdout
    png = tmp_path / "sqnr.png"
    report = subprocess.run([sys.executable, "-m", "edgec", "quantize-report", str(out),
                             "--plot", str(png)], capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "prec" in report.stdout and "accuracy" in report.stdout
    from PIL import Image

    from edgec.quantize.plot import OUTPUT, WEIGHT

    with Image.open(png) as image:
        colors = {color for _, color in image.convert("RGB").getcolors(1 << 16)}
    assert image.size == (960, 420) and WEIGHT in colors and OUTPUT in colors
