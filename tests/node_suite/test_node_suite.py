"""ONNX's backend node suite through edgec: no case may compile and then give an output that
differs from the reference (a silent wrong answer). Cases edgec cannot compile must be refused
or fail (the model-coverage work); the cases below are those of every operator where wrong
answers were found, plus the fixes' own cases, which must pass."""

from __future__ import annotations

import pytest

from tests.node_suite.harness import case_names, run_case, run_cases

# Operators that gave wrong answers (or whose conversions edgec now owns).
OPERATORS = ("isinf", "convtranspose", "nonmaxsuppression", "roialign", "batchnorm",
             "layer_normalization", "attention", "mish", "softplus", "reduce_max", "reduce_min",
             "cast_FLOAT8", "castlike_FLOAT8", "dropout", "training_dropout", "if_seq",
             "causal_conv")
CASES = case_names(r"^test_(" + "|".join(OPERATORS) + ")")

# Cases that compiled and differed before their fix, and must now pass.
FIXED = {
    "test_isinf_negative", "test_isinf_positive", "test_convtranspose_output_shape",
    "test_batchnorm_epsilon_training_mode", "test_batchnorm_example_training_mode",
    "test_mish", "test_mish_expanded",
    "test_attention_23_boolmask_fullymasked_row_nan_robustness_expanded",
    "test_attention_causal_boolmask_nan_robustness_expanded",
    "test_attention_4d_fp16_expanded", "test_attention_4d_causal_fp16_expanded",
    *case_names(r"^test_layer_normalization_\dd_axis"),
    "test_layer_normalization_default_axis",
}
# Cases that compiled and differed before, and are now refused with a clear error.
REFUSED = {"test_nonmaxsuppression_two_batches", "test_nonmaxsuppression_two_classes",
           "test_roialign_mode_max", "test_cast_FLOAT8E5M2_to_FLOAT", "test_if_seq",
           "test_training_dropout"}


@pytest.mark.parametrize("name", CASES)
def test_node_case_is_right_or_refused(name):
    result = run_case(name)
    assert result.outcome != "wrong", result.detail
    if name in FIXED:
        assert result.outcome == "pass", result.detail
    if name in REFUSED:
        assert result.outcome == "refused", result.detail


@pytest.mark.slow
def test_no_case_of_the_whole_suite_is_wrong():
    """Every case ONNX generates (about 1900), each in a worker process."""
    results = run_cases(case_names())
    wrong = [f"{r.name}: {r.detail}" for r in results if r.outcome == "wrong"]
    crashed = [r.name for r in results if r.outcome in ("crash", "timeout")]
    assert not wrong, "\n".join(wrong)
    assert len(results) > 1500 and sum(r.outcome == "pass" for r in results) > 800
    assert not crashed, crashed
