"""Is mirror test-time augmentation worth its cost? Each shipped colour expression model scored on the validation
data with and without averaging its probabilities over the face and its mirror image (twice the network time).

    python benchmarks/bench_tta.py [--keep-if-untrained]

Validation data only (RAF-DB validation carved from train with seed 0, FER+ valid), read from the aligned face
cache (``python -m mien.train.face_cache``; 112-px crops, shrunk by area averaging for smaller models); the
score is the trainers' (mean of RAF-DB validation accuracy, its mean class accuracy and FER+ validation
accuracy). The ArcFace template is left-right symmetric, so the mirror of an aligned crop is the aligned crop
of the mirrored face. No test split is read here.
"""

from __future__ import annotations

import sys

import numpy as np

from common import KEEP_FLAG, REPO, keep_previous, save

from mien.config import ACCURATE_EXPRESSION, DEFAULT_EXPRESSION, FAST_EXPRESSION

FACES = REPO / "data_cache" / "faces112"
MODELS = (DEFAULT_EXPRESSION, FAST_EXPRESSION, ACCURATE_EXPRESSION)


def probabilities(session, crops: np.ndarray, size: int, batch_size: int = 64) -> np.ndarray:
    """Softmax of the model's logits on ``crops`` shrunk to ``size`` px."""
    from mien.train.fast_student import downsized

    chunks = []
    for start in range(0, len(crops), batch_size):
        x = downsized(crops[start:start + batch_size], size).transpose(0, 3, 1, 2).astype(np.float32)
        logits = session.run(["logits"], {"face": x})[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        chunks.append(e / e.sum(axis=1, keepdims=True))
    return np.concatenate(chunks)


def measure(name: str, crops: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict:
    import onnxruntime as ort

    from mien.models.expression import WEIGHTS_DIR
    from mien.train.facenet_expression import selection_score, validation_metrics

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    path = WEIGHTS_DIR / f"{name}.onnx"
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    size = session.get_inputs()[0].shape[2]
    plain = {k: probabilities(session, x, size) for k, x in crops.items()}
    mirrored = {k: probabilities(session, np.ascontiguousarray(x[:, :, ::-1]), size) for k, x in crops.items()}
    result = {}
    for mode, probs in (("plain", plain), ("mirror", {k: (plain[k] + mirrored[k]) / 2 for k in plain})):
        metrics = validation_metrics(probs, labels)
        result[mode] = {"score": selection_score(metrics), **metrics}
    return result


def main() -> None:
    if not FACES.is_dir():
        if KEEP_FLAG in sys.argv:
            keep_previous("tta", f"the face cache {FACES.relative_to(REPO)} is not on this machine "
                                 "(python -m mien.train.face_cache)")
        raise SystemExit(f"{FACES} missing: build it with python -m mien.train.face_cache")
    from mien.train.fast_student import validation_faces

    validation = validation_faces(FACES, size=112)  # the originals: each model shrinks them to its own size
    crops = {name: faces for name, (faces, _) in validation.items()}
    labels = {name: truth for name, (_, truth) in validation.items()}
    models = {}
    for name in MODELS:
        models[name] = measure(name, crops, labels)
        print(f"{name}: plain {models[name]['plain']['score']:.4f}, mirror {models[name]['mirror']['score']:.4f}",
              flush=True)
    save("tta", {"models": models})


def tta_section(report: dict) -> list[str]:
    lines = ["Mirror test-time augmentation (`python benchmarks/bench_tta.py`; validation data only): the mean of the",
             "probabilities of the face and its mirror image, at twice the network's time. It is not used by any",
             "shipped model or front end: the mirrored fast variant would cost about the default's time, and the",
             "default scores higher; the accurate variant gains little for twice its time.", "",
             "| model | score plain | score mirror | RAF-DB val acc plain / mirror | FER+ val acc plain / mirror |",
             "|---|---:|---:|---:|---:|"]
    for name, r in report["models"].items():
        p, m = r["plain"], r["mirror"]
        lines.append(f"| `{name}` | {p['score']:.4f} | {m['score']:.4f} | {p['rafdb_valid']['accuracy']:.3f} / "
                     f"{m['rafdb_valid']['accuracy']:.3f} | {p['ferplus_valid']['accuracy']:.3f} / "
                     f"{m['ferplus_valid']['accuracy']:.3f} |")
    return lines + [""]


if __name__ == "__main__":
    main()
