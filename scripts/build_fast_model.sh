#!/usr/bin/env bash
# Build the shipped fast colour expression model from a finished fast_student run, every step recorded:
#   export (64 px, post-hoc logit adjustment folded in) -> calibration on validation data -> AU head -> eye head.
#
#   bash scripts/build_fast_model.sh runs/fast_a mfn64-fast [OUT_DIR]
#
# Needs the train extra and the datasets in ../shared/datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: build_fast_model.sh RUN_DIR NAME [OUT_DIR]}
NAME=${2:?usage: build_fast_model.sh RUN_DIR NAME [OUT_DIR]}
WEIGHTS=${3:-src/mien/models/weights}
DATA=${MIEN_DATA:-../shared/datasets}
PY=${PYTHON:-.venv/bin/python}
OUT=$WEIGHTS/$NAME.onnx

$PY -m mien.train.fast_student export --run "$RUN" --out "$RUN/expression.onnx" \
    --meta "mien.backbone=mobilefacenet at 64 px (initialised from mfn-raf-ferplus, fully fine-tuned)" \
    --meta "mien.training=distilled from mfn-raf-ferplus on RAF-DB train (minus a 10% validation split), FER+ train and affectnet4 faces + RAF-DB/FER+ labels; see $NAME.md"
cp "$RUN/expression.onnx" "$OUT"
$PY -m mien.train.calibrate "$OUT" --root "$DATA/ferplus" --rafdb "$DATA/rafdb/basic" \
    --background "$DATA/media/pyfeat/free-mountain-vector-01.jpg" --report "$WEIGHTS/$NAME.calibration.json"
$PY -m mien.train.au --ckplus "$DATA/ckplus" --ferplus "$DATA/ferplus" --out "runs/au_$NAME" \
    --base-model "$OUT" --export "$OUT"
$PY -m mien.train.eyes --ferplus "$DATA/ferplus" --out "runs/eyes_$NAME" --base-model "$OUT" --export "$OUT"
ls -la "$OUT"
