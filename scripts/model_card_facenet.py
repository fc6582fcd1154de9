"""Write the card of a colour 112-px MobileFaceNet expression model from its run and the benchmark results
(no hand-typed numbers).

    python scripts/model_card_facenet.py --name mfn-raf-ferplus --run runs/mfn_a \
        --onnx src/mien/models/weights/mfn-raf-ferplus.onnx \
        --calibration src/mien/models/weights/mfn-raf-ferplus.calibration.json \
        --au-run runs/au_mfn-raf-ferplus --eyes-run runs/eyes_mfn-raf-ferplus --compare runs/mfn_b \
        --out src/mien/models/weights/mfn-raf-ferplus.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from model_card import au_section  # noqa: E402


def generalisation_table(report: dict, name: str, others: tuple[str, ...] = ()) -> str:
    from bench_generalisation import CELLS  # benchmarks/ is on the path (see main)

    rows = []
    for model in (name, *others, "opencv-zoo-rafdb (reference)", "mnv2-ferplus"):
        entry = report["models"].get(model)
        if not entry:
            continue
        cells = []
        for test_name, mode in CELLS:
            r = entry["cells"].get(f"{test_name} | {mode}")
            cells.append(f"{r['accuracy']:.3f} / {r['uar']:.3f}" if r else "-")
        rows.append(f"| `{model}` | " + " | ".join(cells) + " |")
    header = "| model | " + " | ".join(f"{t} ({m})" for t, m in CELLS) + " |"
    return "\n".join([header, "|---|" + "---:|" * len(CELLS), *rows])


def per_class(report: dict, name: str, key: str) -> str:
    r = report["models"].get(name, {}).get("cells", {}).get(key)
    if not r:
        return "not measured"
    return ", ".join(f"{cls} {v['recall']:.2f}" for cls, v in r["per_class"].items())


def card_parser() -> argparse.ArgumentParser:
    """The arguments every MobileFaceNet model card needs (this script's and scripts/model_card_fast.py's)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--calibration", type=Path)
    parser.add_argument("--generalisation", type=Path, default=REPO / "benchmarks/out/generalisation.json")
    parser.add_argument("--models", type=Path, default=REPO / "benchmarks/out/models.json")
    parser.add_argument("--au", type=Path, default=None)
    parser.add_argument("--au-run", type=Path)
    parser.add_argument("--eyes-run", type=Path)
    parser.add_argument("--head-base", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def read_run(args) -> tuple[dict, list[dict], dict, float, dict, dict | None, str]:
    """A run's config, epochs, best epoch and CPU minutes, the generalisation report, the calibration report
    and the latency sentence (empty when the model was not benchmarked)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    config = json.loads((args.run / "config.json").read_text())
    epochs = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    best = json.loads((args.run / "best.json").read_text())
    minutes = sum(e["seconds"] for e in epochs) / 60
    report = json.loads(args.generalisation.read_text()) if args.generalisation.exists() else {"models": {}}
    calibration = json.loads(args.calibration.read_text()) if args.calibration else None
    latency = ""
    if args.models.exists():
        models = json.loads(args.models.read_text())["models"]
        if args.name in models:
            r = models[args.name]
            latency = (f"The network alone with all its outputs, 2 threads: {r['batch1_median_ms']:.2f} ms median per "
                       f"face at batch 1 (p90 {r['batch1_p90_ms']:.2f}); {r['batch32_faces_per_s']:.0f} faces/s at "
                       "batch 32 (`python benchmarks/bench_models.py`).")
    return config, epochs, best, minutes, report, calibration, latency


def main() -> None:
    parser = card_parser()
    parser.add_argument("--compare", type=Path, nargs="*", default=[], help="other runs of the ablation")
    args = parser.parse_args()
    config, epochs, best, minutes, report, calibration, latency = read_run(args)
    by_epoch = ", ".join(f"{e['rafdb_valid']['accuracy']:.3f}/{e['ferplus_valid']['accuracy']:.3f}" for e in epochs)
    affectnet = (f" and the 18,738 affectnet4 faces with their noisy 4-class folder labels at weight "
                 f"{config['affectnet_weight']} ({config['affectnet_per_epoch']} drawn per epoch)"
                 if config["affectnet_weight"] > 0 else "")
    text = f"""# Model card: `{args.name}`

The default expression model of mien 0.2: 8 expressions ({', '.join(json.loads(_meta(args.onnx)['mien.labels']))})
from 112x112 **colour** faces, plus the action-unit and eye-openness heads in the same forward pass.

## Network and initialisation

- **MobileFaceNet** (Chen et al. 2018; 1.2 M parameters, 0.22 GMAC at 112x112): a stem, 15 depthwise
  bottlenecks with PReLU, a 512-channel 1x1 layer, a global depthwise convolution, a 512-d embedding and a
  linear 8-class classifier. Rebuilt in PyTorch by `mien.train.mobilefacenet` from the ONNX graph of the
  initialisation (weights copied in graph order; the logits match the ONNX file to 1e-5).
- **Initialised from** OpenCV Zoo's `facial_expression_recognition` MobileFaceNet (Apache-2.0; trained on
  RAF-DB by the "Progressive Teacher" method, Jiang & Deng 2021, semi-supervised with unlabelled faces;
  `../shared/teachers/`). Its 7 classes are mapped onto mien's order; contempt starts from zero weights.
