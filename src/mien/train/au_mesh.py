"""Training data and the fitted model for the mesh AU estimator (:mod:`mien.tasks.aus`), numpy only.

Three sources, every face meshed exactly as the pipeline meshes it (RetinaFace 5 points -> FaceMesh + iris),
its rigid head pose removed (:func:`mien.tasks.aus.head_frame`):

- **CK+** peak frames (CK+48, 48x48 gray, upscaled 4x with the detector run as in ``mien.train.au``) with
  their sequence's FACS occurrence (``au_emotion_labels.csv``); 10 subject-grouped folds (``folds_10.txt``).
- **FER+** training faces that >= 9 of 10 annotators called neutral, as all-AUs-absent examples (same
  upscaling); never scored.
- **MEGC2019 apex frames** of CASME II and SAMM (224x224), AU codes from the coding sheets
  (``me_annotations/``): spontaneous, subtle; subject-grouped folds.

    python -m mien.train.au_mesh extract --data ../shared/datasets --out data_cache/au_mesh.npz
    python -m mien.train.au_mesh fit --cache data_cache/au_mesh.npz --out src/mien/models/weights/au-mesh.json
    python -m mien.train.au_mesh appearance --data ... --cache data_cache/au_mesh.npz \
        --out data_cache/au_mesh_appearance.npz      # experiment: geometry + the expression embedding

Set ``OPENBLAS_NUM_THREADS=1`` on a shared machine: the matrices are small and BLAS threads only contend
(a fit took 10 s instead of 0.06 s on 2 busy cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mien.datasets.ferplus import confident_neutral_ferplus
from mien.schema import AUS

UPSCALE = 4  # 48 px crops -> 192 px: the mesh network's own input size
PAD = 48


# ------------------------------------------------------------------------------------------- data
def read_ckplus_codes(root: Path) -> dict[str, dict[int, int]]:
    """Sequence id (``Sxxx_yyy``) -> {AU: 0/1} of the 23 AU columns of ``au_emotion_labels.csv``."""
    table = {}
    with (Path(root) / "au_emotion_labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            table[row["video"]] = {int(k[2:]): int(v) for k, v in row.items() if k.startswith("AU") and k[2:].isdigit()}
    return table


def megc_codes(data: Path) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """(apex file stem, subject, dataset, AU numbers) of the MEGC2019 CASME II / SAMM samples with codes."""
    from mien.datasets.me_sheets import read_coding_sheet
    from mien.datasets.megc2019 import read_labels

    sheets = {"casme2": read_coding_sheet(data / "me_annotations" / "CASME2-coding-20190701.xlsx"),
              "samm": read_coding_sheet(data / "me_annotations" / "SAMM_Micro_FACS_Codes_v2.xlsx")}
    codes = {(name, s.subject, s.clip): s.au_numbers for name, samples in sheets.items() for s in samples}
    out = []
    for sample in read_labels(data / "megc2019"):
        if sample.dataset in sheets:
            key = (sample.dataset, sample.subject.split("/", 1)[1], sample.clip)
            if key in codes:
                out.append((sample.apex_stem, sample.subject, sample.dataset, codes[key]))
    return out


class Mesher:
    """Detector + mesh on small face crops, as the pipeline runs them."""

    def __init__(self, threads: int = 2):
        from mien.detect.retinaface import RetinaFaceDetector
        from mien.models.mesh import FaceMesh

        self.detector = RetinaFaceDetector(threads=threads, score_threshold=0.5, min_size=64)
        self.mesh = FaceMesh(threads=threads)

    def __call__(self, rgb: np.ndarray, upscale: int = 1) -> tuple[np.ndarray, float] | None:
        """(468, 3) head-frame points (mm, pose removed) and the mesh score of the largest face, or None."""
        from mien.tasks.aus import head_frame

        if upscale > 1:
            rgb = cv2.resize(rgb, (rgb.shape[1] * upscale, rgb.shape[0] * upscale), interpolation=cv2.INTER_CUBIC)
        padded = cv2.copyMakeBorder(rgb, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        found = self.detector.detect(padded)
        if len(found) == 0:
            return None
        best = int(np.argmax(found.scores))
        mesh = self.mesh.predict(padded, found.landmarks[[best]])
        points = head_frame(mesh.points[0], padded.shape[1], padded.shape[0])
        if points is None:
            return None
        return points.astype(np.float32), float(mesh.score[0])


def extract(data: Path, out: Path, max_neutral: int = 1500, threads: int = 2) -> None:
    """Mesh every training face once; the cache holds head-frame points, labels, subjects and folds."""
    from mien.datasets.layouts import ckplus_folds

    mesher = Mesher(threads)
    started = time.time()
    groups: dict[str, dict[str, list]] = {}

    def add(group: str, name: str, rgb: np.ndarray, upscale: int, labels: np.ndarray, subject: str, fold: int):
        got = mesher(rgb, upscale)
        g = groups.setdefault(group, {k: [] for k in ("names", "points", "scores", "labels", "subjects", "folds", "found")})
        g["names"].append(name)
        g["found"].append(got is not None)
        g["points"].append(got[0] if got else np.full((468, 3), np.nan, np.float32))
        g["scores"].append(got[1] if got else 0.0)
        g["labels"].append(labels)
        g["subjects"].append(subject)
        g["folds"].append(fold)

    ck = data / "ckplus"
    codes, folds = read_ckplus_codes(ck), ckplus_folds(ck)
    for path in sorted((ck / "CK+48").glob("*/*.png")):
        sequence = "_".join(path.stem.split("_")[:2])
        if sequence not in codes or sequence not in folds:
            continue
        labels = np.array([codes[sequence].get(au, 0) for au in ALL_AUS], np.float32)
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        add("ck", path.name, np.repeat(gray[..., None], 3, axis=2), UPSCALE, labels, sequence.split("_")[0],
            folds[sequence])
    print(f"CK+ {len(groups['ck']['names'])} images, {time.time() - started:.0f} s", flush=True)
    names = confident_neutral_ferplus(data / "ferplus")
    names = sorted(np.random.default_rng(0).choice(names, size=min(len(names), max_neutral), replace=False))
    for name in names:
        gray = cv2.imread(str(data / "ferplus" / name), cv2.IMREAD_GRAYSCALE)
        add("neutral", name, np.repeat(gray[..., None], 3, axis=2), UPSCALE, np.zeros(len(ALL_AUS), np.float32),
            name, -1)
    print(f"FER+ neutral {len(names)}, {time.time() - started:.0f} s", flush=True)
    for stem, subject, _dataset, aus in megc_codes(data):
        rgb = cv2.cvtColor(cv2.imread(str(data / "megc2019" / "apex" / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
        labels = np.array([float(au in aus) for au in ALL_AUS], np.float32)
        add("megc", stem, rgb, 1, labels, subject, -1)
    print(f"MEGC2019 {len(groups['megc']['names'])}, {time.time() - started:.0f} s", flush=True)
    arrays = {"aus": np.array(ALL_AUS)}
    for group, g in groups.items():
        for key, values in g.items():
            arrays[f"{group}_{key}"] = np.array(values)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    for group in groups:
        print(f"{group}: mesh found on {arrays[group + '_found'].mean():.3f} of {len(arrays[group + '_found'])}")


def extract_appearance(data: Path, cache: dict, out: Path, expression: str = "mfn-raf-ferplus", threads: int = 2) -> None:
    """The expression network's embedding (``mien.models.heads.with_features_output``) of the same training
    faces, aligned as the pipeline aligns them (an experiment: not used by the shipped model, which is
    geometry only; needs ``onnx``)."""
    import onnx

    from mien.analyzer import Analyzer
    from mien.io.images import Frame
    from mien.models.heads import FEATURES_OUTPUT, session_from_model, with_features_output

    analyzer = Analyzer(expression=expression, threads=threads)
    path = Path(expression) if str(expression).endswith(".onnx") else Path(__file__).resolve().parents[1] / "models" / "weights" / f"{expression}.onnx"
    session = session_from_model(with_features_output(onnx.load(str(path))), threads)
    name = session.get_inputs()[0].name

    def embed(files: list[Path], upscale: int) -> np.ndarray:
        out_rows = np.full((len(files), 0), np.nan, np.float32)
        crops, found = [], []
        for file in files:
            rgb = cv2.cvtColor(cv2.imread(str(file)), cv2.COLOR_BGR2RGB)
            if upscale > 1:
                rgb = cv2.resize(rgb, (rgb.shape[1] * upscale, rgb.shape[0] * upscale), interpolation=cv2.INTER_CUBIC)
            rgb = cv2.copyMakeBorder(rgb, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=(128, 128, 128))
            item = analyzer.prepare(Frame(str(file), 0, rgb, 0.0))
            found.append(len(item.detections) > 0)
            if found[-1]:
                crops.append(item.crops[int(np.argmax(item.detections.scores))])
        x = analyzer.expression.prepare(np.stack(crops))
        features = np.concatenate([session.run([FEATURES_OUTPUT], {name: x[i:i + 64]})[0] for i in range(0, len(x), 64)])
        out_rows = np.full((len(files), features.shape[1]), np.nan, np.float32)
        out_rows[np.array(found)] = features
        return out_rows

    ck_files = {p.name: p for p in (data / "ckplus" / "CK+48").glob("*/*.png")}
    arrays = {"expression": np.array(expression),
              "ck": embed([ck_files[n] for n in cache["ck_names"]], UPSCALE),
              "neutral": embed([data / "ferplus" / n for n in cache["neutral_names"]], UPSCALE),
              "megc": embed([data / "megc2019" / "apex" / f"{n}.jpg" for n in cache["megc_names"]], 1)}
    np.savez_compressed(out, **arrays)


# ------------------------------------------------------------------------------------------- fitting
def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float = 1.0, weight: np.ndarray | None = None,
                 max_positive_weight: float = 1.0, iterations: int = 30) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method, positives up-weighted to balance the classes
    (at most ``max_positive_weight``); returns (D + 1,) weights, the bias last (not regularised)."""
    n, dim = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    weight = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    positives, negatives = (weight * y).sum(), (weight * (1 - y)).sum()
    balance = float(np.clip(negatives / max(positives, 1e-9), 1.0, max_positive_weight))
    w = weight * np.where(y > 0.5, balance, 1.0)
    penalty = lam * np.eye(dim + 1)
    penalty[-1, -1] = 0.0
    beta = np.zeros(dim + 1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        gradient = design.T @ (w * (p - y)) + penalty @ beta
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta


def best_threshold(truth: np.ndarray, probabilities: np.ndarray) -> float:
    """The threshold in 0.05..0.95 (step 0.025) with the best F1 (ties: the one nearest 0.5)."""
    candidates = np.round(np.arange(0.05, 0.951, 0.025), 3)
    scores = []
    for c in candidates:
        predicted = probabilities >= c
        tp, fp, fn = (truth & predicted).sum(), (~truth & predicted).sum(), (truth & ~predicted).sum()
        scores.append(2 * tp / max(2 * tp + fp + fn, 1) - 1e-4 * abs(c - 0.5))
    return float(candidates[int(np.argmax(scores))])


def subject_normalised(features: np.ndarray, subjects: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Features minus each subject's median over their samples, plus the population neutral (the image-set
    analogue of a video track's :class:`~mien.tasks.aus.NeutralBaseline`)."""
    out = np.array(features, np.float64, copy=True)
    for subject in np.unique(subjects):
        rows = subjects == subject
        out[rows] = features[rows] - np.median(features[rows], axis=0) + neutral
    return out


@dataclass
class TrainingSet:
    """Features, labels (over :data:`ALL_AUS`), sample weights and CK+ folds (-1: not CK+)."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    fold: np.ndarray
    source: np.ndarray  # "ck", "neutral", "megc"


def training_set(cache: dict, megc_weight: float = 1.0, neutral_folds: int = 10) -> TrainingSet:
    """CK+ peak frames (absolute features), neutral FER+ faces (spread over the CK+ folds, so that they are
    also held out) and, with ``megc_weight`` > 0, MEGC2019 apex frames normalised per subject."""
    from mien.tasks.aus import geometric_features

    ck, neutral = geometric_features(cache["ck_points"]), geometric_features(cache["neutral_points"])
    parts = [(ck, cache["ck_labels"], np.ones(len(ck)), cache["ck_folds"], "ck"),
             (neutral, cache["neutral_labels"], np.ones(len(neutral)), np.arange(len(neutral)) % neutral_folds,
              "neutral")]
    if megc_weight > 0:
        megc = subject_normalised(geometric_features(cache["megc_points"]), cache["megc_subjects"], neutral.mean(0))
        parts.append((megc, cache["megc_labels"], np.full(len(megc), megc_weight), np.full(len(megc), -1), "megc"))
    return TrainingSet(*(np.concatenate([p[i] for p in parts]) for i in range(4)),
                       np.concatenate([[p[4]] * len(p[0]) for p in parts]))


def fit_model(data: TrainingSet, neutral_x: np.ndarray, aus: tuple[int, ...] = AUS, lam: float = 1.0,
              thresholds: np.ndarray | None = None, info: dict | None = None):
    """A :class:`~mien.tasks.aus.MeshAuModel` on ``data`` (thresholds 0.5 unless given)."""
    from mien.tasks.aus import FEATURE_NAMES, MeshAuModel

    mean, std = neutral_x.mean(0), neutral_x.std(0) + 1e-6
    z = (data.x - mean) / std
    columns = [ALL_AUS.index(au) for au in aus]
    betas = np.stack([fit_logistic(z, data.y[:, c], lam, data.weight) for c in columns])
    scores = z @ betas[:, :-1].T + betas[:, -1]
    neutral_score = np.median(scores[data.source == "neutral"], axis=0)
    peak = [np.median(scores[(data.source == "ck") & (data.y[:, c] > 0.5), k]) if
            ((data.source == "ck") & (data.y[:, c] > 0.5)).any() else neutral_score[k] + 4.0
            for k, c in enumerate(columns)]
    return MeshAuModel(tuple(aus), FEATURE_NAMES, mean, std, betas[:, :-1], betas[:, -1],
                       np.full(len(aus), 0.5) if thresholds is None else np.asarray(thresholds, np.float64),
                       neutral_score, np.asarray(peak), neutral_x.mean(0), neutral_x.std(0), 3.0, info)


def out_of_fold(data: TrainingSet, neutral_x: np.ndarray, rows: np.ndarray, aus: tuple[int, ...], lam: float,
                folds: list[int]) -> np.ndarray:
    """Probabilities of the CK+/neutral rows ``rows`` from models that did not see their fold."""
    out = np.full((len(data.x), len(aus)), np.nan)
    for fold in folds:
        held = rows & (data.fold == fold)
        train = ~held & ((data.fold != fold) | (data.source == "megc")) & (rows | (data.source == "megc"))
        model = fit_model(_subset(data, train), neutral_x, aus, lam)
        out[held] = model.probabilities(data.x[held])
    return out


def _subset(data: TrainingSet, rows: np.ndarray) -> TrainingSet:
    return TrainingSet(data.x[rows], data.y[rows], data.weight[rows], data.fold[rows], data.source[rows])


def validation_thresholds(data: TrainingSet, neutral_x: np.ndarray, rows: np.ndarray, aus: tuple[int, ...],
                          lam: float) -> np.ndarray:
    """Per-AU thresholds with the best F1 on the out-of-fold probabilities of the CK+ and neutral ``rows``."""
    folds = sorted(set(data.fold[rows & (data.source == "ck")].tolist()))
    probabilities = out_of_fold(data, neutral_x, rows, aus, lam, folds)
    scored = rows & (data.source != "megc") & np.isfinite(probabilities[:, 0])
    return np.array([best_threshold(data.y[scored, ALL_AUS.index(au)] > 0.5, probabilities[scored, k])
                     for k, au in enumerate(aus)])


# AUs whose labels are cached (a superset of the shipped ones: AU10, 43, 45 when coded)
ALL_AUS: tuple[int, ...] = tuple(sorted(set(AUS) | {10, 11, 13, 16, 18, 21, 22, 28, 38, 39, 43, 45}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mien.train.au_mesh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="mesh the training faces once")
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--max-neutral", type=int, default=1500)
    e.add_argument("--threads", type=int, default=2)
    a = sub.add_parser("appearance", help="(experiment) the expression network's embedding of the same faces")
    a.add_argument("--data", type=Path, required=True)
    a.add_argument("--cache", type=Path, required=True)
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--expression", default="mfn-raf-ferplus")
    f = sub.add_parser("fit", help="fit the shipped model on every sample, thresholds from validation folds")
    f.add_argument("--cache", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--lam", type=float, default=LAMBDA)
    f.add_argument("--megc-weight", type=float, default=MEGC_WEIGHT)
    args = parser.parse_args(argv)
    if args.command == "extract":
        extract(args.data, args.out, args.max_neutral, args.threads)
    elif args.command == "appearance":
        extract_appearance(args.data, dict(np.load(args.cache)), args.out, args.expression)
    else:
        write_model(dict(np.load(args.cache)), args.out, args.lam, args.megc_weight)


LAMBDA = 5.0       # L2 strength on standardised features (moderate: probabilities stay away from 0 and 1)
MEGC_WEIGHT = 1.0  # weight of a MEGC2019 apex frame against a CK+ frame


def write_model(cache: dict, out: Path, lam: float = LAMBDA, megc_weight: float = MEGC_WEIGHT) -> None:
    from mien.io.writers import write_atomic
    from mien.tasks.aus import geometric_features

    data = training_set(cache, megc_weight)
    neutral_x = geometric_features(cache["neutral_points"])
    everything = np.ones(len(data.x), bool)
    thresholds = validation_thresholds(data, neutral_x, everything, AUS, lam)
    info = {"training_data": f"CK+ peak frames ({int((data.source == 'ck').sum())} images of 327 posed sequences, "
                             "118 subjects; FACS occurrence), "
                             f"{int((data.source == 'neutral').sum())} FER+ training faces with >= 9/10 neutral votes "
                             "as AU-free examples"
                             + (f", {int((data.source == 'megc').sum())} MEGC2019 apex frames of CASME II and SAMM "
                                "(spontaneous micro-expressions; AU codes from the coding sheets; features "
                                "normalised per subject)" if megc_weight > 0 else ""),
            "lambda": lam, "megc_weight": megc_weight,
            "thresholds": "best F1 on out-of-fold probabilities of CK+ (10 subject folds) and the neutral faces",
            "intensity": "linear score rescaled: median neutral training face 0, median CK+ peak frame with the AU 3"}
    model = fit_model(data, neutral_x, AUS, lam, thresholds, info)
    write_atomic(out, json.dumps(model.to_json(), indent=1))
    print(f"wrote {out}; thresholds {dict(zip(AUS, thresholds.round(3).tolist()))}")


if __name__ == "__main__":
    main()
