"""ONNX's backend node suite through edgec: no case may compile and then give an output that
differs from the reference (a silent wrong answer). Cases edgec cannot compile must be refused
or fail (the model-coverage work); the cases below are those of every operator where wrong
answers were found, plus the fixes' own cases, which must pass. The whole suite (about 1900
cases, three minutes) runs as a script: ``python -m tests.node_suite.harness``."""

from __future__ import annotations

import pytest

from tests.node_suite.harness import case_names, run_case


def _sample(names: list[str], per_operator: int = 2) -> list[str]:
    """The first cases of each operator (``test_<op>_...``): the converters' coverage in the
    suite; every case runs in the harness (``python -m tests.node_suite.harness``)."""
    kept: dict[str, list[str]] = {}
    for name in names:
        group = kept.setdefault(name.split("_")[1], [])
        if len(group) < per_operator:
            group.append(name)
    return [n for group in kept.values() for n in group]

# Operators that gave wrong answers (or whose conversions edgec now owns): all their cases,
# but of Attention's 186 (a minute to compile) those of the kinds that were wrong (masked
# rows, float16, NaN robustness, windows).
OPERATORS = ("isinf", "convtranspose", "nonmaxsuppression", "roialign", "batchnorm",
             "layer_normalization", "mish", "softplus", "reduce_max", "reduce_min",
             "cast_FLOAT8", "castlike_FLOAT8", "dropout", "training_dropout", "if_seq",
             "causal_conv", "lstm", "gru", "rnn", "simple_rnn", "convinteger", "celu",
             "lpnormalization", "l2normalization", "mod")
ATTENTION_KINDS = ("fullymasked", "nan", "fp16", "boolmask", "softmax_precision",
                   "local_window", "structural_empty")
# (every case of those kinds runs in the harness; the suite takes every third, about 12)
ATTENTION_WRONG_ONCE = [n for n in case_names(r"^test_attention")
                        if any(k in n for k in ATTENTION_KINDS)][::3]
# Resize: the cases that gave wrong answers once their scales could be frozen (antialias; scales
# that do not divide the input size), and the dynamic-quantization ones that crashed ConvertLayout
RESIZE_REFUSED = {
    "test_resize_downsample_scales_cubic", "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside",
    "test_resize_downsample_scales_cubic_align_corners",
    "test_resize_downsample_scales_cubic_antialias", "test_resize_downsample_scales_linear",
    "test_resize_downsample_scales_linear_antialias",
    "test_resize_downsample_sizes_cubic_antialias", "test_resize_downsample_sizes_linear_antialias"}
# ONNX's Attention (opset 23; TVM's converter is ONNX Runtime's com.microsoft one): the plain,
# causal, grouped-query, KV-cache, softcap and different-head-size cases
ATTENTION = case_names(r"^test_attention_(3d|4d)(_gqa|_causal|_with_past_and_present|_softcap"
                       r"|_diff_heads_sizes|_attn_mask|_attn_mask_bool|_scaled"
                       r"|_with_past_and_present_qk_matmul_(bias|softcap|softmax))?$")[::3]
# The losses (edgec's converters; TVM's importer has neither), their fused forms
LOSSES = _sample([n for n in case_names(r"^test_(nllloss|sce)_") if not n.endswith("_expanded")],
                 6)
# edgec's converters for windows, CenterCropPad, ReverseSequence, Col2Im, RotaryEmbedding; and
# models whose every input decides a shape (all frozen: the outputs are constants)
MORE = _sample([n for n in case_names(r"^test_(hann|hamming|blackman)window|^test_centercroppad"
                              r"|^test_reversesequence_(batch|time)$|^test_col2im"
                              r"|^test_rotary_embedding|^test_constantofshape"
                              r"|^test_range_(float|int32)_type\w*delta$"
                              r"|^test_pow_types|^test_(sinh|cosh)|^test_rms_normalization"
                              r"|^test_onehot|^test_eyelike|^test_constant_pad"
                              r"|^test_resize_\w*(axes|not_larger)"
                              r"|^test_(swish|swiglu|cumprod|tensorscatter|bitshift)"
                              r"|^test_(dft|stft)|^test_scan9|^test_linear_attention_\w*_expanded$"
                              r"|^test_affine_grid_\dd(_align_corners)?$"
                              r"|^test_reduce_m(ax|in)_\w*bool|^test_(de)?quantizelinear_blocked")
        if (not n.endswith("_expanded") or "linear_attention" in n) and "5d" not in n
        and "bfloat16" not in n], 3)
