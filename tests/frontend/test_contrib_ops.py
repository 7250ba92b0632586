"""ONNX Runtime's com.microsoft transformer operators (and ONNX's RMSNormalization) against
ONNX Runtime itself: edgec's converters and TVM's, each form a fused export writes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.errors import UnsupportedModelError
from edgec.reference import OrtReference

B, S, H = 2, 5, 16
RNG = np.random.default_rng(0)
GAMMA, BETA, BIAS = (RNG.standard_normal(H).astype(np.float32) for _ in range(3))
QKV_BIAS = RNG.standard_normal(3 * H).astype(np.float32)
W_QKV = (RNG.standard_normal((H, 3 * H)) * 0.3).astype(np.float32)


def _t(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _model(node, inputs, outputs, inits=None, opset=17):
    graph = helper.make_graph([node], "g", inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model


def _ms(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, domain="com.microsoft", **attrs)


X, Y, SKIP = _t("x", [B, S, H]), _t("y", [B, S, H]), _t("skip", [B, S, H])
QKV = [_t("q", [B, S, H]), _t("k", [B, S, H]), _t("v", [B, S, H])]
MASK = _t("mask", [B, S], TensorProto.INT32)
CASES = {
    "SkipLayerNormalization": _model(_ms("SkipLayerNormalization", ["x", "skip", "g"], ["y"]),
                                     [X, SKIP], [Y], {"g": GAMMA}),
    "SkipLayerNormalization_beta_bias_sum": _model(
        _ms("SkipLayerNormalization", ["x", "skip", "g", "b", "bias"], ["y", "", "", "s"],
            epsilon=1e-5), [X, SKIP], [Y, _t("s", [B, S, H])],
        {"g": GAMMA, "b": BETA, "bias": BIAS}),
    "SkipSimplifiedLayerNormalization": _model(
        _ms("SkipSimplifiedLayerNormalization", ["x", "skip", "g", "bias"], ["y", "", "", "s"],
            epsilon=1e-5), [X, SKIP], [Y, _t("s", [B, S, H])], {"g": GAMMA, "bias": BIAS}),
    "FastGelu_bias": _model(_ms("FastGelu", ["x", "bias"], ["y"]), [X], [Y], {"bias": BIAS}),
    "BiasGelu": _model(_ms("BiasGelu", ["x", "bias"], ["y"]), [X], [Y], {"bias": BIAS}),
    "Gelu": _model(_ms("Gelu", ["x"], ["y"]), [X], [Y]),
    "QuickGelu": _model(_ms("QuickGelu", ["x"], ["y"], alpha=1.5), [X], [Y]),
    "Attention_packed_qkv": _model(_ms("Attention", ["x", "w", "b"], ["y"], num_heads=4), [X],
                                   [Y], {"w": W_QKV, "b": QKV_BIAS}),
    "MultiHeadAttention": _model(_ms("MultiHeadAttention", ["q", "k", "v"], ["y"],
                                     num_heads=4), QKV, [Y]),
    "MultiHeadAttention_bias_mask_causal": _model(
        _ms("MultiHeadAttention", ["q", "k", "v", "bias", "mask"], ["y"], num_heads=4,
            unidirectional=1), [*QKV, MASK], [Y], {"bias": QKV_BIAS}),
    "MultiHeadAttention_cross_scale": _model(
        _ms("MultiHeadAttention", ["q", "k", "v"], ["y"], num_heads=2, scale=0.3),
        [QKV[0], _t("k", [B, 7, H]), _t("v", [B, 7, 8])], [_t("y", [B, S, 8])]),
    "RMSNormalization": _model(helper.make_node("RMSNormalization", ["x", "g"], ["y"],
                                                epsilon=1e-5), [X], [Y], {"g": GAMMA}, opset=23),
}


def _feeds(model):
    feeds = {}
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if value.type.tensor_type.elem_type == TensorProto.INT32:
            mask = np.ones(shape, np.int32)
            mask[0, -2:] = 0
            feeds[value.name] = mask
        else:
            feeds[value.name] = RNG.standard_normal(shape).astype(np.float32)
    return feeds


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_onnxruntime(name):
    data = CASES[name].SerializeToString()
    feeds = _feeds(CASES[name])
    want = OrtReference(data).run(feeds)
    got = edgec.compile(data, "host", tuning_logs=False).run(feeds)
    for key, ref in want.items():
        np.testing.assert_allclose(got[key], ref, rtol=1e-4, atol=1e-5, err_msg=key)


def test_fused_attention_forms_tvm_cannot_convert_are_refused():
    model = _model(_ms("Attention", ["x", "w", "b"], ["y"], num_heads=4, unidirectional=1),
                   [X], [Y], {"w": W_QKV, "b": QKV_BIAS})
    with pytest.raises(UnsupportedModelError, match="unidirectional=1"):
        edgec.compile(model.SerializeToString(), "host", tuning_logs=False)
    model = _model(_ms("MultiHeadAttention", ["qkv"], ["y"], num_heads=4),
                   [_t("qkv", [B, S, 4, 3, 4])], [Y])
    with pytest.raises(UnsupportedModelError, match="packed QKV"):
        edgec.compile(model.SerializeToString(), "host", tuning_logs=False)
