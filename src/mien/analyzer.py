"""The image pipeline: source -> detector -> aligner -> heads -> :class:`~mien.result.Result`.

    import mien
    result = mien.Analyzer().analyze("photo.jpg")   # or an array, a PIL image, bytes, or a list of them
    result.to_pandas()

Models are loaded once per ``Analyzer``; faces from several images are classified in one batched call.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np

from mien.align.similarity import outside_fraction, warp_face
from mien.detect.base import Detections
from mien.io.images import DEFAULT_MAX_PIXELS, Frame, iter_frames
from mien.models.expression import ExpressionModel
from mien.registry import create, get_spec
from mien.result import FrameTable, Result

BLUR_REFERENCE_SIZE = 64  # blur is measured on the aligned face resized to this many pixels


def sharpness(gray_face: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned face (resized to 64 px): low values mean blur."""
    if gray_face.shape[0] != BLUR_REFERENCE_SIZE:
        gray_face = cv2.resize(gray_face, (BLUR_REFERENCE_SIZE, BLUR_REFERENCE_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray_face, cv2.CV_64F).var())


def _is_single_input(inputs: Any) -> bool:
    return not isinstance(inputs, (list, tuple)) and not (
        isinstance(inputs, np.ndarray) and inputs.dtype == object
    )


def load_expression_model(name_or_path: str | Path, threads: int | None, device: str, batch_size: int) -> ExpressionModel:
    """A registered expression model by name, or a user's ONNX file by path."""
    text = str(name_or_path)
    if text.endswith(".onnx") or Path(text).is_file():
        return ExpressionModel(text, threads=threads, device=device, batch_size=batch_size)
    return get_spec(text, "expression").create(threads=threads, device=device, batch_size=batch_size)