- **Frozen trunk, fine-tuned top**: the stem and the first 12 bottlenecks (85% of the compute) keep the
  initialisation; the last 3 bottlenecks, the head convolutions, the embedding and the classifier are
  trained (two CPU cores cannot fine-tune the whole network on 40,000 faces per epoch; the trunk's output
  is cached for the original and two augmented views of every RAF-DB face, and the original of every FER+
  face).

## Input

112x112 RGB in [0, 255] (normalised inside the file), aligned by a similarity transform from mien's 5
landmarks onto the ArcFace template, exactly as at training time (`mien.train.face_cache`: RetinaFace
landmarks measured on every training face). Grayscale photos are fine: FER+ faces are grayscale on all three
channels, and 20% of the augmented RAF-DB views are gray.

## Training data and licences

- **RAF-DB basic** train split (official), minus a stratified 10% validation split carved with seed 0
  (`mien.train.face_cache.rafdb_validation_split`): in-the-wild colour faces, 7 classes, one-hot labels with
  label smoothing {config['label_smoothing']}. Research and non-commercial use only (Li, Deng & Du, CVPR 2017).
- **FER+** train (FER2013 Training images with the FER+ 10-annotator votes as target distributions,
  {config['ferplus_per_epoch']} faces drawn afresh each epoch): 48x48 grayscale. FER+ labels MIT; FER2013
  images research use. FER+ is the only source of contempt.
- {('**affectnet4**' + affectnet) if affectnet else 'affectnet4 (noisy folder labels) was not used by this model.'}
- Not used for training or any choice: RAF-DB test, FER+ test, FER2013 PrivateTest, CK+ (zero-shot).
- Weights: MIT (mien); the initialisation is Apache-2.0; the training images keep their research-only terms.

## Recipe (`{_command(args.run, config)}`)

AdamW, lr {config['lr']} (cosine), weight decay {config['weight_decay']}, batch {config['batch_size']},
{len(epochs)} epochs ({minutes:.0f} CPU minutes on 2 shared cores); soft-target cross-entropy
{'with in-training logit adjustment (tau ' + str(config['logit_adjust']) + ')' if config['logit_adjust'] else '(no in-training logit adjustment)'};
RAF-DB faces also seen as augmented views (mirror, rotation +-12 degrees, scale, shift, low resolution, blur,
brightness/contrast/gamma/white balance, gray, occlusion). The epoch kept has the best mean of RAF-DB
validation accuracy, its mean class accuracy and FER+ validation accuracy: epoch {best['epoch']}, RAF-DB
validation {best['rafdb_valid']['accuracy']:.4f} (mean class {best['rafdb_valid']['mean_class_accuracy']:.4f}),
FER+ validation {best['ferplus_valid']['accuracy']:.4f}. By epoch (RAF-DB / FER+ validation accuracy): {by_epoch}.

**Post-hoc logit adjustment** (Menon et al. 2021), chosen on the same validation data: subtracting
tau x log(class prior of the training mix) from the logits predicts the rare classes (fear, disgust,
contempt) more often. Selection score (RAF-DB acc / RAF-DB mean class acc / FER+ acc) by tau:
{posthoc_rows(best)}
The shipped file has tau {best['posthoc']['tau']} folded into its classifier bias.
{compare_rows(args.run, args.compare)}

Caveat: the initialisation was trained on all of RAF-DB train, which includes mien's validation split, so
RAF-DB validation numbers flatter the model; FER+ validation and the test sets below do not have that bias.

## Faces outside the training data (`python benchmarks/bench_generalisation.py`)

Accuracy / mean class accuracy (UAR), through mien's pipeline, every cell on the classes the test set has
(a face the detector misses counts as wrong). The reference is the initialisation itself, wrapped in mien's
input convention; `mnv2-ferplus` is mien 0.1's default.

