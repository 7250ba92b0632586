"""Run-time inputs that do not match the artifact: one clear error each."""

from __future__ import annotations

import numpy as np
import pytest

import edgec
from edgec.errors import RunInputError
from edgec.runtime.inputs import load_npz, random_inputs, save_npz


@pytest.fixture(scope="module")
def artifact(digits_artifact_path):
    return edgec.load(digits_artifact_path)


def test_runs_with_dict_list_and_array(artifact):
    x = random_inputs(artifact.signature)["input"]
    by_name = artifact.run({"input": x})["logits"]
    assert by_name.shape == (1, 10)
    np.testing.assert_array_equal(artifact.run([x])["logits"], by_name)
    np.testing.assert_array_equal(artifact.run(x)["logits"], by_name)


def test_wrong_name(artifact):
    x = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(RunInputError, match=r"unknown input\(s\) 'image' and missing input\(s\) "
                                            r"'input'; the model of .* takes: input: "
                                            r"float32\[1,1,8,8\]"):
        artifact.run({"image": x})


def test_wrong_shape(artifact):
    with pytest.raises(RunInputError, match=r"input 'input' .* has shape \[2, 1, 8, 8\]; the "
                                            r"model was compiled for \[1, 1, 8, 8\] \(recompile "
                                            r"with --input-shape input:2,1,8,8"):
        artifact.run({"input": np.zeros((2, 1, 8, 8), np.float32)})


def test_wrong_dtype(artifact):
    with pytest.raises(RunInputError, match=r"has dtype float64; the model takes float32 "
                                            r"\(convert it with .astype\('float32'\)\)"):
        artifact.run({"input": np.zeros((1, 1, 8, 8))})


def test_wrong_count_and_type(artifact):
    x = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(RunInputError, match=r"2 input\(s\) given; the model .* takes 1"):
        artifact.run([x, x])
    with pytest.raises(RunInputError, match="must be a numpy array, not list"):
        artifact.run({"input": [[0.0]]})


def test_npz_round_trip_and_errors(tmp_path):
    arrays = {"a": np.arange(3), "b": np.ones((2, 2), np.float32)}
    save_npz(tmp_path / "x.npz", arrays)
    loaded = load_npz(tmp_path / "x.npz")
    assert set(loaded) == {"a", "b"} and np.array_equal(loaded["a"], arrays["a"])
    with pytest.raises(RunInputError, match="does not exist"):
        load_npz(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(RunInputError, match="not a readable .npz file"):
        load_npz(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(RunInputError, match="single .npy array"):
        load_npz(tmp_path / "single.npy")


def test_random_inputs_are_reproducible(artifact):
    a = random_inputs(artifact.signature, seed=3)["input"]
    b = random_inputs(artifact.signature, seed=3)["input"]
    assert a.dtype == np.float32 and np.array_equal(a, b) and 0 <= a.min() and a.max() < 1


def test_scalar_inputs_stay_scalars():
    from edgec.runtime.inputs import normalize_inputs
    from edgec.signature import Signature, TensorSpec

    signature = Signature((TensorSpec("cond", (), "bool"), TensorSpec("x", (2,), "float32")), ())
    arrays = normalize_inputs(signature, {"cond": np.array(True),
                                          "x": np.arange(4, dtype=np.float32)[::2]})
    assert arrays[0].shape == () and arrays[1].flags.c_contiguous
    assert list(arrays[1]) == [0.0, 2.0]
