"""float8, float4 and 2/4-bit integer tensors (frontend/narrow_types.py, converters/narrow.py):
every conversion compared bit for bit with ml_dtypes / ONNX's reference over whole value
ranges, quantization to and from them, and the artifact's I/O in the declared types."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import edgec
from edgec.errors import UnsupportedModelError

FLOAT8 = {"float8_e4m3fn": TensorProto.FLOAT8E4M3FN, "float8_e4m3fnuz": TensorProto.FLOAT8E4M3FNUZ,
          "float8_e5m2": TensorProto.FLOAT8E5M2, "float8_e5m2fnuz": TensorProto.FLOAT8E5M2FNUZ}
FLOAT4 = {"float4_e2m1fn": TensorProto.FLOAT4E2M1}
SMALL_INTS = {"int4": TensorProto.INT4, "uint4": TensorProto.UINT4, "int2": TensorProto.INT2,
              "uint2": TensorProto.UINT2}


def _model(nodes, inputs, outputs, initializers=(), opset=23):
    graph = helper.make_graph(nodes, "narrow", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _float_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Every float16 bit pattern, and float32 values around each float8 format's rounding
    boundaries, ties, subnormals and range ends."""
    every16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38, 1e-7]
    values = [np.float32(s) for s in special]
    for dtype in (*FLOAT8, *FLOAT4):
        grid = np.arange(256 if dtype in FLOAT8 else 16, dtype=np.uint8).view(
            getattr(ml_dtypes, dtype)).astype(np.float32)
        grid = np.unique(grid[np.isfinite(grid)])
        middles = (grid[:-1] + grid[1:]) / 2  # ties: even wins
        for point in (*grid, *middles):
            values += [point, np.nextafter(point, np.float32(np.inf)),
                       np.nextafter(point, np.float32(-np.inf))]
        top = grid.max()
        values += [top * 1.0625, top * 1.2, top * 2]
    every32 = np.array(values, dtype=np.float32)
    return every16, np.concatenate([every32, -every32])


def _expected(x: np.ndarray, dtype: str, saturate: bool) -> np.ndarray:
    target = getattr(ml_dtypes, dtype)
    with np.errstate(all="ignore"):
        if saturate and dtype in FLOAT8:
            return numpy_helper.saturate_cast(x, target)
        return x.astype(target)


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    nan = np.isnan(want.astype(np.float32))
    assert np.array_equal(np.isnan(got.astype(np.float32)), nan)
    g, w = got.view(np.uint8)[~nan], want.view(np.uint8)[~nan]
    bad = np.flatnonzero(g != w)
    assert bad.size == 0, f"{bad.size} codes differ, e.g. {g[bad[:5]]} vs {w[bad[:5]]}"


def test_cast_to_float8_and_float4_is_bit_exact():
    x16, x32 = _float_inputs()
    nodes, outputs, expected = [], [], {}
    for source, x in (("x16", x16), ("x32", x32)):
        for dtype, elem in (*FLOAT8.items(), *FLOAT4.items()):
            for saturate in ((1, 0) if dtype in FLOAT8 else (1,)):
                out = f"{source}_{dtype}_{saturate}"
                nodes.append(helper.make_node("Cast", [source], [out], to=elem,
                                              saturate=saturate))
                outputs.append(helper.make_tensor_value_info(out, elem, [x.size]))
                expected[out] = _expected(x, dtype, bool(saturate))
    model = _model(nodes, [helper.make_tensor_value_info("x16", TensorProto.FLOAT16, [x16.size]),
                           helper.make_tensor_value_info("x32", TensorProto.FLOAT, [x32.size])],
                   outputs)
    artifact = edgec.compile(model, "host", tuning_logs=False)
    got = artifact.run({"x16": x16, "x32": x32})
    for name, want in expected.items():
        _same_bits(got[name], want)


