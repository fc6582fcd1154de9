"""Detect 5 landmarks on every FER+ image with mien's own detector (training-time alignment).

FER2013 crops are 48x48 and already roughly centred; running the pipeline's detector on them (upscaled
and padded) gives per-image landmarks, so training crops are aligned exactly as the pipeline aligns faces
at inference. Images where no face is found keep ``NaN`` landmarks and are used unaligned.

    python -m mien.train.ferplus_landmarks --root ../shared/datasets/ferplus --out data_cache/ferplus_landmarks.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

UPSCALE = 3
PAD = 48


def detect_crop_landmarks(detector, gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Landmarks (5, 2) in the crop's own pixels and the detector score, or NaNs and 0 when none found."""
    size = gray.shape[0]
    big = cv2.resize(gray, (size * UPSCALE, size * UPSCALE), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=128)
    found = detector.detect(np.repeat(big[..., None], 3, axis=2))
    if len(found) == 0:
        return np.full((5, 2), np.nan, np.float32), 0.0
    best = int(np.argmax(found.scores))
    return (found.landmarks[best] - PAD) / UPSCALE, float(found.scores[best])


def main(argv: list[str] | None = None) -> None:
    from mien.detect.retinaface import RetinaFaceDetector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    detector = RetinaFaceDetector(threads=args.threads, score_threshold=0.5, min_size=64)
    names, landmarks, scores = [], [], []
    started = time.time()
    for split in ("FER2013Train", "FER2013Valid", "FER2013Test"):
        for path in sorted((args.root / split).glob("*.png")):
            points, score = detect_crop_landmarks(detector, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
            names.append(f"{split}/{path.name}")
            landmarks.append(points)
            scores.append(score)
            if len(names) % 2000 == 0:
                print(f"{len(names)} images, {time.time() - started:.0f}s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, names=np.array(names), landmarks=np.array(landmarks), scores=np.array(scores, np.float32)
    )
    print(f"found faces in {np.mean(np.array(scores) > 0):.4f} of {len(names)} images -> {args.out}")


if __name__ == "__main__":
    main()
