"""The image pipeline: source -> detector -> aligner -> heads -> :class:`~mien.result.Result`.

    import mien
    result = mien.Analyzer().analyze("photo.jpg")   # or a folder, glob, array, PIL image, bytes, or a list
    result.to_pandas()

Models are loaded once per ``Analyzer``. Each frame is detected and aligned as soon as it is decoded and
its pixels are then released (unless the caller keeps them: ``stream(keep_images=True)``); face crops from several inputs are classified
together in one batched call.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from mien._version import __version__
from mien.align.similarity import crop_whole_image, outside_fraction, warp_face
from mien.config import WHOLE_IMAGE, AnalyzerConfig, VideoOptions
from mien.detect import load_detector
from mien.detect.base import Detections, FaceDetector
from mien.io.images import Frame, iter_frames
from mien.models.expression import ExpressionBackend, load_expression_model
from mien.quality import THRESHOLDS, sharpness
from mien.result import FrameTable, Result
from mien.schema import AUS
from mien.tasks.pose import MESH_POSE_METHOD, POSE_METHOD, estimate_poses
from mien.tasks.valence import VA_METHOD, valence_arousal

if TYPE_CHECKING:  # pragma: no cover
    from mien.video.pipeline import VideoStream

IMAGES_KEPT_PIXEL_BUDGET = 200_000_000  # decoded pixels held at once for overlays before a batch is flushed


@dataclass
class FrameFaces:
    """One decoded frame after detection and alignment, waiting for the heads."""

    frame: Frame
    width: int | None
    height: int | None
    detections: Detections
    crops: np.ndarray  # (k, S, S, 3) uint8
    blur: np.ndarray  # (k,)
    outside: np.ndarray  # (k,)
    dense: Any = None  # (k, 68, 2) dlib landmarks, or a MeshResult with landmarks="mesh"


class Analyzer:
    """Detect faces, align them and estimate their expression.

    Every option is a field of :class:`~mien.config.AnalyzerConfig`, which documents its default and range;
    ``analyzer.config`` holds the configuration in use.

    Args:
        config: the configuration to start from (None: ``AnalyzerConfig()``).
        detector, expression, threads, device, batch_size, max_pixels, pages, landmarks, aus, detector_options:
            override that field of ``config``; None keeps it. ``detector`` and ``expression`` also take
            objects (:class:`~mien.detect.base.FaceDetector`,
            :class:`~mien.models.expression.ExpressionBackend`).
        whole_image: deprecated; ``whole_image=True`` is ``detector="whole-image"`` (:data:`mien.config.WHOLE_IMAGE`).

    The analyzer sets no global state: the number of OpenCV threads is the application's choice
    (``cv2.setNumThreads``).
    """

    def __init__(
        self,
        config: AnalyzerConfig | None = None,
        *,
        detector: str | FaceDetector | None = None,
        expression: str | Path | ExpressionBackend | None = None,
        threads: int | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        max_pixels: int | None = None,
        pages: str | None = None,
        landmarks: str | None = None,
        aus: str | None = None,
        detector_options: Mapping[str, Any] | None = None,
        whole_image: bool | None = None,
    ) -> None:
        if config is not None and not isinstance(config, AnalyzerConfig):
            raise TypeError(f"Analyzer's first argument is an AnalyzerConfig, got {type(config).__name__}; "
                            "pass detector=..., expression=... by keyword")
        detector = _whole_image_alias(whole_image, detector)
        overrides = dict(detector=detector, expression=expression, threads=threads, device=device,
                         batch_size=batch_size, max_pixels=max_pixels, pages=pages, landmarks=landmarks, aus=aus,
                         detector_options=detector_options)
        self.config = config.replace(**overrides) if config is not None else AnalyzerConfig.from_options(**overrides)
        config = self.config
        self.detector = load_detector(config.detector, threads=config.threads, device=config.device,
                                      **config.detector_options)
        self.expression = load_expression_model(config.expression, config.threads, config.device)
        self.dense_model = _dense_model(config.mesh_landmarks, config.threads, config.device)
        self.au_model = None
        if config.aus == "mesh":
            from mien.tasks.aus import shipped_model

            self.au_model = shipped_model()
        self.timings: dict[str, float] = defaultdict(float)  # seconds per stage, accumulated

    @classmethod
    def from_config(cls, config: AnalyzerConfig) -> "Analyzer":
        """An analyzer built from an :class:`~mien.config.AnalyzerConfig` (what every front end uses)."""
        return cls(config)

    # ------------------------------------------------------------------ configuration, read-only
    @property
    def detector_name(self) -> str:
        """The detector's registered name, or its class name for a detector object."""
        return _stage_name(self.config.detector)

    @property
    def expression_name(self) -> str:
        """The expression model's registered name or path, or the object's ``name`` (else class name)."""
        return _stage_name(self.config.expression)

    @property
    def batch_size(self) -> int:
        return self.config.batch_size

    @property
    def max_pixels(self) -> int:
        return self.config.max_pixels

    @property
    def pages(self) -> str:
        return self.config.pages

    @property
    def detector_options(self) -> dict[str, Any]:
        return dict(self.config.detector_options)

    @property
    def landmarks(self) -> str | None:
        """The landmark model that runs (``aus="mesh"`` runs the mesh)."""
        return self.config.mesh_landmarks

    @property
    def aus(self) -> str | None:
        return self.config.aus

    @property
    def uses_mesh(self) -> bool:
        return self.landmarks in ("mesh", "mesh468")

    @property
    def metadata(self) -> dict[str, Any]:
        mesh = self.uses_mesh
        metadata = {"mien_version": __version__, "detector": self.detector_name, "detector_options": self.detector_options,
                    "expression_model": self.expression_name, "quality_thresholds": THRESHOLDS,
                    "expression_temperature": getattr(self.expression, "temperature", 1.0),
                    "uncertain_below": getattr(self.expression, "uncertain_below", None),
                    "au_thresholds": getattr(self.expression, "au_thresholds", None) or [0.5] * len(AUS),
                    "valence_arousal_method": getattr(self.expression, "va_method", None) or VA_METHOD,
                    "pose_method": MESH_POSE_METHOD if mesh else POSE_METHOD,
                    "eye_openness_method": {"mesh": "mesh68-ear", "mesh468": "mesh68-ear", "dlib68": "dlib68-ear"}.get(
                        self.landmarks or "", getattr(self.expression, "eyes_method", None))}
        if mesh:
            from mien.tasks.gaze import GAZE_METHOD

            metadata["gaze_method"] = GAZE_METHOD
        if self.au_model is not None:
            from mien.tasks.aus import AU_MESH_METHOD

            metadata["au_thresholds"] = [float(t) for t in self.au_model.thresholds]
            metadata["au_method"] = AU_MESH_METHOD
        return metadata

    @property
    def columns(self) -> list[str]:
        """The columns of every table this analyzer produces."""
        from mien.schema import DENSE_LANDMARK_COLUMNS, MESH468_COLUMNS, MESH_COLUMNS

        extra = {"mesh": MESH_COLUMNS, "mesh468": MESH_COLUMNS + MESH468_COLUMNS, "dlib68": DENSE_LANDMARK_COLUMNS}
        columns = Result().columns() + list(extra.get(self.landmarks or "", ()))
        if self.au_model is not None:
            from mien.schema import AU_INTENSITY_COLUMNS

            columns += list(AU_INTENSITY_COLUMNS)
        return columns

    # ------------------------------------------------------------------ public API
    def analyze(self, inputs: Any) -> Result:
        """Analyse one input or a list: paths, folders (recursive), globs, arrays, PIL images, bytes, or
        already-decoded :class:`~mien.io.frames.Frame` objects (kept with their source name, index and time).
        Any other iterable (a generator, a frame source such as :func:`~mien.video.reader.read_video`) is a
        sequence of inputs too, pulled one at a time (:meth:`stream` never holds it whole).

        Nothing is drawn or written: to draw overlays, take the frames from :meth:`stream` with
        ``keep_images=True`` (``mien analyze --overlay`` does, in :mod:`mien.workflows.images`).
        """
        return Result.merge(list(self.iter_results(inputs)))

    def iter_results(self, inputs: Any) -> Iterator[Result]:
        """Like :meth:`analyze`, one :class:`Result` per input as soon as it is ready (for streaming)."""
        for result, _ in self.stream(inputs):
            yield result

    def stream(self, inputs: Any, keep_images: bool = False) -> Iterator[tuple[Result, list[Frame]]]:
        """One ``(Result, frames)`` pair per input; frames keep their pixels only with ``keep_images``."""
        return self._stream(self._expand(inputs), keep_images)

    def analyze_video(self, path: str | Path, options: VideoOptions | None = None, *, keep_series: bool = False,
                      **keywords: Any) -> "VideoStream":
        """Stream a video: iterate the returned object for one :class:`Result` per analysed frame (with
        ``track_id`` and smoothed probabilities), or call its ``to_pandas()``.

        Args:
            path: the video file.
            options: how the video is analysed (None: ``VideoOptions()``); see
                :class:`~mien.config.VideoOptions` for every option, its default and range.
            keep_series: also keep each track's per-frame series in the stream's ``track_summary`` (times,
                smoothed probabilities, AUs, valence and arousal: 112 bytes per face per frame, 180 with AU
                intensities), which the track figures of :mod:`mien.viz.timeline` and :mod:`mien.viz.affect`
                draw. Changes no value.
            keywords: override fields of ``options`` (``every``, ``fps``, ``start``, ``end``, ``detect_every``,
                ``smooth``, ``max_missed``); None keeps a field.
        """
        from mien.video.pipeline import VideoStream

        unknown = sorted(set(keywords) - {f.name for f in dataclasses.fields(VideoOptions)})
        if unknown:
            raise TypeError(f"analyze_video() got unknown option(s) {', '.join(unknown)}")
        if keywords.get("fps") is not None and keywords.get("every") not in (None, 1):
            raise ValueError("give either every or fps, not both")
        options = options.replace(**keywords) if options is not None else VideoOptions.from_options(**keywords)
        return VideoStream(self, path, options, keep_series=keep_series)

    def analyze_frames(self, frames: Sequence[Frame]) -> Result:
        # Undocumented: already-decoded frames, one batch (the server and the evaluations use it).
        return self.classify([self.prepare(frame) for frame in frames])

    def analyze_image(self, image: np.ndarray, name: str = "<array>", frame: int = 0, timestamp: float = 0.0) -> Result:
        """Deprecated: use :meth:`analyze` (it takes arrays)."""
        warnings.warn("Analyzer.analyze_image is deprecated; use Analyzer.analyze(image)", DeprecationWarning,
                      stacklevel=2)
        return self.analyze_frames([Frame(name, frame, image, timestamp)])

    def _stream(self, expanded: Iterable[tuple[Any, str | None]], keep_images: bool) -> Iterator[tuple[Result, list[Frame]]]:
        chunk: list[list[FrameFaces]] = []
        kept_pixels = 0
        for item, name in expanded:
            prepared = []
            for frame in self._decode(item, name):
                prepared.append(self.prepare(frame))
                if keep_images and frame.image is not None:
                    kept_pixels += frame.image.shape[0] * frame.image.shape[1]
                elif not keep_images:
                    frame.image = None
            chunk.append(prepared)
            if len(chunk) >= self.batch_size or kept_pixels > IMAGES_KEPT_PIXEL_BUDGET:
                yield from self._finish(chunk)
                chunk, kept_pixels = [], 0
        if chunk:
            yield from self._finish(chunk)

    # ------------------------------------------------------------------ stages
    @staticmethod
    def _expand(inputs: Any) -> Iterator[tuple[Any, str | None]]:
        """Inputs as ``(item, name)``, pulled from ``inputs`` one at a time (a generator of frames is never
        held whole); folders and glob patterns among path inputs are expanded."""
        from mien.io.sources import expand_inputs

        single = _is_single_input(inputs)
        for index, item in enumerate([inputs] if single else inputs):
            if isinstance(item, (str, Path)):
                found = expand_inputs([item])
                if not found and glob.has_magic(os.fspath(item)) and not os.path.lexists(item):
                    found = [os.fspath(item)]  # a pattern matching nothing: its row says so
                yield from ((path, path) for path in found)
            elif isinstance(item, (bytes, bytearray)):
                yield item, "<bytes>" if single else f"<bytes:{index}>"
            else:
                yield item, None if single else f"<array:{index}>"

    def _decode(self, item: Any, name: str | None) -> Iterator[Frame]:
        started = time.perf_counter()
        for frame in iter_frames(item, self.pages, self.max_pixels, name):
            self.timings["decode"] += time.perf_counter() - started
            yield frame
            started = time.perf_counter()

    def detect(self, image: np.ndarray) -> Detections:
        """Run the detector on one RGB image (timed as the "detect" stage)."""
        started = time.perf_counter()
        detections = self.detector.detect(image)
        self.timings["detect"] += time.perf_counter() - started
        return detections

    def detect_region(self, region: np.ndarray, size: int) -> Detections:
        """Detect faces in an image region resized to ``size`` pixels (long side) (video's re-detection of
        tracked faces; see :class:`~mien.detect.base.FaceDetector`)."""
        started = time.perf_counter()
        detections = self.detector.detect(region, max_size=size, min_size=size)
        self.timings["detect"] += time.perf_counter() - started
        return detections

    def prepare(self, frame: Frame, detections: Detections | None = None) -> FrameFaces:
        """Detect (unless ``detections`` are given) and align the faces of one frame."""
        image = frame.image
        size = self.expression.crop.size
        no_faces = FrameFaces(frame, None, None, Detections.empty(), np.zeros((0, size, size, 3), np.uint8),
                               np.zeros(0, np.float32), np.zeros(0, np.float32))
        if image is None:
            return no_faces
        height, width = image.shape[:2]
        no_faces.width, no_faces.height = width, height
        try:
            if detections is None:
                detections = self.detect(image)
            started = time.perf_counter()
            crops, blur, outside = [], [], []
            for points in detections.landmarks:
                if np.isfinite(points).all():
                    crop, matrix = warp_face(image, points, self.expression.crop)
                else:  # no landmarks measured: the image is the face
                    crop, matrix = crop_whole_image(image, size)
                crops.append(crop)
                blur.append(sharpness(crop))
                outside.append(outside_fraction(matrix, size, height, width))
            self.timings["align"] += time.perf_counter() - started
            dense = None
            if self.dense_model is not None and len(detections):
                started = time.perf_counter()
                dense = self.dense_model.predict(image, detections.landmarks if self.uses_mesh else detections.boxes)
                self.timings["landmarks"] += time.perf_counter() - started
        except Exception as error:  # one bad frame must not end the run
            frame.error = f"{frame.source}: analysis failed ({type(error).__name__}: {error})"
            return no_faces
        if not crops:
            return FrameFaces(frame, width, height, detections, no_faces.crops, no_faces.blur, no_faces.outside)
        return FrameFaces(frame, width, height, detections, np.stack(crops), np.asarray(blur, np.float32),
                           np.asarray(outside, np.float32), dense)

    def classify(self, prepared: list[FrameFaces]) -> Result:
        """Run the heads on the aligned faces of prepared frames; one Result row block per frame."""
        table = FrameTable()
        for item in prepared:
            table.append(item.frame.source, item.frame.index, item.frame.timestamp, item.width, item.height,
                         item.frame.error)
        metadata = dict(self.metadata)  # a Result's metadata is its own: video writes per-run facts into it
        with_faces = [(row, item) for row, item in enumerate(prepared) if len(item.detections)]
        if not with_faces:
            return Result(frames=table, metadata=metadata)
        started = time.perf_counter()
        crops = np.concatenate([item.crops for _, item in with_faces])
        heads = self.expression.predict_heads(crops)
        faces: dict[str, Any] = {"expression_probs": heads.expressions, "au_probs": heads.aus, "data": {}}
        faces["eye_openness"] = heads.eyes if heads.eyes is not None else np.full((len(crops), 2), np.nan, np.float32)
        self.timings["expression"] += time.perf_counter() - started
        started = time.perf_counter()
        va = heads.va
        faces["valence"], faces["arousal"] = (va[:, 0], va[:, 1]) if va is not None else valence_arousal(heads.expressions)
        if self.uses_mesh:
            faces["head_pose"], columns = mesh_geometry([item for _, item in with_faces], self.landmarks == "mesh468")
            faces["data"].update(columns)
            points68 = np.stack([[columns[f"{axis}_{i}"] for i in range(68)] for axis in "xy"], axis=-1)  # (68, N, 2)
            faces["eye_openness"] = dense_eye_openness(points68.transpose(1, 0, 2))  # measured on the mesh's 68 points
        else:
            faces["head_pose"] = np.concatenate([estimate_poses(self._pose_landmarks(item), item.width, item.height)
                                                 for _, item in with_faces])
        if self.landmarks == "dlib68":  # measured eye openness replaces the predicted one
            dense = np.concatenate([item.dense for _, item in with_faces])
            faces["data"].update(dense_landmark_columns(dense))
            faces["eye_openness"] = dense_eye_openness(dense)
        faces["blur"] = np.concatenate([item.blur for _, item in with_faces])
        faces["outside"] = np.concatenate([item.outside for _, item in with_faces])
        result = Result.from_detections(table, [item.detections for item in prepared], **faces, metadata=metadata)
        if self.uses_mesh and self.au_model is not None:
            self.mesh_aus(result, [item for _, item in with_faces])
        self.timings["pose"] += time.perf_counter() - started
        return result

    def mesh_aus(self, result: Result, items: list[FrameFaces]) -> None:
        """Measure the AU features on the items' meshes and set ``result``'s AUs from them."""
        from mien.tasks.aus import mesh_au_features

        result.au_features = np.concatenate([mesh_au_features(item.dense.points, item.width, item.height)
                                             for item in items]).astype(np.float32)
        self.apply_mesh_aus(result, result.au_features)

    def apply_mesh_aus(self, result: Result, features: np.ndarray) -> None:
        """``result``'s AU probabilities and ``AUxx_r`` columns from the mesh AU model on ``features`` (those
        measured, or corrected by a track's neutral baseline in video)."""
        from mien.schema import AU_INTENSITY_COLUMNS

        probabilities, intensity = self.au_model.predict(features)
        result.au_probs = np.full((len(features), len(AUS)), np.nan, np.float32)
        columns = [AUS.index(au) for au in self.au_model.aus]
        result.au_probs[:, columns] = probabilities
        levels = np.full((len(features), len(AUS)), np.nan, np.float32)
        levels[:, columns] = intensity
        result.data.update({name: levels[:, k] for k, name in enumerate(AU_INTENSITY_COLUMNS)})

    @staticmethod
    def _pose_landmarks(item: FrameFaces) -> np.ndarray:
        """The 68-point eye centres and nose tip when measured (more precise), else the detector's 5 points."""
        if item.dense is None:
            return item.detections.landmarks
        from mien.models.dlib68 import pose_points

        return np.stack([pose_points(points) for points in item.dense]) if len(item.dense) else item.detections.landmarks

    def _finish(self, chunk: list[list[FrameFaces]]) -> Iterator[tuple[Result, list[Frame]]]:
        combined = self.classify([item for prepared in chunk for item in prepared])
        start = 0
        for prepared in chunk:
            rows = range(start, start + len(prepared))
            yield combined.frames_slice(rows), [item.frame for item in prepared]
            start += len(prepared)