class Analyzer:
    """Detect faces, align them and estimate their expression.

    Args:
        detector: registered detector name (see ``mien models``).
        expression: registered expression model name, or a path to a mien-format ONNX file.
        whole_image: skip detection and treat each image as one face already cropped like the
            training data (e.g. CK+, JAFFE, FER2013 crops).
        threads: onnxruntime threads per model (default: ``MIEN_THREADS`` or all cores, at most 8).
        device: ``"cpu"`` or ``"cuda"`` (needs onnxruntime-gpu).
        batch_size: images decoded and faces classified together.
        max_pixels: refuse images above this many pixels (decompression-bomb guard).
        pages: multi-page TIFF: ``"first"`` page only, or ``"all"`` pages as frames 0, 1, ...
        detector_options: passed to the detector, e.g. ``{"score_threshold": 0.9, "max_size": 1280}``.
    """

    def __init__(
        self,
        detector: str = "retinaface",
        expression: str | Path = "mnv2-ferplus",
        *,
        whole_image: bool = False,
        threads: int | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        pages: str = "first",
        detector_options: dict[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.whole_image = whole_image
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.pages = pages
        self.detector_name = "whole-image" if whole_image else detector
        self.detector = None if whole_image else create(
            detector, "detector", threads=threads, device=device, **(detector_options or {})
        )
        self.expression = load_expression_model(expression, threads, device, batch_size=max(batch_size, 32))
        self.expression_name = str(expression)
        self.timings: dict[str, float] = defaultdict(float)  # seconds per stage, accumulated

    # ------------------------------------------------------------------ public API
    def analyze(self, inputs: Any) -> Result:
        """Analyse one input (path, numpy array, PIL image, bytes) or a list of them."""
        return Result.merge(list(self.iter_results(inputs)))

    def iter_results(self, inputs: Any) -> Iterator[Result]:
        """Yield one :class:`Result` per input, in order, decoding and classifying in batches."""
        for result, _ in self.stream(inputs):
            yield result

    def stream(self, inputs: Any) -> Iterator[tuple[Result, list[Frame]]]:
        """Like :meth:`iter_results`, with each input's decoded frames (for drawing overlays)."""
        items = [inputs] if _is_single_input(inputs) else list(inputs)
        names = [self._name(item, i, len(items)) for i, item in enumerate(items)]
        for start in range(0, len(items), self.batch_size):
            chunk = list(zip(items[start:start + self.batch_size], names[start:start + self.batch_size]))
            frames_per_input = [list(self._frames(item, name)) for item, name in chunk]
            combined = self._analyze_frames([f for frames in frames_per_input for f in frames])
            counts = [len(f) for f in frames_per_input]
            yield from zip(self._split_by_input(combined, counts), frames_per_input)

    def analyze_frames(self, frames: Sequence[Frame]) -> Result:
        """Analyse already-decoded frames (used by video and the server)."""
        return self._analyze_frames(list(frames))

    def analyze_image(self, image: np.ndarray, name: str = "<array>", frame: int = 0, timestamp: float = 0.0) -> Result:
        """Analyse one RGB uint8 image (H, W, 3)."""
        return self._analyze_frames([Frame(name, frame, image, timestamp)])

    @property
    def metadata(self) -> dict[str, Any]:
        from mien import __version__

        return {"mien_version": __version__, "detector": self.detector_name,
                "expression_model": self.expression_name, "whole_image": self.whole_image}

    # ------------------------------------------------------------------ stages
    def _frames(self, item: Any, name: str | None) -> Iterator[Frame]:
        started = time.perf_counter()
        for frame in iter_frames(item, self.pages, self.max_pixels, name):
            self.timings["decode"] += time.perf_counter() - started
            yield frame
            started = time.perf_counter()

    @staticmethod
    def _name(item: Any, index: int, count: int) -> str | None:
        if isinstance(item, (str, Path)):
            return str(item)
        if isinstance(item, (bytes, bytearray)):
            return f"<bytes:{index}>" if count > 1 else "<bytes>"
        return f"<array:{index}>" if count > 1 else None

    def _detect(self, image: np.ndarray) -> Detections:
        if self.detector is None:  # whole-image mode: the image is the face, framed like the training crops
            height, width = image.shape[:2]
            points = self.expression.crop.template * np.array([width, height])
            return Detections(np.array([[0, 0, width, height]], np.float32), np.ones(1, np.float32),
                              points[None].astype(np.float32))
        detections = self.detector.detect(image)
        return detections[np.argsort(-detections.scores, kind="stable")]

    def _analyze_frames(self, frames: list[Frame]) -> Result:
        table = FrameTable()
        per_face: dict[str, list] = defaultdict(list)
        crops: list[np.ndarray] = []
        for frame in frames:
            image = frame.image
            height, width = (image.shape[:2] if image is not None else (0, 0))
            row = table.append(frame.source, frame.index, frame.timestamp, width, height, frame.error)
            if image is None:
                continue
            started = time.perf_counter()
            detections = self._detect(image)
            self.timings["detect"] += time.perf_counter() - started
            started = time.perf_counter()
            for face_id in range(len(detections)):
                crop, matrix = warp_face(image, detections.landmarks[face_id], self.expression.crop)
                crops.append(crop)
                per_face["frame_index"].append(row)
                per_face["face_id"].append(face_id)
                per_face["boxes"].append(detections.boxes[face_id])
                per_face["face_scores"].append(detections.scores[face_id])
                per_face["landmarks"].append(detections.landmarks[face_id])
                per_face["blur"].append(sharpness(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)))
                per_face["outside"].append(outside_fraction(matrix, crop.shape[0], height, width))
            self.timings["align"] += time.perf_counter() - started
        started = time.perf_counter()
        probabilities = self.expression.predict(np.stack(crops)) if crops else None
        self.timings["expression"] += time.perf_counter() - started
        result = Result(frames=table, metadata=self.metadata)
        if crops:
            result.frame_index = np.asarray(per_face["frame_index"], np.int64)
            result.face_id = np.asarray(per_face["face_id"], np.int64)
            result.boxes = np.asarray(per_face["boxes"], np.float32)
            result.face_scores = np.asarray(per_face["face_scores"], np.float32)
            result.landmarks = np.asarray(per_face["landmarks"], np.float32)
            result.blur = np.asarray(per_face["blur"], np.float32)
            result.outside = np.asarray(per_face["outside"], np.float32)
            result.expression_probs = probabilities
        return result

    @staticmethod
    def _split_by_input(result: Result, frame_counts: list[int]) -> Iterator[Result]:
        start = 0
        for count in frame_counts:
            rows = range(start, start + count)
            table = FrameTable()
            for r in rows:
                table.append(result.frames.inputs[r], result.frames.frames[r], result.frames.timestamps[r],
                             result.frames.widths[r], result.frames.heights[r], result.frames.errors[r])
            part = result[(result.frame_index >= start) & (result.frame_index < start + count)]
            part.frames = table
            part.frame_index = part.frame_index - start
            start += count
            yield part


def analyze(inputs: Any, **options: Any) -> Result:
    """One-shot convenience: ``Analyzer(**options).analyze(inputs)``."""
    return Analyzer(**options).analyze(inputs)