@pytest.mark.parametrize("dtype", [*FLOAT8, *FLOAT4])
def test_float8_and_float4_decode_every_code(dtype):
    count = 16 if dtype in FLOAT4 else 256
    codes = np.arange(count, dtype=np.uint8).view(getattr(ml_dtypes, dtype))
    elem = {**FLOAT8, **FLOAT4}[dtype]
    model = _model([helper.make_node("Cast", ["x"], ["y32"], to=TensorProto.FLOAT),
                    helper.make_node("Cast", ["x"], ["y16"], to=TensorProto.FLOAT16),
                    helper.make_node("Cast", ["x"], ["y4"], to=TensorProto.INT32)],
                   [helper.make_tensor_value_info("x", elem, [count])],
                   [helper.make_tensor_value_info("y32", TensorProto.FLOAT, [count]),
                    helper.make_tensor_value_info("y16", TensorProto.FLOAT16, [count]),
                    helper.make_tensor_value_info("y4", TensorProto.INT32, [count])])
    artifact = edgec.compile(model, "host", tuning_logs=False)
    assert artifact.signature.inputs[0].dtype == dtype
    got = artifact.run({"x": codes})
    np.testing.assert_array_equal(got["y32"], codes.astype(np.float32))
    np.testing.assert_array_equal(got["y16"], codes.astype(np.float16))
    finite = np.isfinite(codes.astype(np.float32))
    np.testing.assert_array_equal(got["y4"][finite], codes.astype(np.float32)[finite]
                                  .astype(np.int32))


def test_small_integer_casts_match_the_reference():
    x = np.concatenate([np.arange(-20, 21, 0.5), [np.nan, np.inf, -np.inf, 1e9]]) \
        .astype(np.float32)
    ints = np.arange(-300, 300, 7, dtype=np.int32)
    nodes, outputs = [], []
    for dtype, elem in SMALL_INTS.items():
        nodes += [helper.make_node("Cast", ["x"], [f"f_{dtype}"], to=elem),
                  helper.make_node("Cast", ["i"], [f"i_{dtype}"], to=elem),
                  helper.make_node("Cast", [f"f_{dtype}"], [f"back_{dtype}"],
                                   to=TensorProto.FLOAT)]
        outputs += [helper.make_tensor_value_info(f"f_{dtype}", elem, [x.size]),
                    helper.make_tensor_value_info(f"i_{dtype}", elem, [ints.size]),
                    helper.make_tensor_value_info(f"back_{dtype}", TensorProto.FLOAT, [x.size])]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [x.size]),
                           helper.make_tensor_value_info("i", TensorProto.INT32, [ints.size])],
                   outputs, opset=25)
    got = edgec.compile(model, "host", tuning_logs=False).run({"x": x, "i": ints})
    for dtype in SMALL_INTS:
        target = getattr(ml_dtypes, dtype)
        with np.errstate(all="ignore"):
            want_f, want_i = x.astype(target), ints.astype(target)
        assert got[f"f_{dtype}"].dtype == target
        np.testing.assert_array_equal(got[f"f_{dtype}"].astype(int), want_f.astype(int))
        np.testing.assert_array_equal(got[f"i_{dtype}"].astype(int), want_i.astype(int))
        np.testing.assert_array_equal(got[f"back_{dtype}"], want_f.astype(np.float32))


def _quantize_model(elem: int, axis_size: int, block: int = 0):
    """x[4, 6] -> QuantizeLinear (per axis 1, or blocked along it) -> y; y -> DequantizeLinear
    -> z."""
    shape = (4, axis_size) if block else (axis_size,)
    scale = np.linspace(0.05, 0.4, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    zero_dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
    zero = np.zeros(shape, dtype=np.float32).astype(zero_dtype)
    if elem in (TensorProto.INT4, TensorProto.UINT4):
        zero = (np.arange(zero.size).reshape(shape) % 3).astype(zero_dtype)
    attrs = {"axis": 1, **({"block_size": block} if block else {})}
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["y"], **attrs),
             helper.make_node("DequantizeLinear", ["y", "scale", "zero"], ["z"], **attrs)]
    inits = [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(zero, "zero")]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6])],
                  [helper.make_tensor_value_info("y", elem, [4, 6]),
                   helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 6])], inits)


@pytest.mark.parametrize("dtype,elem,axis_size,block", [
    ("float8_e4m3fn", TensorProto.FLOAT8E4M3FN, 6, 0),
    ("float8_e5m2", TensorProto.FLOAT8E5M2, 6, 0),
    ("int4", TensorProto.INT4, 6, 0),
    ("uint4", TensorProto.UINT4, 3, 2),
])
def test_quantize_dequantize_narrow_types_match_onnx_reference(dtype, elem, axis_size, block):
    model = _quantize_model(elem, axis_size, block)
    x = (np.random.default_rng(1).standard_normal((4, 6)) * 3).astype(np.float32)
    x[0, :3] = [100.0, -100.0, 0.0]  # saturates
    want_y, want_z = ReferenceEvaluator(model).run(None, {"x": x})
    got = edgec.compile(model, "host", tuning_logs=False).run({"x": x})
    assert got["y"].dtype == want_y.dtype
    np.testing.assert_array_equal(got["y"].astype(np.float32), want_y.astype(np.float32))
    np.testing.assert_allclose(got["z"], want_z, rtol=1e-6)


