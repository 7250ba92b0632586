"""A zoo of real exporter output: PyTorch models in the architectures users deploy (residual
CNNs, MobileNet V2/V3 blocks, an EfficientNet-style block, an FPN-style decoder, transformer
encoders from the ``transformers`` package, LSTM/GRU keyword spotters and recognisers, a
streaming GRU with its state), random weights, exported by ``torch.onnx.export`` with the
classic TorchScript exporter and the dynamo exporter.

    python examples/models/torch_zoo.py [--out DIR] [-k NAME] [--exporter classic|dynamo]

compiles every model with edgec for this machine and compares it with ONNX Runtime (error
relative to the output's magnitude). The tests (``tests/models/test_torch_zoo.py``) run the same.
Needs ``torch`` (CPU), ``onnxscript`` (the dynamo exporter) and ``transformers``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

EXPORTERS = ("classic", "dynamo")


def _torch():
    import torch

    torch.manual_seed(0)
    return torch


# -- CNNs (torchvision-style blocks, written here) ------------------------------------------------

def _conv_bn(torch, cin, cout, k=3, stride=1, groups=1, act="relu"):
    nn = torch.nn
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    acts = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "silu": nn.SiLU,
            None: None}
    if acts[act] is not None:
        layers.append(acts[act]())
    return nn.Sequential(*layers)


def resnet(torch, width=16, classes=10):
    nn = torch.nn

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = _conv_bn(torch, cin, cout, 3, stride)
            self.b = _conv_bn(torch, cout, cout, 3, 1, act=None)
            self.skip = _conv_bn(torch, cin, cout, 1, stride, act=None) \
                if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            return torch.relu(self.b(self.a(x)) + self.skip(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(_conv_bn(torch, 3, width, 7, 2), nn.MaxPool2d(3, 2, 1))
            self.layers = nn.Sequential(Basic(width, width, 1), Basic(width, 2 * width, 2),
                                        Basic(2 * width, 4 * width, 2))
            self.fc = nn.Linear(4 * width, classes)

        def forward(self, x):
            x = self.layers(self.stem(x))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return ResNet(), (torch.randn(1, 3, 64, 64),)


def mobilenet_v2(torch, classes=10):
    nn = torch.nn

    class Inverted(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            mid = cin * expand
            self.body = nn.Sequential(_conv_bn(torch, cin, mid, 1, act="relu6"),
                                      _conv_bn(torch, mid, mid, 3, stride, mid, "relu6"),
                                      _conv_bn(torch, mid, cout, 1, act=None))
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    model = nn.Sequential(_conv_bn(torch, 3, 16, 3, 2, act="relu6"), Inverted(16, 16, 1, 1),
                          Inverted(16, 24, 2, 6), Inverted(24, 24, 1, 6), Inverted(24, 32, 2, 6),
                          _conv_bn(torch, 32, 64, 1, act="relu6"), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, classes))
    return model, (torch.randn(1, 3, 64, 64),)


def mobilenet_v3(torch, classes=10):
    nn = torch.nn

    class SqueezeExcite(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

        def forward(self, x):
            s = nn.functional.adaptive_avg_pool2d(x, 1)
            return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))

    class Block(nn.Module):
        def __init__(self, cin, mid, cout, k, stride):
            super().__init__()
            self.body = nn.Sequential(_conv_bn(torch, cin, mid, 1, act="hardswish"),
                                      _conv_bn(torch, mid, mid, k, stride, mid, "hardswish"),
                                      SqueezeExcite(mid), _conv_bn(torch, mid, cout, 1, act=None))
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    model = nn.Sequential(_conv_bn(torch, 3, 16, 3, 2, act="hardswish"), Block(16, 64, 24, 3, 2),
                          Block(24, 72, 24, 5, 1), Block(24, 96, 40, 5, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(40, 64),
                          nn.Hardswish(), nn.Linear(64, classes))
    return model, (torch.randn(1, 3, 64, 64),)


def efficientnet_block(torch):
    nn = torch.nn

    class MBConv(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.expand = _conv_bn(torch, c, 4 * c, 1, act="silu")
            self.dw = _conv_bn(torch, 4 * c, 4 * c, 3, 1, 4 * c, "silu")
            self.se1, self.se2 = nn.Conv2d(4 * c, c // 2, 1), nn.Conv2d(c // 2, 4 * c, 1)
            self.project = _conv_bn(torch, 4 * c, c, 1, act=None)

        def forward(self, x):
            y = self.dw(self.expand(x))
            s = torch.sigmoid(self.se2(nn.functional.silu(self.se1(y.mean((2, 3), keepdim=True)))))
            return x + self.project(y * s)

    return nn.Sequential(_conv_bn(torch, 3, 16, 3, 2, act="silu"), MBConv(16), MBConv(16)), \
        (torch.randn(1, 3, 48, 48),)


def fpn_decoder(torch):
    """Strided encoder, then nearest/bilinear upsampling, a transposed conv and a concat: the
    shape of segmentation and text-detection heads."""
    nn = torch.nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.c3 = (_conv_bn(torch, a, b, 3, 2) for a, b in
                                         ((3, 8), (8, 16), (16, 32)))
            self.lat3, self.lat2 = nn.Conv2d(32, 16, 1), nn.Conv2d(16, 16, 1)
            self.up = nn.ConvTranspose2d(16, 8, 2, 2)
            self.head = nn.Conv2d(16, 1, 3, padding=1)

        def forward(self, x):
            f1 = self.c1(x)
            f2 = self.c2(f1)
            f3 = self.c3(f2)
            p2 = self.lat2(f2) + nn.functional.interpolate(self.lat3(f3), scale_factor=2.0,
                                                           mode="nearest")
            smooth = nn.functional.interpolate(p2[:, :8], size=f1.shape[2:], mode="bilinear",
                                               align_corners=False)
            return torch.sigmoid(self.head(torch.cat([self.up(p2), smooth], 1)))

    return Decoder(), (torch.randn(1, 3, 64, 64),)


# -- recurrent ------------------------------------------------------------------------------------

def lstm_kws(torch, classes=12):
    """Keyword spotting: a conv front end over MFCC frames, a 2-layer LSTM, the last step."""
    nn = torch.nn

    class KWS(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(10, 32, 3, padding=1)
            self.lstm = nn.LSTM(32, 48, num_layers=2, batch_first=True)
            self.fc = nn.Linear(48, classes)

        def forward(self, x):  # x: [B, 49 frames, 10 MFCC]
            y = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
            y, _ = self.lstm(y)
            return self.fc(y[:, -1])

    return KWS(), (torch.randn(1, 49, 10),)


def gru_crnn(torch, classes=40):
    """Text-line recognition (CRNN): conv features, a bidirectional GRU per column, logits."""
    nn = torch.nn

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = nn.Sequential(_conv_bn(torch, 1, 16, 3, 2), _conv_bn(torch, 16, 32, 3, 2),
                                     nn.AdaptiveAvgPool2d((1, None)))
            self.rnn = nn.GRU(32, 32, bidirectional=True)
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # [T, B, C]
            y, _ = self.rnn(f)
            return self.fc(y).log_softmax(-1)

    return CRNN(), (torch.randn(1, 1, 32, 128),)


def streaming_gru(torch):
    """A voice-activity detector that runs frame by frame: the state goes in and comes out."""
    nn = torch.nn

    class VAD(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(40, 24)
            self.gru = nn.GRU(24, 24, batch_first=True)
            self.out = nn.Linear(24, 1)

        def forward(self, frames, state):
            y, state = self.gru(torch.tanh(self.inp(frames)), state)
            return torch.sigmoid(self.out(y)), state

    return VAD(), (torch.randn(1, 8, 40), torch.randn(1, 1, 24))


# -- transformers (the transformers package's architectures, random weights) ---------------------

def _hf_inputs(torch, batch=1, length=16, vocab=100):
    ids = torch.randint(0, vocab, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.int64)
    mask[:, -3:] = 0
    return ids, mask


class _Plain:
    """Wraps a transformers model so that it returns plain tensors."""

    @staticmethod
    def wrap(torch, model, keys):
        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x, mask=None):  # named arguments: torch.export's dynamic
                out = self.model(x) if mask is None else self.model(x, mask)  # shapes
                return tuple(getattr(out, k) for k in keys)

        return Wrapped()


def bert(torch):
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128, max_position_embeddings=64,
                        attn_implementation="eager")
    return _Plain.wrap(torch, BertModel(config), ["last_hidden_state", "pooler_output"]), \
        _hf_inputs(torch)


def bert_sdpa(torch):
    """BERT as transformers builds it by default (scaled_dot_product_attention)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128, max_position_embeddings=64,
                        attn_implementation="sdpa")
    return _Plain.wrap(torch, BertModel(config), ["last_hidden_state"]), _hf_inputs(torch)


