"""Micro-expression recognition from an onset and an apex frame: align, flow, strain, classify.

The onset frame's face is found by the detector and aligned onto the template of the MEGC2019 apex
crops (median RetinaFace landmarks measured on all 442 of them, so a crop made here frames the face as
the training data did); the apex frame is warped with the SAME matrix, so only facial motion, not
re-alignment jitter, shows in the flow. Then flow -> (u, v, strain) normalised image -> ONNX model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mien.align.similarity import CropSpec, warp_face, warp_with_matrix
from mien.config import DEFAULT_DETECTOR, WHOLE_IMAGE
from mien.detect import FaceDetector, load_detector
from mien.micro.flow import FLOW_IMAGE_SIZE, FlowMethod, flow_image, mirror_flow_image, optical_flow
from mien.models.runtime import create_session, session_metadata, softmax

MICRO_CLASSES = ("negative", "positive", "surprise")
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "models" / "weights"
SHIPPED_MICRO_MODEL = "micro-megc2019.onnx"

# Median landmark positions (fraction of the crop; left eye, right eye, nose, left and right mouth corner)
# that mien's detector finds on the MEGC2019 apex crops, made left-right symmetric.
MEGC_TEMPLATE = np.array([[0.269, 0.288], [0.731, 0.288], [0.500, 0.549], [0.290, 0.716], [0.710, 0.716]])
FLOW_CROP_SIZE = 112  # flow is computed on this crop, then reduced to the 28x28 flow image


@dataclass
class MicroPrediction:
    """One onset/apex pair: class probabilities (negative, positive, surprise) and the inputs used."""

    probabilities: np.ndarray                  # (3,) float32, sums to 1
    flow_image: np.ndarray                     # (28, 28, 3) uint8 u, v, strain
    face_box: np.ndarray | None                # (4,) onset-frame box, pixels; None when the frames are the face
    crops: tuple[np.ndarray, np.ndarray] = field(repr=False, default=None)  # aligned onset, apex crops

    @property
    def label(self) -> str:
        return MICRO_CLASSES[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    def to_record(self) -> dict:
        record = {"micro_label": self.label, "micro_confidence": round(self.confidence, 4)}
        record.update({f"micro_{name}": round(float(p), 4) for name, p in zip(MICRO_CLASSES, self.probabilities)})
        return record


class MicroModel:
    """The ONNX classifier: (N, 3, 28, 28) float flow images in 0..255 -> probabilities of 3 classes."""

    def __init__(self, path: str | Path | None = None, threads: int | None = None) -> None:
        path = Path(path) if path is not None else WEIGHTS_DIR / SHIPPED_MICRO_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"micro-expression model not found: {path}")
        self.path = path
        self.session = create_session(path, threads)
        self.metadata = session_metadata(self.session)
        if self.metadata.get("mien.task") != "micro":
            raise ValueError(f"{path}: not a mien micro-expression model (mien.task={self.metadata.get('mien.task')!r})")
        labels = tuple(json.loads(self.metadata.get("mien.labels", "[]")))
        if labels != MICRO_CLASSES:
            raise ValueError(f"{path}: labels {labels} differ from {MICRO_CLASSES}")
        self.flow_method: FlowMethod = self.metadata.get("mien.flow", "farneback")  # type: ignore[assignment]
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, flow_images: np.ndarray) -> np.ndarray:
        """(N, 3) probabilities for (N, 28, 28, 3) uint8 flow images, averaged with the mirrored input."""
        x = flow_images.transpose(0, 3, 1, 2).astype(np.float32)
        mirrored = mirror_flow_image(flow_images.astype(np.float32)).transpose(0, 3, 1, 2).copy()
        logits = [self.session.run(None, {self.input_name: batch})[0] for batch in (x, mirrored)]
        return ((softmax(logits[0]) + softmax(logits[1])) / 2).astype(np.float32)


class MicroRecognizer:
    """Onset + apex frames (RGB uint8 arrays) -> :class:`MicroPrediction`.

    Args:
        model: path of a mien micro ONNX file (default: the shipped MEGC2019 model).
        detector: registered detector name or detector object (:class:`~mien.detect.base.FaceDetector`) used
            on the onset frame; :data:`~mien.config.WHOLE_IMAGE` treats both frames as already-cropped faces
            (e.g. CASME II's cropped frames), resized whole.
        flow: "farneback" (default: what the published MEGC preprocessing used) or "dis" (about as accurate
            on known motion and faster; see BENCHMARKS.md).
    """

    def __init__(self, model: str | Path | None = None, detector: str | FaceDetector = DEFAULT_DETECTOR,
                 threads: int | None = None, flow: FlowMethod | None = None) -> None:
        self.model = MicroModel(model, threads)
        self.whole_image = isinstance(detector, str) and detector == WHOLE_IMAGE
        self.detector_name = detector if isinstance(detector, str) else type(detector).__name__
        # the frames are the face: they are resized whole, no landmarks are looked for (MEGC crops)
        self.detector = None if self.whole_image else load_detector(detector, threads=threads)
        self.flow_method: FlowMethod = flow or self.model.flow_method
        self.crop = CropSpec(FLOW_CROP_SIZE, MEGC_TEMPLATE)

    def align_pair(self, onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Aligned (onset, apex) crops, both warped with the onset face's matrix, and the onset face box."""
        if onset.shape[:2] != apex.shape[:2]:
            raise ValueError(f"onset {onset.shape[:2]} and apex {apex.shape[:2]} frames differ in size")
        if self.whole_image:
            import cv2

            size = (FLOW_CROP_SIZE, FLOW_CROP_SIZE)
            return (cv2.resize(onset, size, interpolation=cv2.INTER_AREA),
                    cv2.resize(apex, size, interpolation=cv2.INTER_AREA), None)
        detections = self.detector.detect(onset)
        if len(detections) == 0:
            raise ValueError("no face found in the onset frame")
        best = int(np.argmax((detections.boxes[:, 2] - detections.boxes[:, 0]) * (detections.boxes[:, 3] - detections.boxes[:, 1])))
        onset_crop, matrix = warp_face(onset, detections.landmarks[best], self.crop)
        return onset_crop, warp_with_matrix(apex, matrix, FLOW_CROP_SIZE), detections.boxes[best]

    def flow_image(self, onset_crop: np.ndarray, apex_crop: np.ndarray) -> np.ndarray:
        return flow_image(optical_flow(onset_crop, apex_crop, self.flow_method), FLOW_IMAGE_SIZE)

    def recognize(self, onset: np.ndarray, apex: np.ndarray) -> MicroPrediction:
        onset_crop, apex_crop, box = self.align_pair(onset, apex)
        image = self.flow_image(onset_crop, apex_crop)
        probabilities = self.model.predict(image[None])[0]
        return MicroPrediction(probabilities, image, box, (onset_crop, apex_crop))

    def recognize_files(self, onset: str | Path, apex: str | Path) -> MicroPrediction:
        """Read two image files (any format mien reads) and recognise; errors name the file."""
        from mien.io.images import read_image

        return self.recognize(read_image(onset), read_image(apex))
