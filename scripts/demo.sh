#!/usr/bin/env bash
# The main job on the bundled example: compile the digits CNN for a target, run the artifact,
# compare it with ONNX Runtime, then measure accuracy on the held-out digits.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:-host}
OUT=${OUT_DIR:-out}
mkdir -p "$OUT"
export PATH="$PWD/.venv/bin:$PATH"
set -x
edgec compile examples/digits/digits_cnn.onnx --target "$TARGET" --input-shape input:1,1,8,8 \
    -o "$OUT/digits.edgec.tar"
edgec inspect "$OUT/digits.edgec.tar"
edgec run "$OUT/digits.edgec.tar" --check examples/digits/digits_cnn.onnx --repeat 50
python examples/digits/evaluate.py --target "$TARGET" --out "$OUT/digits_eval.edgec.tar"
