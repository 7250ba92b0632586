"""Real exporter output: PyTorch models (residual and mobile CNNs, an FPN decoder, BERT,
DistilBERT, ViT, a Whisper encoder and GPT-2 from ``transformers``, LSTM/GRU keyword spotters,
recognisers and a streaming GRU) with random weights, exported by PyTorch's classic and dynamo
exporters (some with dynamic axes), compiled by edgec and compared with ONNX Runtime: the largest
error at most 1e-4 of the output's magnitude (``examples/models/torch_zoo.py``)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "examples" / "models"))
import torch_zoo  # noqa: E402

# A quick subset: one CNN, one recurrent and one transformer export, each exporter once.
QUICK = {("mobilenet_v3", "classic", False), ("lstm_kws", "dynamo", True),
         ("bert", "classic", True)}
# The suite exports every model with the dynamo exporter (torch.onnx.export's default), and
# LSTM and BERT with the classic exporter too (the GRU's classic export is the LSTM's, node for
# node, but its gates; tests/frontend/test_recurrent.py covers them); the whole matrix (34
# exports) runs as `python examples/models/torch_zoo.py`.
CLASSIC = {"lstm_kws", "bert"}


def _params():
    for case in torch_zoo.cases():
        name, exporter, dynamic = case
        if exporter == "classic" and name not in CLASSIC:
            continue
        if dynamic and case not in QUICK and (name, "dynamo", True) != case:
            continue
        marks = () if case in QUICK else (pytest.mark.slow,)
        yield pytest.param(*case, marks=marks, id="-".join(
            [name, exporter] + (["dynamic"] if dynamic else [])))


@pytest.mark.parametrize(("name", "exporter", "dynamic"), list(_params()))
def test_export_compiles_and_agrees_with_onnxruntime(name, exporter, dynamic, tmp_path):
    path, feeds = torch_zoo.export(name, exporter, tmp_path, dynamic)
    assert torch_zoo.check(path, feeds, dynamic) <= 1e-4


def test_recurrent_exports_keep_their_recurrent_nodes(tmp_path):
    """The LSTM/GRU go through edgec's converters, not an unrolled export."""
    import onnx

    for name, op in (("lstm_kws", "LSTM"), ("gru_crnn", "GRU"), ("streaming_gru", "GRU")):
        path, _ = torch_zoo.export(name, "dynamo", tmp_path)
        assert op in {n.op_type for n in onnx.load(path).graph.node}, name
