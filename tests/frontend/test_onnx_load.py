"""Bad model files: each is one ModelError that names the file."""

from __future__ import annotations

import onnx
import pytest

from edgec.errors import ModelError
from edgec.frontend.onnx_load import load_onnx
from tests.onnx_models import add_relu


def test_loads_a_valid_model_and_hashes_its_bytes(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(add_relu(), path)
    loaded = load_onnx(path)
    assert loaded.name == "m"
    import hashlib

    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"model file '.*nope\.onnx' does not exist"):
        load_onnx(tmp_path / "nope.onnx")


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="is not a file"):
        load_onnx(tmp_path)


def test_text_file_is_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 10)
    with pytest.raises(ModelError, match=r"'.*notes\.onnx' is not an ONNX model"):
        load_onnx(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match="is empty; it is not an ONNX model"):
        load_onnx(path)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_truncated_model(tmp_path, digits_model, fraction):
    data = digits_model.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError, match=r"cut\.onnx.*(truncated|not a valid ONNX model)"):
        load_onnx(path)


def test_model_failing_onnx_checker(tmp_path):
    model = add_relu()
    model.graph.node[1].input[0] = "does_not_exist"
    path = tmp_path / "broken.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelError, match=r"'.*broken\.onnx' is not a valid ONNX model"):
        load_onnx(path)


def test_missing_external_data(tmp_path):
    model = add_relu(shape=(1, 512))
    path = tmp_path / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelError, match="external data"):
        load_onnx(path)


def test_model_proto_and_bytes_are_accepted():
    model = add_relu()
    assert load_onnx(model).origin == "<ModelProto>"
    assert load_onnx(model.SerializeToString()).origin == "<bytes>"
