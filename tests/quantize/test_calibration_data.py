"""Calibration data is checked against the model once; each mistake is one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.errors import CalibrationError
from edgec.quantize.data import load_calibration
from edgec.signature import TensorSpec

INPUTS = (TensorSpec("x", (2, 3, 4, 4), "float32"),)


def _array(samples: int = 8):
    return np.random.default_rng(0).standard_normal((2 * samples, 3, 4, 4)).astype(np.float32)


def test_npz_is_split_into_samples_of_the_input_shape(tmp_path):
    path = tmp_path / "calib.npz"
    data = _array(8)
    np.savez(path, x=data)
    loaded = load_calibration(path, INPUTS)
    assert len(loaded) == 8
    np.testing.assert_array_equal(loaded.samples[3]["x"], data[6:8])


def test_folder_of_npz_files_is_concatenated(tmp_path):
    np.savez(tmp_path / "a.npz", x=_array(4))
    np.savez(tmp_path / "b.npz", x=_array(5))
    assert len(load_calibration(tmp_path, INPUTS)) == 9


def test_iterable_of_dicts(tmp_path):
    samples = [{"x": np.zeros((2, 3, 4, 4), np.float64)} for _ in range(8)]
    loaded = load_calibration(iter(samples), INPUTS)
    assert loaded.samples[0]["x"].dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda p: np.savez(p, y=_array()), "lacks 'x' and has 'y', which the model does not take"),
    (lambda p: np.savez(p, x=_array()[:, :2]), "stack samples as [S*2, 3, 4, 4]"),
    (lambda p: np.savez(p, x=_array()[:15]), "has shape [15, 3, 4, 4]"),
    (lambda p: np.savez(p, x=_array(3)), "holds 3 calibration sample(s); at least 8"),
    (lambda p: np.savez(p, x=np.full((16, 3, 4, 4), np.nan, np.float32)), "NaN or infinite"),
    (lambda p: np.savez(p, x=_array().astype(np.int32)), "is int32; the model takes float32"),
    (lambda p: p.write_bytes(b"not a zip"), "is not a readable .npz file"),
])
def test_bad_npz_is_one_clear_error(tmp_path, make, message):
    path = tmp_path / "calib.npz"
    make(path)
    with pytest.raises(CalibrationError) as err:
        load_calibration(path, INPUTS)
    assert message in str(err.value)
    assert "calib.npz" in str(err.value)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(tmp_path / "nope.npz", INPUTS)
    with pytest.raises(CalibrationError, match="contains no .npz files"):
        load_calibration(tmp_path, INPUTS)


def test_files_in_a_folder_need_the_same_keys(tmp_path):
    np.savez(tmp_path / "a.npz", x=_array(4))
    np.savez(tmp_path / "b.npz", z=_array(4))
    with pytest.raises(CalibrationError, match="every file needs the same keys"):
        load_calibration(tmp_path, INPUTS)


def test_sample_of_the_wrong_shape_in_an_iterable():
    samples = [{"x": np.zeros((2, 3, 4, 4), np.float32)}] * 7 + [{"x": np.zeros((1, 3, 4, 4))}]
    with pytest.raises(CalibrationError, match="sample 7 .* has shape \\[1, 3, 4, 4\\]"):
        load_calibration(samples, INPUTS)