def test_int4_weights_dequantized_into_a_matmul():
    """The int4 weight-only form: blocked int4 weights and zero points, DequantizeLinear,
    MatMul; the weights stay int8 values to the compiler."""
    rng = np.random.default_rng(2)
    w = rng.integers(-8, 8, (32, 8)).astype(ml_dtypes.int4)
    scale = rng.uniform(0.01, 0.1, (2, 8)).astype(np.float32)
    zero = rng.integers(-2, 3, (2, 8)).astype(ml_dtypes.int4)
    model = _model(
        [helper.make_node("DequantizeLinear", ["w", "scale", "zero"], ["wf"], axis=0,
                          block_size=16),
         helper.make_node("MatMul", ["x", "wf"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(scale, "scale"),
         numpy_helper.from_array(zero, "zero")])
    x = rng.standard_normal((3, 32)).astype(np.float32)
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    got = edgec.compile(model, "host", tuning_logs=False).run({"x": x})
    np.testing.assert_allclose(got["y"], want, rtol=1e-5, atol=1e-5)


def test_float8_inputs_are_checked_and_computing_on_them_is_refused():
    elem = TensorProto.FLOAT8E4M3FN
    passthrough = _model([helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0])],
                         [helper.make_tensor_value_info("x", elem, [2, 3])],
                         [helper.make_tensor_value_info("y", elem, [3, 2])])
    artifact = edgec.compile(passthrough, "host", tuning_logs=False)
    x = np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.float8_e4m3fn)
    y = artifact.run({"x": x})["y"]
    assert y.dtype == ml_dtypes.float8_e4m3fn
    np.testing.assert_array_equal(y.astype(np.float32), x.T.astype(np.float32))
    with pytest.raises(edgec.errors.RunInputError, match="float8_e4m3fn"):
        artifact.run({"x": x.astype(np.float32)})
    nan = _model([helper.make_node("IsNaN", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", elem, [2])],
                  [helper.make_tensor_value_info("y", TensorProto.BOOL, [2])])
    with pytest.raises(UnsupportedModelError, match="IsNaN node .* computes on 'x'"):
        edgec.compile(nan, "host", tuning_logs=False)


def test_onnxruntime_reference_reads_float8_outputs_and_refuses_float8_inputs():
    """``--check`` compares float8 outputs as values (ONNX Runtime's Python API returns their
    bit patterns as uint8) and says it cannot check a model that takes float8 inputs."""
    from edgec.errors import ModelError
    from edgec.reference import OrtReference

    elem = TensorProto.FLOAT8E4M3FN
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=elem)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                   [helper.make_tensor_value_info("y", elem, [6])], opset=21)
    x = np.array([0.3, -1.7, 500.0, np.inf, np.nan, 1e-4], dtype=np.float32)
    got = edgec.compile(model, "host", tuning_logs=False).run({"x": x})["y"]
    want = OrtReference(model.SerializeToString()).run({"x": x})["y"]
    assert want.dtype == got.dtype == ml_dtypes.float8_e4m3fn
    _same_bits(got, want)
    back = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                  [helper.make_tensor_value_info("x", elem, [6])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])], opset=21)
    with pytest.raises(ModelError, match="cannot take the input"):
        OrtReference(back.SerializeToString()).run({"x": x.astype(ml_dtypes.float8_e4m3fn)})


def test_float8_inputs_through_npz_files_and_the_cli(tmp_path):
    """An .npz file keeps only the bytes of a float8 array (dtype V1): ``edgec run --inputs``
    reads them as the type the model declares."""
    from tests.conftest import run_cli

    elem = TensorProto.FLOAT8E5M2
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                   [helper.make_tensor_value_info("x", elem, [4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], opset=21)
    path = tmp_path / "f8.onnx"
    onnx.save(model, path)
    x = np.array([0.5, -3.0, 57344.0, 1e-5], dtype=np.float32).astype(ml_dtypes.float8_e5m2)
    np.savez(tmp_path / "in.npz", x=x)
    assert run_cli("compile", path, "-o", tmp_path / "f8.tar").returncode == 0
    result = run_cli("run", tmp_path / "f8.tar", "--inputs", tmp_path / "in.npz", "--outputs",
                     tmp_path / "out.npz")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npz")["y"], x.astype(np.float32))
