"""Every option of the pipeline with its default, written once here and shared by every front end.

The Python API (:class:`mien.Analyzer`, ``analyze_video``), the command line, the server, ``mien batch``
and ``mien live`` all build an :class:`AnalyzerConfig` (what is computed on each face) and, for video, a
:class:`VideoOptions` (which frames, how faces are followed in time). Front ends pass only the values the
user gave: :meth:`AnalyzerConfig.from_options` and :meth:`VideoOptions.from_options` drop ``None``, so a
default is never restated anywhere else.

This module is a leaf: it imports nothing from mien except the option ranges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Mapping

from mien.options import check_detector_options, check_options

DEFAULT_DETECTOR = "retinaface"
WHOLE_IMAGE = "whole-image"  # the detector name meaning "each input already is one face"
DEFAULT_EXPRESSION = "mfn-raf-ferplus"  # the registered expression model every front end starts from
FAST_EXPRESSION = "mfn64-raf-ferplus"  # the registered fast variant (the default distilled to 64 px)
ACCURATE_EXPRESSION = "mfn-sface-raf-ferplus"  # the registered accurate variant (the default + an SFace network)
DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: larger than any camera photo, small enough to decode
# The files a folder given as input is searched for (and the dataset image folders): what the decoder reads.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".avif", ".gif", ".jfif"})
# (.heic/.heif are not listed: Pillow cannot decode them here; named explicitly, one is refused with a message,
# and a folder walk counts the ones it leaves out so that the front ends can say so)
UNDECODABLE_IMAGE_EXTENSIONS = frozenset({".heic", ".heif"})

PAGES = ("first", "all")
LANDMARKS = (None, "mesh", "mesh468", "dlib68")
AUS = (None, "mesh")


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class AnalyzerConfig:
    """What the image pipeline computes on each face, and with which resources.

    Args:
        detector: registered detector name (``mien models``), :data:`WHOLE_IMAGE` (``"whole-image"``) when
            every input already is one cropped face (CK+, JAFFE, FER2013 crops; landmarks are still found
            inside it), or an object with ``detect(image, *, max_size=None, min_size=None) -> Detections``
            (:class:`mien.detect.base.FaceDetector`).
        expression: registered expression model name, path to a mien-format ONNX file, or a model object with
            ``crop`` and ``predict_heads(crops)`` (:class:`mien.models.expression.ExpressionBackend`).
        threads: CPU threads per model (None: ``MIEN_THREADS`` or all cores, at most 8); OpenCV's own
            thread count is the application's to set.
        device: ``"cpu"`` or ``"cuda"`` (needs onnxruntime-gpu).
        batch_size: inputs whose faces are classified together (>= 1).
        max_pixels: refuse images (and video frames) above this many pixels (decompression-bomb guard).
        pages: multi-page TIFF: ``"first"`` page only, or ``"all"`` pages as frames 0, 1, ...
        landmarks: None, ``"mesh"``, ``"mesh468"`` or ``"dlib68"``. ``"mesh"`` runs MediaPipe's 468-point face
            mesh and iris models (shipped, ONNX) on each face: it adds the 68 iBUG landmarks derived from the
            mesh, measured eye openness, head pose from a rigid fit of the dense 3-D points (plus OpenFace's
            ``pose_T*``/``pose_R*``) and gaze (:data:`mien.schema.MESH_COLUMNS`); ``"mesh468"`` also writes the
            468 mesh points (:data:`mien.schema.MESH468_COLUMNS`). ``"dlib68"`` adds the 68 iBUG landmarks and
            eye openness from dlib's shape predictor (and head pose uses them); needs
            ``pip install 'mien[landmarks]'``.
        aus: None (the expression model's AU head) or ``"mesh"``: the mesh AU estimator
            (:mod:`mien.tasks.aus`: geometry of the dense mesh with the head pose removed, calibrated
            probabilities, thresholds chosen on validation folds, intensities ``AUxx_r`` on OpenFace's 0-5
            scale; in video measured against each track's own neutral and smoothed); it runs the mesh
            (``landmarks="mesh"`` unless ``"mesh468"`` is given).
        detector_options: passed to a registered detector, e.g. ``{"score_threshold": 0.9, "max_size": 1280}``
            (a detector object is configured by its owner).
    """

    detector: Any = DEFAULT_DETECTOR
    expression: Any = DEFAULT_EXPRESSION
    threads: int | None = None
    device: str = "cpu"
    batch_size: int = 16
    max_pixels: int = DEFAULT_MAX_PIXELS
    pages: str = "first"
    landmarks: str | None = None
    aus: str | None = None
    detector_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_stage("detector", self.detector, ("detect",))
        _check_stage("expression", self.expression, ("crop", "predict_heads"))
        if self.detector_options and not isinstance(self.detector, str):
            raise ValueError("detector_options apply to a registered detector name; configure a detector object "
                             "itself")
        check_options(batch_size=self.batch_size, threads=self.threads, max_pixels=self.max_pixels)
        check_detector_options(dict(self.detector_options))
        _check_choice("pages", self.pages, PAGES)
        _check_choice("landmarks", self.landmarks, LANDMARKS)
        _check_choice("aus", self.aus, AUS)
        if self.aus == "mesh" and self.landmarks == "dlib68":
            raise ValueError("aus='mesh' needs the face mesh: use landmarks='mesh' or 'mesh468', not 'dlib68'")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        object.__setattr__(self, "detector_options", dict(self.detector_options))

    @classmethod
    def from_options(cls, **values: Any) -> "AnalyzerConfig":
        """A config from the values a front end was given; ``None`` means "the default"."""
        return cls(**_drop_none(values))

    def replace(self, **values: Any) -> "AnalyzerConfig":
        """A copy with the non-None ``values`` changed."""
        return dataclasses.replace(self, **_drop_none(values))

    @property
    def whole_image(self) -> bool:
        """Whether each input already is one face (``detector == WHOLE_IMAGE``)."""
        return isinstance(self.detector, str) and self.detector == WHOLE_IMAGE

    @property
    def mesh_landmarks(self) -> str | None:
        """The landmark model that actually runs: the mesh is switched on by ``aus="mesh"``."""
        return self.landmarks or ("mesh" if self.aus == "mesh" else None)


@dataclass(frozen=True)
class Sampling:
    """Which frames to analyse: every ``every``-th frame, or at most ``fps`` frames per second, within
    ``[start, end)`` seconds."""

    every: int = 1
    fps: float | None = None
    start: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")


@dataclass(frozen=True)
class VideoOptions:
    """How a video (file or live stream) is analysed.

    Args:
        every: analyse every ``every``-th frame (>= 1).
        fps: or at most this many frames per second (None: all, subject to ``every``).
        start: first second analysed (>= 0).
        end: analysis stops before this second (None: the end of the video).
        detect_every: run full-frame detection on every k-th analysed frame; in between, tracked faces are
            re-detected only inside a region around their predicted position (much cheaper; new faces
            appear at the next full detection).
        smooth: time constant in seconds of the exponential smoothing of per-track probabilities (0 = off);
            with the face mesh it also smooths AUs (after each track's neutral baseline with ``aus="mesh"``),
            head pose and gaze.
        max_missed: seconds a track survives without being detected.
    """

    every: int = 1
    fps: float | None = None
    start: float = 0.0
    end: float | None = None
    detect_every: int = 1
    smooth: float = 0.3
    max_missed: float = 1.0

    def __post_init__(self) -> None:
        check_options(every=self.every, fps=self.fps, start=self.start, end=self.end,
                      detect_every=self.detect_every, smooth=self.smooth, max_missed=self.max_missed)

    @classmethod
    def from_options(cls, **values: Any) -> "VideoOptions":
        """Options from the values a front end was given; ``None`` means "the default"."""
        return cls(**_drop_none(values))

    def replace(self, **values: Any) -> "VideoOptions":
        """A copy with the non-None ``values`` changed."""
        return dataclasses.replace(self, **_drop_none(values))

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.every, self.fps, self.start, self.end)


def _check_stage(name: str, value: Any, members: tuple[str, ...]) -> None:
    """A stage is a registered name (str; an expression model may also be a Path) or an object with
    ``members``."""
    if isinstance(value, str) or (name == "expression" and isinstance(value, PurePath)):
        if not str(value):
            raise ValueError(f"{name} must not be empty")
        return
    missing = [member for member in members if not hasattr(value, member)]
    if missing:
        raise TypeError(f"{name} must be a registered name or an object with {', '.join(members)}; "
                        f"{type(value).__name__} lacks {', '.join(missing)}")


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        shown = ", ".join(repr(choice) for choice in allowed)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
