#!/usr/bin/env bash
# Build a shipped colour expression model from a finished training run, every step recorded:
#   export (post-hoc logit adjustment folded in) -> calibration on validation data -> AU head -> eye head -> card.
#
#   bash scripts/build_facenet_model.sh runs/mfn_a mfn-raf-ferplus
#
# Needs the train extra, the datasets in ../shared/datasets and the teacher in ../shared/teachers.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: build_facenet_model.sh RUN_DIR NAME}
NAME=${2:?usage: build_facenet_model.sh RUN_DIR NAME}
DATA=${MIEN_DATA:-../shared/datasets}
PY=${PYTHON:-.venv/bin/python}
WEIGHTS=src/mien/models/weights
OUT=$WEIGHTS/$NAME.onnx

$PY -m mien.train.facenet_expression export --run "$RUN" --out "$RUN/expression.onnx" \
    --meta "mien.backbone=mobilefacenet (OpenCV Zoo RAF-DB initialisation; trunk frozen)" \
    --meta "mien.training=RAF-DB basic train (minus a 10% validation split) + FER+ train votes; see $NAME.md"
cp "$RUN/expression.onnx" "$OUT"
$PY -m mien.train.calibrate "$OUT" --root "$DATA/ferplus" --rafdb "$DATA/rafdb/basic" \
    --background "$DATA/media/pyfeat/free-mountain-vector-01.jpg" --report "$WEIGHTS/$NAME.calibration.json"
$PY -m mien.train.au --ckplus "$DATA/ckplus" --ferplus "$DATA/ferplus" --out "runs/au_$NAME" \
    --base-model "$OUT" --export "$OUT"
$PY -m mien.train.eyes --ferplus "$DATA/ferplus" --out "runs/eyes_$NAME" --base-model "$OUT" --export "$OUT"
ls -la "$OUT"
