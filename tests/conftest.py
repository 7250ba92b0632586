"""Shared fixtures: the real models (PaddleOCR from the rapidocr-onnxruntime package, the
project's digits CNN) and artifacts compiled once per session."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DIGITS_DIR = REPO / "examples" / "digits"
DIGITS_MODEL = DIGITS_DIR / "digits_cnn.onnx"

# name -> (file inside rapidocr_onnxruntime/models, input shape used in tests)
PADDLEOCR = {
    "det": ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 320, 320)),
    "rec": ("ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 320)),
    "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (1, 3, 48, 192)),
}


def paddleocr_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    assert spec is not None and spec.submodule_search_locations, (
        "the test models come from the rapidocr-onnxruntime package: pip install -e '.[test]'")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@pytest.fixture(scope="session")
def paddleocr_models() -> dict[str, Path]:
    models = {name: paddleocr_dir() / file for name, (file, _) in PADDLEOCR.items()}
    for path in models.values():
        assert path.is_file(), f"missing PaddleOCR model {path}"
    return models


@pytest.fixture(scope="session")
def digits_model() -> Path:
    return DIGITS_MODEL


@pytest.fixture(scope="session")
def digits_test_set() -> tuple[np.ndarray, np.ndarray]:
    images = np.load(DIGITS_DIR / "digits_test.npz")["input"]
    labels = np.load(DIGITS_DIR / "digits_test_labels.npy")
    return images, labels


@pytest.fixture(scope="session")
def digits_artifact_path(tmp_path_factory) -> Path:
    """The digits CNN compiled for host at batch 1, saved once for the session."""
    import edgec

    path = tmp_path_factory.mktemp("digits") / "digits.edgec.tar"
    edgec.compile(DIGITS_MODEL, "host", input_shapes={"input": (1, 1, 8, 8)}).save(path)
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``edgec`` command in a fresh process."""
    return subprocess.run([sys.executable, "-m", "edgec", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def read_members(path: Path) -> dict[str, bytes]:
    """The files inside an artifact, by name (for tests that tamper with them)."""
    import tarfile

    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def write_members(path: Path, members: dict[str, bytes]) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def flip_library_byte(artifact: Path, out: Path) -> Path:
    """A copy of ``artifact`` with one byte of its library changed (and the manifest not)."""
    members = read_members(artifact)
    lib = bytearray(members["model.so"])
    lib[len(lib) // 2] ^= 0xFF
    members["model.so"] = bytes(lib)
    return write_members(out, members)
