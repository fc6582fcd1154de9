"""Detection recall: face counts on the real media photos, and recall on CK+ and FER+ test faces
pasted into 640x480 frames (every such frame holds exactly one face).

    python benchmarks/bench_detection.py           # -> benchmarks/out/detection.json
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from common import data_root, save

from mien.detect.retinaface import RetinaFaceDetector
from mien.eval.expression import FRAME_SIZE, frame_face
from mien.io.images import read_image

# Faces a person counts in each photo (checked by eye on the overlays).
MEDIA_FACE_COUNTS = {"single_face.jpg": 1, "multi_face.jpg": 5, "free-mountain-vector-01.jpg": 0,
                     "BWPictureHuman.jpg": 1, "Image_with_alpha.png": 1, "0-f1-su-ph.jpg": 1,
                     "0-f15-hao-ph.jpg": 1, "15-f13-anc-ph.jpg": 1, "45-m7-di-ph.jpg": 1}


def framed_recall(detector, paths, background, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    found = 0
    for path in paths:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        found += len(detector.detect(frame_face(gray, background, rng))) > 0
    return {"images": len(paths), "found": found, "recall": found / max(1, len(paths))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    root = data_root()
    detector = RetinaFaceDetector(threads=args.threads)
    media = root / "media" / "pyfeat"
    counts = {name: {"expected": expected, "found": len(detector.detect(read_image(media / name)))}
              for name, expected in MEDIA_FACE_COUNTS.items()}
    background = cv2.resize(read_image(media / "free-mountain-vector-01.jpg"), FRAME_SIZE[::-1],
                            interpolation=cv2.INTER_AREA)
    ckplus = sorted((root / "ckplus" / "CK+48").rglob("*.png"))
    from mien.eval.expression import ferplus_majority

    ferplus_test = ferplus_majority(root / "ferplus", "test")
    results = {
        "media_counts": counts,
        "ckplus_framed": framed_recall(detector, ckplus, background),
        "ferplus_test_framed": framed_recall(detector, [root / "ferplus" / n for n in ferplus_test.names], background),
    }
    for key in ("ckplus_framed", "ferplus_test_framed"):
        print(key, results[key])
    print({k: (v["found"], v["expected"]) for k, v in counts.items()})
    save("detection", {"detector": "retinaface", "score_threshold": detector.score_threshold, "results": results})


if __name__ == "__main__":
    main()
