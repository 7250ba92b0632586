#!/usr/bin/env bash
# Tune the models whose host records ship in tuning_logs/ (resumable: run it again to continue).
#   scripts/tune_shipped.sh [TRIALS_PER_TASK] [MODELS...]   (models: digits det rec cls)
set -euo pipefail
cd "$(dirname "$0")/.."
per_task="${1:-64}"; shift || true
models=("${@:-digits det cls rec}")
ocr="$(python -c 'import importlib.util, pathlib; s = importlib.util.find_spec("rapidocr_onnxruntime"); print(pathlib.Path(list(s.submodule_search_locations)[0]) / "models")')"
for name in ${models[*]}; do
  case "$name" in
    digits) model=examples/digits/digits_cnn.onnx; shape=input:1,1,8,8 ;;
    det) model="$ocr/ch_PP-OCRv4_det_infer.onnx"; shape=x:1,3,320,320 ;;
    rec) model="$ocr/ch_PP-OCRv4_rec_infer.onnx"; shape=x:1,3,48,320 ;;
    cls) model="$ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"; shape=x:1,3,48,192 ;;
    *) echo "unknown model $name" >&2; exit 2 ;;
  esac
  echo "== $name ($per_task trials per kernel)"
  python -m edgec tune "$model" --target host -s "$shape" --trials-per-task "$per_task"
done