# Attention's opset-24/25 forms: an external cache's valid lengths, sliding windows
ATTENTION_NEWER = [n for n in case_names(r"^test_attention") if not n.endswith("_expanded")
                   and any(k in n for k in ("nonpad", "window", "_24_", "bf16"))][::3]
NARROW = ["test_cast_FLOAT8E5M2_to_FLOAT", "test_cast_FLOAT_to_FLOAT8E4M3FN",
          "test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2", "test_castlike_FLOAT_to_FLOAT4E2M1",
          "test_cast_INT4_to_FLOAT", "test_cast_FLOAT_to_UINT2", "test_quantizelinear_int4",
          "test_dequantizelinear_e4m3fn", "test_quantizelinear_float4e2m1",
          "test_dequantizelinear_uint4"]
# Opset 26/27 operators (BitCast; LinearAttention and CausalConvWithState expanded into their
# ONNX functions), Compress with its condition frozen, normalizations whose fused kernel the
# default schedule broke (TVM's code generation failed), Loop unrolled (its trip count frozen)
NEWER = ["test_bitcast_float32_to_int32", "test_bitcast_int64_to_float64",
         "test_linear_attention_gated_delta", "test_linear_attention_linear",
         "test_causal_conv_with_state_basic", "test_causal_conv_with_state_silu_with_past_state",
         "test_compress_0", "test_mvn_expanded", "test_group_normalization_example_expanded",
         "test_loop11", "test_range_float_type_positive_delta_expanded"]
CASES = NARROW + NEWER + sorted(RESIZE_REFUSED) + ATTENTION + ATTENTION_NEWER + LOSSES + MORE + [
    "test_resize_downsample_sizes_nearest_not_smaller"] + case_names(r"^test_dynamicquantizelinear") + case_names(
    r"^test_resize_upsample_scales_(cubic|linear)") + case_names(
    r"^test_(" + "|".join(OPERATORS) + ")") + ATTENTION_WRONG_ONCE

# Cases that compiled and differed before their fix (or were refused), and must now pass.
FIXED = {
    "test_isinf_negative", "test_isinf_positive", "test_convtranspose_output_shape",
    "test_batchnorm_epsilon_training_mode", "test_batchnorm_example_training_mode",
    "test_mish", "test_mish_expanded",
    "test_attention_23_boolmask_fullymasked_row_nan_robustness_expanded",
    "test_attention_causal_boolmask_nan_robustness_expanded",
    "test_attention_4d_fp16_expanded", "test_attention_4d_causal_fp16_expanded",
    *case_names(r"^test_layer_normalization_\dd_axis"),
    "test_layer_normalization_default_axis",
    # edgec's recurrent converters (TVM's importer has none), batchwise (layout 1) included
    *case_names(r"^test_(lstm|gru|rnn|simple_rnn)_"),
    *case_names(r"^test_dynamicquantizelinear"),
    "test_convinteger_with_padding", "test_convinteger_without_padding", "test_celu",
    "test_celu_expanded", "test_lpnormalization_default",
    *case_names(r"^test_l2normalization"),  # an all-zero slice gave NaN
    # thresholds frozen as asked; a box at exactly the IoU threshold kept (TVM: >=)
    *case_names(r"^test_nonmaxsuppression"),
    *ATTENTION, *ATTENTION_NEWER, *LOSSES, *MORE,
    *ATTENTION_WRONG_ONCE,
    # scales frozen, as the error asks
    *case_names(r"^test_resize_upsample_scales_(cubic|linear)(_A_n0p5_exclude_outside"
                r"|_align_corners|_asymmetric)?$"),
    # float8, float4, 2/4-bit tensors held in bytes (every conversion: test_narrow_types.py)
    *NARROW, *NEWER,
}
# Cases that compiled and differed before, and are now refused with a clear error.
REFUSED = {"test_roialign_mode_max", "test_if_seq",
           "test_training_dropout", *RESIZE_REFUSED,
           "test_resize_downsample_sizes_nearest_not_smaller"}


@pytest.mark.parametrize("name", list(dict.fromkeys(CASES)))
def test_node_case_is_right_or_refused(name):
    result = run_case(name)
    assert result.outcome != "wrong", result.detail
    if name in FIXED:
        assert result.outcome == "pass", result.detail
    if name in REFUSED:
        assert result.outcome == "refused", result.detail