{generalisation_table(report, args.name)}

Per-class recall on RAF-DB test (detect): {per_class(report, args.name, 'RAF-DB test | detect')}.
CK+ zero-shot (framed): {per_class(report, args.name, 'CK+ zero-shot | framed')}.
RAF-DB's manual annotations (gender, race, age) are not available here: no per-demographic numbers.

## Speed

{latency or 'See BENCHMARKS.md (`python benchmarks/bench_models.py`).'}

{calibration_text(calibration, args)}{au_section(args)}
## Limitations

- Full profiles are out of reach (every model measured, mien's included, is near chance on them); half
  profiles are weaker than frontal faces.
- Contempt is learned from FER+ only (a few hundred 48x48 gray faces): treat it as the weakest class.
- Posed anger with a closed mouth (lowered brows, pressed lips) is often read as sad: the training sets are
  in the wild, where anger mostly shows an open mouth (CK+ anger recall above).
- The trunk is frozen at a RAF-DB-trained initialisation: the features are those of in-the-wild celebrity
  and web photos; lab recordings with unusual lighting or head-mounted cameras may differ.
"""
    args.out.write_text(text)
    print(f"wrote {args.out}")


def compare_rows(run: Path, others: list[Path]) -> str:
    """The runs compared on validation (each after its own post-hoc adjustment); the shipped one first."""
    if not others:
        return ""
    rows = ["", "Runs compared on the same validation data (each with its best tau):", "",
            "| run | changed | best epoch | tau | score | RAF-DB acc | RAF-DB mean class | FER+ acc |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for other in [run, *others]:
        config = json.loads((other / "config.json").read_text())
        best = json.loads((other / "best.json").read_text())
        tau = best["posthoc"]["tau"]
        r = best["posthoc"]["tried"][str(tau)]
        changed = (f"+ affectnet4 at weight {config['affectnet_weight']}" if config["affectnet_weight"] else "RAF-DB + FER+")
        rows.append(f"| `{other.name}`{' (shipped)' if other == run else ''} | {changed} | {best['epoch']} | {tau} | "
                    f"{r['score']:.4f} | {r['rafdb_valid']['accuracy']:.4f} | {r['rafdb_valid']['mean_class_accuracy']:.4f} | "
                    f"{r['ferplus_valid']['accuracy']:.4f} |")
    return "\n".join(rows) + "\n"


def posthoc_rows(best: dict) -> str:
    rows = ["", "| tau | score | RAF-DB acc | RAF-DB mean class | FER+ acc |", "|---:|---:|---:|---:|---:|"]
    for tau, r in best["posthoc"]["tried"].items():
        rows.append(f"| {tau} | {r['score']:.4f} | {r['rafdb_valid']['accuracy']:.4f} | "
                    f"{r['rafdb_valid']['mean_class_accuracy']:.4f} | {r['ferplus_valid']['accuracy']:.4f} |")
    return "\n".join(rows) + "\n"


def calibration_text(calibration: dict | None, args) -> str:
    if not calibration:
        return "The model is not calibrated.\n\n"
    return f"""## Calibration and the `uncertain` flag

`python -m mien.train.calibrate {args.onnx} --root ../shared/datasets/ferplus --rafdb ../shared/datasets/rafdb/basic
--background ../shared/datasets/media/pyfeat/free-mountain-vector-01.jpg` ran the FER+ validation faces (in
640x480 frames) and the RAF-DB validation faces (carved from train) through the pipeline
({calibration['valid_faces']} faces found, {calibration['valid_not_found']} missed) and stored a temperature of
{calibration['temperature']:.3f} (expected calibration error on that data {calibration['ece_before']:.3f} ->
{calibration['ece_after']:.3f}) and the `uncertain` threshold {calibration['uncertain_below']:.3f} (the level of the
{calibration['flag_share']:.0%} least confident validation faces). 1 - top probability separates FER+ validation
images whose majority vote was unknown / not-a-face with AUROC {calibration['unknown_or_not_face_auroc_valid']:.3f}.

"""


def _meta(onnx_path: Path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}


def _command(run: Path, config: dict) -> str:
    defaults = {"features": "data_cache/trunk14", "faces": "data_cache/faces112", "threads": 2, "limit": None,
                "notes": {}}
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items()
                       if k not in defaults or defaults[k] != v)
    return f"python -m mien.train.facenet_expression train --out {run} {options}"


if __name__ == "__main__":
    main()
