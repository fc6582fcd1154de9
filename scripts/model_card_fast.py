"""Write the card of a distilled colour expression model (``mien.train.fast_student``: the fast 64-px variant,
or the default network fine-tuned whole at 112 px) from its run and the benchmark results (no hand-typed
numbers).

    python scripts/model_card_fast.py --name mfn64-fast --run runs/fast_a \
        --onnx src/mien/models/weights/mfn64-fast.onnx \
        --calibration src/mien/models/weights/mfn64-fast.calibration.json \
        --au-run runs/au_mfn64-fast --head-base runs/fast_a/expression.onnx \
        --out src/mien/models/weights/mfn64-fast.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from model_card import au_section  # noqa: E402

from mien.train.fast_student import teacher_name  # noqa: E402
from model_card_facenet import (_meta, calibration_text, card_parser, generalisation_table, per_class,  # noqa: E402
                                 posthoc_rows, read_run)


def _summary(name: str, size: int, teacher: str, labels: str) -> str:
    role = ("mien's fast colour expression model" if size < 112 else "A colour expression model")
    return (f"{role}: 8 expressions ({labels}) from **{size}x{size}** colour faces, plus the action-unit and "
            f"eye-openness heads in the same forward pass. It is `{teacher}` distilled into a MobileFaceNet at "
            f"{size} px" + (f" ({(size / 112) ** 2:.0%} of the 112-px network's compute)." if size < 112 else
                           ", the default's network and cost."))


def _network(size: int) -> str:
    gmac = 0.22 * (size / 112) ** 2
    if size == 112:
        return (f"- **MobileFaceNet** (Chen et al. 2018; 1.2 M parameters) at {size}x{size} input: {gmac:.2f} GMAC.")
    side = size // 16
    return (f"- **MobileFaceNet** (Chen et al. 2018; 1.2 M parameters) at {size}x{size} input: {gmac:.2f} GMAC. Its "
            f"last feature map\n  is {side}x{side}, so the global depthwise convolution's 7x7 kernel is resampled to "
            f"{side}x{side} (area averaging, scaled so a\n  constant map gives the same output).")


def _initialisation(init: str) -> str:
    if not init:
        return "OpenCV Zoo's RAF-DB MobileFaceNet (Apache-2.0)"
    return (f"`{Path(init).parent.name}`, the network of `mfn-raf-ferplus` (itself from OpenCV Zoo's RAF-DB "
            "MobileFaceNet, Apache-2.0)")


def _training_faces(size: int) -> str:
    if size == 112:
        return "Training faces are the cached 112-px aligned crops (`mien.train.face_cache`)."
    return f"Training faces are the cached 112-px aligned crops shrunk to {size} px by area averaging."


def _size_limitation(size: int, teacher: str) -> str:
    if size < 112:
        return f"- {size} px loses fine detail (subtle brows and lids): it trails the 112-px default on every test set above."
    return f"- It trails its teacher `{teacher}` on the test sets above."


def main() -> None:
    parser = card_parser()
    parser.add_argument("--note", default="", help="what the run's files do not record (e.g. a schedule change)")
    args = parser.parse_args()
    config, epochs, best, minutes, report, calibration, latency = read_run(args)
    latency = latency or "See BENCHMARKS.md (`python benchmarks/bench_models.py`)."
    by_epoch = ", ".join(f"{e['rafdb_valid']['accuracy']:.3f}/{e['ferplus_valid']['accuracy']:.3f}" for e in epochs)
    labels = ", ".join(json.loads(_meta(args.onnx)["mien.labels"]))
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items() if k != "threads")
    size = config.get("size", 64)
    teacher = teacher_name(config["teacher"])
    text = f"""# Model card: `{args.name}`

{_summary(args.name, size, teacher, labels)}

## Network and initialisation

{_network(size)}
- **Initialised from** {_initialisation(config['init'])}, then **every layer fine-tuned** at {size} px
  (`mien.train.fast_student`).

## Input

{size}x{size} RGB in [0, 255], aligned by a similarity transform from mien's 5 landmarks onto the ArcFace template
(the template of every mien colour model, at {size} px; mien's aligner antialiases when it shrinks a face).
{_training_faces(size)}

## Training data and licences

- **Targets**: the probabilities of `{teacher}` on the 112-px original of every face (knowledge
  distillation, temperature {config['kd_t']}, weight {config['kd_weight']}) plus the face's own label (weight
  {1 - config['kd_weight']:.1f}): RAF-DB one-hot with label smoothing {config['label_smoothing']}, FER+ vote
  distributions. affectnet4 faces (noisy folder labels) are used through the teacher's targets only.
- **RAF-DB basic** train split minus the stratified 10% validation split (seed 0); research and
  non-commercial use only (Li, Deng & Du, CVPR 2017).
- **FER+** train ({config['ferplus_per_epoch']} faces drawn per epoch); FER+ labels MIT, FER2013 images research use.
- **affectnet4** ({config['affectnet_per_epoch']} of its 18,738 faces drawn per epoch; labels not used).
- Not used for training or any choice: RAF-DB test, FER+ test, FER2013 PrivateTest, CK+ (zero-shot).
- Weights: MIT (mien); the initialisation chain is Apache-2.0; the training images keep their research-only terms.

## Recipe (`python -m mien.train.fast_student train --out {args.run} {options}`)

AdamW, lr {config['lr']} (cosine), weight decay {config['weight_decay']}, batch {config['batch_size']},
{len(epochs)} epochs ({minutes:.0f} CPU minutes on 2 shared cores); training views are augmented mirrors
({config['augment_share']:.0%}: rotation, scale, shift, low resolution, blur, photometric, gray, occlusion) or
plain mirrors. The epoch kept has the best mean of RAF-DB validation accuracy, its mean class accuracy and
FER+ validation accuracy: epoch {best['epoch']}, RAF-DB validation {best['rafdb_valid']['accuracy']:.4f} (mean
class {best['rafdb_valid']['mean_class_accuracy']:.4f}), FER+ validation {best['ferplus_valid']['accuracy']:.4f}.
By epoch (RAF-DB / FER+ validation accuracy): {by_epoch}.{(" " + args.note) if args.note else ""}

**Post-hoc logit adjustment** chosen on the same validation data, by tau:
{posthoc_rows(best)}
The shipped file has tau {best['posthoc']['tau']} folded into its classifier bias.

Caveat: the initialisation chain saw all of RAF-DB train, including mien's validation split, so RAF-DB
validation numbers flatter the model; the test sets below do not have that bias.

## Faces outside the training data (`python benchmarks/bench_generalisation.py`)

Accuracy / mean class accuracy (UAR), through mien's pipeline (a face the detector misses counts as wrong).

{generalisation_table(report, args.name)}

Per-class recall on RAF-DB test (detect): {per_class(report, args.name, 'RAF-DB test | detect')}.
CK+ zero-shot (framed): {per_class(report, args.name, 'CK+ zero-shot | framed')}.

## Speed

{latency}

{calibration_text(calibration, args)}{au_section(args)}
## Limitations

{_size_limitation(size, teacher)}
- Contempt is learned from FER+ only; full profiles are out of reach, as for every model measured.
"""
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