def dense_landmark_columns(points: np.ndarray) -> dict[str, np.ndarray]:
    """``x_i`` and ``y_i`` columns for (N, 68, 2) landmarks (schema: LANDMARK68_COLUMN_DOCS)."""
    columns = {f"x_{i}": points[:, i, 0] for i in range(68)}
    columns.update({f"y_{i}": points[:, i, 1] for i in range(68)})
    return columns


def mesh_geometry(items: list[FrameFaces], points468: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Head pose (N, 3) and the mesh columns (:data:`mien.schema.MESH_COLUMNS`, plus ``MESH468_COLUMNS`` with
    ``points468``) of the faces of prepared frames whose ``dense`` is a :class:`~mien.models.mesh.MeshResult`."""
    from mien.schema import GAZE_COLUMNS, MESH_POSE_COLUMNS
    from mien.tasks.gaze import estimate_gaze
    from mien.tasks.pose import mesh_poses

    angles, openface, gaze, points68, scores = [], [], [], [], []
    for item in items:
        mesh = item.dense
        poses, pose_angles, pose_openface = mesh_poses(mesh.points, item.width, item.height)
        angles.append(pose_angles)
        openface.append(pose_openface)
        gaze.append(estimate_gaze(mesh.points, mesh.iris, poses))
        points68.append(mesh.landmarks68)
        scores.append(mesh.score)
    openface_all, gaze_all = np.concatenate(openface), np.concatenate(gaze)
    columns = dense_landmark_columns(np.concatenate(points68).astype(np.float32))
    columns.update({name: openface_all[:, i] for i, name in enumerate(MESH_POSE_COLUMNS)})
    columns.update({name: gaze_all[:, i] for i, name in enumerate(GAZE_COLUMNS)})
    columns["mesh_score"] = np.concatenate(scores).astype(np.float32)
    if points468:
        points = np.concatenate([item.dense.points for item in items]).astype(np.float32)
        for axis, name in enumerate("xyz"):
            columns.update({f"mesh_{name}_{i}": points[:, i, axis] for i in range(points.shape[1])})
    return np.concatenate(angles), columns


def dense_eye_openness(points: np.ndarray) -> np.ndarray:
    """(N, 2) eye aspect ratios measured on (N, 68, 2) landmarks."""
    from mien.models.dlib68 import eye_openness

    return np.array([eye_openness(p) for p in points], np.float32).reshape(-1, 2)


def _is_single_input(inputs: Any) -> bool:
    """Whether ``inputs`` is one input (a path, bytes, array, PIL image, :class:`Frame`, or anything that is
    not iterable: an unsupported type, reported as such) rather than a list, tuple or other iterable of inputs."""
    from PIL import Image

    if isinstance(inputs, (str, bytes, bytearray, Path, np.ndarray, Frame, Image.Image, Mapping)):
        return True
    return not isinstance(inputs, Iterable) or hasattr(inputs, "read")  # a file object is one (unsupported) input


def analyze(inputs: Any, **options: Any) -> Result:
    """One-shot convenience: ``Analyzer(**options).analyze(inputs)``."""
    return Analyzer(**options).analyze(inputs)


def _whole_image_alias(whole_image: bool | None, detector: Any) -> Any:
    """``detector`` after the deprecated ``whole_image`` flag: True means ``detector=WHOLE_IMAGE`` and, as in
    mien 0.1, wins over ``detector`` (0.1's command line passed both)."""
    if whole_image is None:
        return detector
    warnings.warn(f"whole_image= is deprecated; use detector={WHOLE_IMAGE!r}", DeprecationWarning, stacklevel=3)
    return WHOLE_IMAGE if whole_image else detector


def _stage_name(stage: Any) -> str:
    if isinstance(stage, (str, Path)):
        return str(stage)
    return str(getattr(stage, "name", type(stage).__name__))


def _dense_model(landmarks: str | None, threads: int | None, device: str) -> Any:
    """The landmark model ``landmarks`` names (see :class:`~mien.config.AnalyzerConfig`), or None."""
    if landmarks in ("mesh", "mesh468"):
        from mien.models.mesh import FaceMesh

        return FaceMesh(threads=threads, device=device)
    if landmarks == "dlib68":
        from mien.models.dlib68 import Dlib68Landmarks

        return Dlib68Landmarks()
    return None