def distilbert(torch):
    from transformers import DistilBertConfig, DistilBertModel

    config = DistilBertConfig(vocab_size=100, dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                              max_position_embeddings=64, attn_implementation="eager")
    return _Plain.wrap(torch, DistilBertModel(config), ["last_hidden_state"]), _hf_inputs(torch)


def vit(torch):
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128, attn_implementation="eager")
    return _Plain.wrap(torch, ViTModel(config), ["last_hidden_state"]), \
        (torch.randn(1, 3, 32, 32),)


def whisper_encoder(torch):
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(num_mel_bins=16, d_model=64, encoder_layers=2,
                           encoder_attention_heads=4, encoder_ffn_dim=128,
                           max_source_positions=32, attn_implementation="eager")
    return _Plain.wrap(torch, WhisperEncoder(config), ["last_hidden_state"]), \
        (torch.randn(1, 16, 64),)


def gpt2(torch):
    from transformers import GPT2Config, GPT2Model

    config = GPT2Config(vocab_size=100, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                        attn_implementation="eager", use_cache=False)
    ids, mask = _hf_inputs(torch)
    return _Plain.wrap(torch, GPT2Model(config), ["last_hidden_state"]), (ids,)


MODELS = {
    "resnet": resnet, "mobilenet_v2": mobilenet_v2, "mobilenet_v3": mobilenet_v3,
    "efficientnet_block": efficientnet_block, "fpn_decoder": fpn_decoder,
    "lstm_kws": lstm_kws, "gru_crnn": gru_crnn, "streaming_gru": streaming_gru,
    "bert": bert, "bert_sdpa": bert_sdpa, "distilbert": distilbert, "vit": vit, "whisper_encoder": whisper_encoder,
    "gpt2": gpt2,
}
# Exported with dynamic axes (as users export for variable batch / length): compiled with the
# example inputs' shapes given.
DYNAMIC = {"resnet": {0: "batch"}, "bert": {0: "batch", 1: "sequence"},
           "lstm_kws": {0: "batch", 1: "frames"}}
