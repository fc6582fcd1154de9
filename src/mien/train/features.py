"""Frozen features of mien's expression network for training heads on other data (AUs, valence/arousal).

Faces are found and aligned exactly as at inference (the detector, then the model's own template and crop
size from its ONNX metadata), converted to grayscale like the expression model's input, and passed
through the ONNX file with its flattened feature map exposed (:func:`mien.models.heads.with_features_output`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np


def onnx_features(session, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, D) flattened feature maps of (N, S, S) uint8 gray crops, from a :func:`with_features_output` session
    (a colour model gets the gray crop on all three channels, as a grayscale photo reaches it)."""
    outputs = []
    channels = session.get_inputs()[0].shape[1]
    for start in range(0, len(crops), batch_size):
        batch = crops[start:start + batch_size][:, None].astype(np.float32)
        if channels == 3:
            batch = np.repeat(batch, 3, axis=1)
        outputs.append(session.run(["au_features"], {"face": batch})[0])
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def aligned_gray_faces(images, crop, detector, boxes=None) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S) uint8 grayscale faces aligned onto ``crop`` (the largest face the detector finds; the given
    box resized when it finds none) and a (N,) found mask."""
    import cv2

    from mien.align.similarity import warp_face

    out = np.zeros((len(images), crop.size, crop.size), np.uint8)
    found = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        detections = detector.detect(image)
        if len(detections):
            areas = (detections.boxes[:, 2] - detections.boxes[:, 0]) * (detections.boxes[:, 3] - detections.boxes[:, 1])
            face, _ = warp_face(image, detections.landmarks[int(np.argmax(areas))], crop)
            found[i] = True
        elif boxes is not None and boxes[i] is not None:
            x, y, w, h = (int(round(v)) for v in boxes[i])
            region = image[max(0, y):y + h, max(0, x):x + w]
            if region.size == 0:
                continue
            face = cv2.resize(region, (crop.size, crop.size), interpolation=cv2.INTER_AREA)
        else:
            continue
        out[i] = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    return out, found


def sample_features(model_path: Path, samples, threads: int = 2,
                    read: Callable[[Any], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frozen features (N, D) of each sample's face and a (N,) mask of faces found (by detector or box).
    ``read``: a sample's RGB uint8 image (default :func:`mien.io.samples.read_sample`, for dataset samples)."""
    import onnx

    from mien.detect.retinaface import RetinaFaceDetector
    from mien.io.samples import read_sample
    from mien.models.expression import read_expression_spec
    from mien.models.heads import session_from_model, with_features_output

    read = read or read_sample
    model = onnx.load(str(model_path))
    crop, _ = read_expression_spec({p.key: p.value for p in model.metadata_props}, str(model_path))
    session = session_from_model(with_features_output(model), threads)
    detector = RetinaFaceDetector(threads=threads)
    features, usable = [], []
    for start in range(0, len(samples), 256):
        chunk = samples[start:start + 256]
        boxes = [getattr(s, "box", None) for s in chunk]  # VA samples may carry the dataset's face box
        faces, found = aligned_gray_faces([read(s) for s in chunk], crop, detector, boxes)
        features.append(onnx_features(session, faces))
        usable.append(found | np.array([b is not None for b in boxes]))
    return np.concatenate(features), np.concatenate(usable)
