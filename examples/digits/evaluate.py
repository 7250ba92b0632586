#!/usr/bin/env python3
"""Accuracy of the digits CNN compiled by edgec, side by side with ONNX Runtime.

Uses the Python API the way a build script would: compile for a target, save the artifact, load
it back (hashes verified), run the held-out digits through it and through ONNX Runtime.

    python examples/digits/evaluate.py [--target host] [--out digits_eval.edgec.tar]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import edgec
from edgec.reference import OrtReference, compare_outputs

HERE = Path(__file__).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="host")
    parser.add_argument("--model", type=Path, default=HERE / "digits_cnn.onnx")
    parser.add_argument("--out", type=Path, default=Path("digits_eval.edgec.tar"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    images = np.load(HERE / "digits_test.npz")["input"]
    labels = np.load(HERE / "digits_test_labels.npy")
    batch = len(images)

    artifact = edgec.compile(args.model, args.target,
                             input_shapes={"input": (batch, 1, 8, 8)})
    artifact.save(args.out)
    deployed = edgec.load(args.out)
    session = deployed.session()
    logits = deployed.run({"input": images})["logits"]

    reference = OrtReference(args.model, threads=session.threads)
    ref_logits = reference.run({"input": images})["logits"]
    check = compare_outputs({"logits": logits}, {"logits": ref_logits})

    ours = deployed.benchmark({"input": images}, args.repeat)
    ort = reference.benchmark({"input": images}, args.repeat)
    acc = float((logits.argmax(axis=1) == labels).mean())
    ref_acc = float((ref_logits.argmax(axis=1) == labels).mean())
    agree = float((logits.argmax(axis=1) == ref_logits.argmax(axis=1)).mean())

    print(f"digits CNN, {batch} held-out images, target {deployed.board}, "
          f"{session.threads} threads")
    print(f"{'':12}{'accuracy':>10}{'mean ms':>10}{'p50 ms':>10}")
    print(f"{'edgec':12}{acc:>10.4f}{ours.mean_ms:>10.3f}{ours.p50_ms:>10.3f}")
    print(f"{'onnxruntime':12}{ref_acc:>10.4f}{ort.mean_ms:>10.3f}{ort.p50_ms:>10.3f}")
    print(f"predictions agree on {agree:.2%}; max abs logit difference {check.max_abs:.2e}; "
          f"edgec/onnxruntime latency {ours.mean_ms / ort.mean_ms:.2f}x")
    return 0 if check.passed and acc == ref_acc else 1


if __name__ == "__main__":
    sys.exit(main())