# What PyTorch itself cannot export (not an edgec limitation): transformers' GPT-2 builds its
# causal mask with aten::diff, which the classic exporter has no opset-17 conversion for.
EXPORT_FAILS = {("gpt2", "classic"): "aten::diff"}


def cases() -> list[tuple[str, str, bool]]:
    """(model, exporter, dynamic axes) for every export the zoo makes."""
    found = []
    for name in MODELS:
        for exporter in EXPORTERS:
            if (name, exporter) in EXPORT_FAILS:
                continue
            found.append((name, exporter, False))
            if name in DYNAMIC:
                found.append((name, exporter, True))
    return found


def export(name: str, exporter: str, out_dir: Path, dynamic: bool = False
           ) -> tuple[Path, dict[str, np.ndarray]]:
    """Build ``name`` with random weights, export it, and return the file and its inputs."""
    torch = _torch()
    model, args = MODELS[name](torch)
    model.eval()
    names = [f"input_{i}" for i in range(len(args))]
    path = out_dir / f"{name}.{exporter}{'.dynamic' if dynamic else ''}.onnx"
    axes = {n: DYNAMIC[name] for n in names[:1]} if dynamic else None
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), \
            contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        if exporter == "classic":
            if axes and len(names) > 1:  # the attention mask shares the input ids' axes
                axes.update({n: DYNAMIC[name] for n in names[1:]})
            torch.onnx.export(model, args, str(path), input_names=names, opset_version=17,
                              dynamo=False, dynamic_axes=axes)
        else:
            shapes = None
            if dynamic:
                dims = {i: torch.export.Dim.AUTO for i in DYNAMIC[name]}
                shapes = tuple(dims for _ in args)
            torch.onnx.export(model, args, str(path), input_names=names, dynamo=True,
                              external_data=False, dynamic_shapes=shapes)
    feeds = {n: a.numpy() for n, a in zip(names, args)}
    return path, feeds


def check(path: Path, feeds: dict[str, np.ndarray], dynamic: bool = False) -> float:
    """Compile with edgec (the inputs' shapes given when the export has dynamic axes), run,
    and return the largest error relative to each output's magnitude against ONNX Runtime."""
    import edgec
    from edgec.reference import OrtReference

    shapes = {k: v.shape for k, v in feeds.items()} if dynamic else None
    artifact = edgec.compile(path, "host", input_shapes=shapes, tuning_logs=False)
    got = artifact.run(feeds)
    want = OrtReference(path).run(feeds)
    worst = 0.0
    for key, ref in want.items():
        scale = max(float(np.abs(ref).max()), 1e-6)
        worst = max(worst, float(np.abs(got[key] - ref).max()) / scale)
    return worst


def main(argv=None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the exported models here")
    parser.add_argument("-k", help="only models whose name contains this")
    parser.add_argument("--exporter", choices=EXPORTERS, action="append")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="edgec-zoo-"))
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name, exporter, dynamic in cases():
        if (args.k and args.k not in name) or (args.exporter and exporter not in args.exporter):
            continue
        label = f"{name:20s} {exporter:8s} {'dynamic' if dynamic else 'static':8s}"
        try:
            path, feeds = export(name, exporter, out, dynamic)
            error = check(path, feeds, dynamic)
            verdict = "ok" if error <= 1e-4 else "DIFFERS"
            failures += error > 1e-4
            print(f"{label} relative error {error:.2e}  {verdict}", flush=True)
        except Exception as err:  # report every model, then fail
            failures += 1
            text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            print(f"{label} FAILED {type(err).__name__}: {text}", flush=True)
    for (name, exporter), why in EXPORT_FAILS.items():
        print(f"{name:20s} {exporter:8s} not exported: PyTorch cannot ({why})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
