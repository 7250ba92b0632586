"""A real PaddleOCR model (PP-OCRv4 det) compiles for host and agrees with ONNX Runtime within
1e-4 absolute, through the CLI a user would run (rec and cls are compiled and checked the same
way in-process, once per session, by tests/passes/model_check.py)."""

from __future__ import annotations

import pytest

from tests.conftest import PADDLEOCR, run_cli


@pytest.mark.slow
@pytest.mark.parametrize("name", ["det"])  # rec and cls: in-process in tests/passes (model_check)
def test_compile_and_check_against_onnxruntime(paddleocr_models, tmp_path, name):
    model = paddleocr_models[name]
    shape = ",".join(str(d) for d in PADDLEOCR[name][1])
    out = tmp_path / f"{name}.edgec.tar"
    result = run_cli("compile", model, "--target", "host", "--input-shape", f"x:{shape}",
                     "-o", out)
    assert result.returncode == 0, result.stderr
    assert "kernels" in result.stdout
    result = run_cli("run", out, "--check", model, "--atol", "1e-4", "--rtol", "0",
                     "--repeat", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result     PASS" in result.stdout
    max_abs = [float(line.split("max abs err ")[1].split(",")[0])
               for line in result.stdout.splitlines() if line.startswith("check ")]
    assert max_abs and all(err <= 1e-4 for err in max_abs)
