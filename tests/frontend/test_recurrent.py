"""ONNX LSTM / GRU / RNN through edgec's converters, against ONNX Runtime on models built here
with random weights: every direction and layout, with and without initial states, sequence
lengths, peepholes, clip and non-default activations."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.errors import UnsupportedModelError
from edgec.reference import OrtReference

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6


def recurrent_model(kind, direction="forward", layout=0, bias=True, lens=False, initial=False,
                    peepholes=False, outputs=3, **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(sum(map(ord, kind + direction)))
    dirs = 2 if direction == "bidirectional" else 1
    gates = GATES[kind]

    def weight(name, *shape):
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * 0.5).astype(np.float32), name)

    inits = [weight("W", dirs, gates * HIDDEN, INPUT), weight("R", dirs, gates * HIDDEN, HIDDEN)]
    names = ["x", "W", "R", "", "", "", "", ""]
    if bias:
        inits.append(weight("B", dirs, 2 * gates * HIDDEN))
        names[3] = "B"
    x_shape = [SEQ, BATCH, INPUT] if layout == 0 else [BATCH, SEQ, INPUT]
    state_shape = [dirs, BATCH, HIDDEN] if layout == 0 else [BATCH, dirs, HIDDEN]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    if lens:
        inits.append(numpy_helper.from_array(np.array([5, 2, 4][:BATCH], np.int32), "lens"))
        names[4] = "lens"
    if initial:
        graph_inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, state_shape))
        names[5] = "h0"
        if kind == "LSTM":
            graph_inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT,
                                                              state_shape))
            names[6] = "c0"
    if peepholes:
        inits.append(weight("P", dirs, 3 * HIDDEN))
        names[7] = "P"
    names = names[:max(i for i, n in enumerate(names) if n) + 1]
    out_names = ["y", "y_h", "y_c"][:outputs if kind == "LSTM" else min(outputs, 2)]
    node = helper.make_node(kind, names, out_names, hidden_size=HIDDEN, direction=direction,
                            layout=layout, **attrs)
    y_shape = [SEQ, dirs, BATCH, HIDDEN] if layout == 0 else [BATCH, SEQ, dirs, HIDDEN]
    shapes = {"y": y_shape, "y_h": state_shape, "y_c": state_shape}
    graph = helper.make_graph(
        [node], kind.lower(), graph_inputs,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shapes[n]) for n in out_names],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _check(model, atol=2e-5, reference=None):
    """edgec against ONNX Runtime; ``reference``: the same model in layout 0 (ONNX Runtime
    has no layout 1), fed and read back transposed."""
    artifact = edgec.compile(model.SerializeToString(), "host", tuning_logs=False)
    rng = np.random.default_rng(3)
    inputs = {spec.name: rng.standard_normal(spec.shape).astype(np.float32)
              for spec in artifact.signature.inputs}
    got = artifact.run(inputs)
    if reference is None:
        want = OrtReference(model.SerializeToString()).run(inputs)
    else:
        swapped = {k: v.transpose(1, 0, 2) for k, v in inputs.items()}
        want = OrtReference(reference.SerializeToString()).run(swapped)
        want = {k: v.transpose(2, 0, 1, 3) if v.ndim == 4 else v.transpose(1, 0, 2)
                for k, v in want.items()}
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=atol, rtol=1e-4, err_msg=name)
    return artifact


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_match_onnxruntime(kind, direction):
    _check(recurrent_model(kind, direction))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_layout_1_initial_state_and_sequence_lengths(kind):
    _check(recurrent_model(kind, "bidirectional", layout=1, initial=True, lens=True),
           reference=recurrent_model(kind, "bidirectional", layout=0, initial=True, lens=True))


def test_lstm_peepholes_clip_and_no_bias():
    _check(recurrent_model("LSTM", "bidirectional", bias=False, peepholes=True, clip=0.7,
                           initial=True))


def test_lstm_input_forget_and_other_activations():
    _check(recurrent_model("LSTM", activations=["HardSigmoid", "Tanh", "Relu"],
                           activation_alpha=[0.3], activation_beta=[0.4], input_forget=1))


@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru_linear_before_reset(linear_before_reset):
    # (ONNX Runtime's GRU implements linear_before_reset 1 only with the default activations)
    _check(recurrent_model("GRU", "bidirectional", lens=True,
                           linear_before_reset=linear_before_reset))


def test_only_the_sequence_output_used():
    artifact = _check(recurrent_model("LSTM", outputs=1))
    assert [o.name for o in artifact.signature.outputs] == ["y"]


def test_unknown_activation_is_refused_with_the_node():
    model = recurrent_model("RNN", activations=["Gelu"])
    with pytest.raises(UnsupportedModelError, match="RNN node .* activation 'Gelu'"):
        edgec.compile(model.SerializeToString(), "host", tuning_logs=False)


def _crnn(seq=16) -> onnx.ModelProto:
    """A CRNN text recognizer's tail as exporters write it: features [batch, C, 1, seq] ->
    Squeeze -> Transpose to [seq, batch, C] -> bidirectional LSTM -> Transpose/Reshape of Y to
    [seq, batch, 2H] -> MatMul + Add (the classes)."""
    rng = np.random.default_rng(7)
    channels, hidden, classes = 32, 24, 11

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32),
                                       name)

    inits = [w("W", 2, 4 * hidden, channels), w("R", 2, 4 * hidden, hidden),
             w("B", 2, 8 * hidden), w("fc", 2 * hidden, classes), w("fc_b", classes),
             numpy_helper.from_array(np.array([2], np.int64), "axes"),
             numpy_helper.from_array(np.array([seq, 1, 2 * hidden], np.int64), "shape")]
    nodes = [helper.make_node("Squeeze", ["x", "axes"], ["s"]),
             helper.make_node("Transpose", ["s"], ["t"], perm=[2, 0, 1]),
             helper.make_node("LSTM", ["t", "W", "R", "B"], ["y"], hidden_size=hidden,
                              direction="bidirectional"),
             helper.make_node("Transpose", ["y"], ["yt"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["yt", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "fc"], ["m"]),
             helper.make_node("Add", ["m", "fc_b"], ["logits"])]
    graph = helper.make_graph(
        nodes, "crnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                      [1, channels, 1, seq])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [seq, 1, classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_crnn_tail_and_its_dynamic_int8_form():
    model = _crnn()
    _check(model, atol=1e-4)
    int8 = edgec.compile(model.SerializeToString(), "host", tuning_logs=False,
                         quantize="int8-dynamic")
    # the LSTM's input GEMMs, its per-step recurrent matmuls and the classifier: int8
    kernels = int8.report.quantization["int8_kernels"]
    assert sum(kernels.values()) >= 3, kernels
    x = {"x": np.random.default_rng(1).standard_normal((1, 32, 1, 16)).astype(np.float32)}
    want = OrtReference(model.SerializeToString()).run(x)["logits"]
    got = int8.run(x)["logits"]
    assert np.sqrt(np.mean((got - want) ** 2)) < 0.05 * np.sqrt(np.mean(want ** 2))
