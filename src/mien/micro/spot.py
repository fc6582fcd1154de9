"""Spotting facial movements in long videos: where do micro- and macro-expressions happen?

The feature-difference method (Moilanen, Zhao and Pietikäinen, ICPR 2014; the MEGC spotting baseline):

1. Pass 1 finds the face in every frame and smooths its 5 landmarks over time (centred moving average),
   so detector jitter does not look like facial motion. Only landmarks are kept: (frames, 5, 2) floats.
2. Pass 2 aligns each frame's face to a 128x128 grayscale crop and describes it by uniform-LBP
   histograms in a 6x6 grid of blocks. For frame i and half-interval k, each block's chi-square distance
   between frame i's histogram and the mean of frames i-k and i+k is taken; the mean of the largest third
   of the blocks is the feature difference F(i) (a local movement lights up few blocks; global lighting
   changes light up all and are damped by the contrast step). Only 2k+1 frames' features are held, so
   memory stays flat however long the video is.
3. Contrast: C(i) = F(i) - (F(i-k) + F(i+k)) / 2, clipped at 0, which keeps peaks as long as the interval
   and suppresses slower changes. The threshold is relative to the video's own baseline:
   T = mean(C) + p * (max(C) - mean(C)). Peaks above T at least k frames apart are the apexes; onset and
   offset are where C falls below half of the peak, within k frames either side.

Micro-expressions (at most 0.5 s) use k for a 0.3 s interval, macro-expressions for a 1.0 s interval;
both curves are computed in the same pass.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from mien.align.similarity import CropSpec, estimate_similarity
from mien.config import DEFAULT_DETECTOR, WHOLE_IMAGE
from mien.detect import Detections, FaceDetector, load_detector
from mien.micro.recognize import MEGC_TEMPLATE

SPOT_CROP = 128
GRID = 6
MICRO_SECONDS = 0.3  # typical micro-expression duration (onset to offset) used for the interval
MACRO_SECONDS = 1.0


# ---------------------------------------------------------------------------------------------- features
def _uniform_lbp_table() -> np.ndarray:
    """Map the 256 8-bit LBP codes to 59 uniform-pattern bins (58 uniform codes + one bin for the rest)."""
    table = np.full(256, 58, np.int64)
    uniform = [code for code in range(256)
               if bin(code ^ ((code << 1 | code >> 7) & 0xFF)).count("1") <= 2]
    table[uniform] = np.arange(len(uniform))
    return table


UNIFORM_LBP = _uniform_lbp_table()


def lbp_codes(gray: np.ndarray) -> np.ndarray:
    """8-neighbour LBP code (0..255) of every interior pixel of a uint8 image; shape (H-2, W-2)."""
    g = gray.astype(np.int16)
    centre = g[1:-1, 1:-1]
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    codes = np.zeros(centre.shape, np.int64)
    height, width = g.shape
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = g[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx]
        codes |= (neighbour >= centre).astype(np.int64) << bit
    return codes


def block_lbp_histograms(gray: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(grid*grid, 59) uniform-LBP histograms, each normalised to sum 1."""
    bins = UNIFORM_LBP[lbp_codes(gray)]
    height, width = bins.shape
    ys = np.linspace(0, height, grid + 1).astype(int)
    xs = np.linspace(0, width, grid + 1).astype(int)
    histograms = np.empty((grid * grid, 59), np.float32)
    for row in range(grid):
        for col in range(grid):
            block = bins[ys[row]:ys[row + 1], xs[col]:xs[col + 1]]
            counts = np.bincount(block.ravel(), minlength=59).astype(np.float32)
            histograms[row * grid + col] = counts / max(1.0, counts.sum())
    return histograms


def chi_square(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chi-square distance between histograms along the last axis."""
    total = a + b
    return np.where(total > 0, (a - b) ** 2 / np.maximum(total, 1e-12), 0.0).sum(axis=-1)


def feature_difference(window: list[np.ndarray]) -> float:
    """F(i) for a window of 2k+1 block histograms centred on frame i: mean of the top third of blocks."""
    centre, first, last = window[len(window) // 2], window[0], window[-1]
    distances = chi_square(centre, (first + last) / 2)
    top = np.sort(distances)[-max(1, len(distances) // 3):]
    return float(top.mean())


def contrast(curve: np.ndarray, k: int) -> np.ndarray:
    """C(i) = F(i) - (F(i-k) + F(i+k)) / 2, clipped at 0; 0 where any of the three is undefined (NaN)."""
    out = np.full_like(curve, np.nan)
    if len(curve) > 2 * k:
        out[k:-k] = curve[k:-k] - (curve[:-2 * k] + curve[2 * k:]) / 2
    return np.maximum(np.nan_to_num(out, nan=0.0), 0.0)


# ------------------------------------------------------------------------------------------------- peaks
@dataclass
class SpottedInterval:
    """One spotted movement. Frames are 0-based indices into the video; times in seconds."""

    kind: str        # "micro" or "macro"
    onset: int
    apex: int
    offset: int
    score: float     # contrast value at the apex divided by the video's threshold (>= 1)
    onset_time: float = 0.0
    apex_time: float = 0.0
    offset_time: float = 0.0


def find_peaks(values: np.ndarray, threshold: float, min_distance: int) -> list[int]:
    """Indices of local maxima above ``threshold``, greedily keeping the highest at least ``min_distance`` apart."""
    candidates = [i for i in range(len(values))
                  if values[i] > threshold
                  and values[i] >= values[max(0, i - 1)] and values[i] >= values[min(len(values) - 1, i + 1)]]
    kept: list[int] = []
    for i in sorted(candidates, key=lambda i: -values[i]):
        if all(abs(i - j) >= min_distance for j in kept):
            kept.append(i)
    return sorted(kept)


def relative_threshold(values: np.ndarray, p: float) -> float:
    """T = mean + p * (max - mean): a threshold relative to the video's own baseline, p in [0, 1]."""
    mean = float(values.mean()) if len(values) else 0.0
    return mean + p * (float(values.max()) - mean) if len(values) else 0.0


def intervals_from_curve(values: np.ndarray, k: int, p: float, kind: str) -> list[SpottedInterval]:
    """Apexes at peaks above the relative threshold; onset/offset where the curve falls below half the peak."""
    threshold = relative_threshold(values, p)
    if threshold <= 0:
        return []
    intervals = []
    for apex in find_peaks(values, threshold, min_distance=k):
        half = values[apex] / 2
        onset = apex
        while onset > max(0, apex - k) and values[onset - 1] > half:
            onset -= 1
        offset = apex
        while offset < min(len(values) - 1, apex + k) and values[offset + 1] > half:
            offset += 1
        # the contrast curve peaks over about k frames either side of the apex; never report less than k
        onset, offset = min(onset, max(0, apex - k // 2)), max(offset, min(len(values) - 1, apex + k // 2))
        intervals.append(SpottedInterval(kind, onset, apex, offset, float(values[apex] / threshold)))
    return intervals


# -------------------------------------------------------------------------------------------- the video
@dataclass
class SpotResult:
    """Spotting output for one video: the intervals and the curves behind them (for plots)."""

    source: str
    fps: float
    frames: int
    intervals: list[SpottedInterval]
    curves: dict[str, np.ndarray] = field(repr=False)        # "micro"/"macro" contrast curves, per frame
    thresholds: dict[str, float] = field(default_factory=dict)
    face_found: np.ndarray = field(default=None, repr=False)  # (frames,) bool

    def to_records(self) -> list[dict]:
        return [{"source": self.source, **asdict(interval)} for interval in self.intervals]

    def to_pandas(self):
        import pandas as pd

        columns = ["source", *SpottedInterval.__dataclass_fields__]
        return pd.DataFrame(self.to_records(), columns=columns)


def half_interval(seconds: float, fps: float) -> int:
    """k: half the interval length in frames, at least 1."""
    return max(1, int(round(seconds * fps / 2)))


def smooth_landmarks(landmarks: np.ndarray, found: np.ndarray, window: int) -> np.ndarray:
    """Fill frames without a face from the nearest found frame, then a centred moving average over ``window``."""
    if not found.any():
        return landmarks
    index = np.arange(len(landmarks))
    nearest = np.interp(index, index[found], np.arange(found.sum())).round().astype(int)
    filled = landmarks[found][nearest].reshape(len(landmarks), -1)
    kernel = np.ones(window) / window
    padded = np.pad(filled, ((window // 2, window - 1 - window // 2), (0, 0)), mode="edge")
    smoothed = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(filled.shape[1])], axis=1)
    return smoothed.reshape(landmarks.shape).astype(np.float32)


def largest_face(detections: Detections | None) -> int | None:
    """Index of the face with the largest finite box, or None when there is none."""
    if detections is None or len(detections) == 0:
        return None
    boxes = detections.boxes
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    areas = np.where(np.isfinite(areas), areas, -np.inf)
    best = int(np.argmax(areas))
    return best if np.isfinite(areas[best]) else None


class Spotter:
    """Find micro- and macro-expression intervals in a video.

    Args:
        p: threshold position between the curve's mean (0) and maximum (1); higher finds fewer intervals.
        micro_seconds, macro_seconds: interval lengths the two curves are tuned to.
        detector: registered detector name or detector object (:class:`~mien.detect.base.FaceDetector`, as
            for :class:`~mien.analyzer.Analyzer`) that finds the face in each frame;
            :data:`~mien.config.WHOLE_IMAGE` for videos of already-cropped faces (frames resized whole).
        threads: threads of a detector built from its name.
    """

    def __init__(self, p: float = 0.3, micro_seconds: float = MICRO_SECONDS, macro_seconds: float = MACRO_SECONDS,
                 detector: str | FaceDetector = DEFAULT_DETECTOR, threads: int | None = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.micro_seconds, self.macro_seconds = p, micro_seconds, macro_seconds
        self.whole_image = isinstance(detector, str) and detector == WHOLE_IMAGE
        self.detector_name = detector if isinstance(detector, str) else type(detector).__name__
        self._stage = detector
        # a name is built on first use (constructing a Spotter stays cheap); an object is checked now
        self._detector = None if isinstance(detector, str) else load_detector(detector)
        self.threads = threads
        self.crop = CropSpec(SPOT_CROP, MEGC_TEMPLATE)

    @property
    def detector(self) -> FaceDetector | None:
        """The detector, or None when the frames are the face (:data:`~mien.config.WHOLE_IMAGE`)."""
        if self._detector is None and not self.whole_image:
            self._detector = load_detector(self._stage, threads=self.threads)
        return self._detector

    def locate_faces(self, frames: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Pass 1: (T, 5, 2) landmarks of the largest face per frame (by box area) and a (T,) found mask.

        A found face without landmarks (NaN, as the :class:`~mien.detect.base.FaceDetector` protocol allows)
        keeps NaN landmarks: its frame is then resized whole, as the analyzer does for such faces.
        """
        landmarks, found = [], []
        for image in frames:
            detections = self.detector.detect(image) if self.detector is not None else None
            face = largest_face(detections)
            landmarks.append(detections.landmarks[face] if face is not None else np.zeros((5, 2), np.float32))
            found.append(face is not None)
        return np.asarray(landmarks, np.float32).reshape(-1, 5, 2), np.asarray(found, bool)

    def aligned_gray(self, image: np.ndarray, points: np.ndarray | None) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if points is None or not np.isfinite(points).all():  # no landmarks: the image is the face
            return cv2.resize(gray, (SPOT_CROP, SPOT_CROP), interpolation=cv2.INTER_AREA)
        matrix = estimate_similarity(points, self.crop.template_pixels())
        return cv2.warpAffine(gray, matrix, (SPOT_CROP, SPOT_CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def difference_curves(self, frames: Iterable[np.ndarray], landmarks: np.ndarray | None, fps: float
                          ) -> dict[str, np.ndarray]:
        """Pass 2: F(i) for the micro and macro half-intervals, holding only 2k+1 frames of features."""
        ks = {"micro": half_interval(self.micro_seconds, fps), "macro": half_interval(self.macro_seconds, fps)}
        history: deque[np.ndarray] = deque(maxlen=2 * max(ks.values()) + 1)
        total = len(landmarks) if landmarks is not None else None
        curves: dict[str, list[float]] = {name: [] for name in ks}
        count = 0
        for i, image in enumerate(frames):
            points = landmarks[i] if landmarks is not None else None
            history.append(block_lbp_histograms(self.aligned_gray(image, points)))
            count += 1
            for name, k in ks.items():
                centre = i - k  # F(centre) needs frames centre-k .. centre+k = i
                if centre >= k:
                    window = list(history)[-(2 * k + 1):]
                    curves[name].append(feature_difference(window))
        result = {}
        for name, k in ks.items():
            n = total if total is not None else count
            curve = np.full(n, np.nan, np.float32)  # F is undefined within k frames of either end
            values = np.asarray(curves[name], np.float32)
            curve[k:k + len(values)] = values
            result[name] = contrast(curve, k)
        return result

    def spot_frames(self, frames_twice, fps: float, source: str = "<frames>") -> SpotResult:
        """Spot in a sequence of RGB frames; ``frames_twice()`` must return a fresh iterator each call."""
        if self.detector is not None:
            landmarks, found = self.locate_faces(frames_twice())
            if not found.any():
                raise ValueError(f"{source}: no face found in any frame")
            measured = found & np.isfinite(landmarks).all(axis=(1, 2))
            if measured.any():
                landmarks = smooth_landmarks(landmarks, measured, window=max(3, half_interval(0.2, fps) * 2 + 1))
                landmarks[found & ~measured] = np.nan  # a face found without landmarks: its frame is resized whole
            else:  # no face has landmarks: every frame is resized whole
                landmarks = None
        else:
            landmarks, found = None, None
        curves = self.difference_curves(frames_twice(), landmarks, fps)
        frames = len(next(iter(curves.values())))
        ks = {"micro": half_interval(self.micro_seconds, fps), "macro": half_interval(self.macro_seconds, fps)}
        intervals, thresholds = [], {}
        for name, curve in curves.items():
            thresholds[name] = relative_threshold(curve, self.p)
            intervals += intervals_from_curve(curve, ks[name], self.p, name)
        for interval in intervals:
            interval.onset_time, interval.apex_time, interval.offset_time = (
                round(interval.onset / fps, 4), round(interval.apex / fps, 4), round(interval.offset / fps, 4))
        intervals.sort(key=lambda s: (s.onset, s.kind))
        return SpotResult(source, fps, frames, intervals, curves, thresholds,
                          found if found is not None else np.ones(frames, bool))

    def spot_video(self, path: str | Path) -> SpotResult:
        """Spot in a video file (decoded twice, frame by frame; memory stays flat)."""
        from mien.video.reader import VideoError, probe, read_video

        info = probe(path)
        fps = info.fps if info.fps and info.fps > 0 else 25.0

        def frames() -> Iterator[np.ndarray]:
            for frame in read_video(path):
                if frame.image is None:
                    if frame.index == 0:
                        raise VideoError(frame.error)
                    return  # a damaged tail: spot in what was decoded
                yield frame.image

        return self.spot_frames(frames, fps, str(path))


# ------------------------------------------------------------------------------------------- evaluation
def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals (onset, offset)."""
    overlap = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if overlap <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - overlap
    return overlap / union


def spotting_scores(predicted: list[tuple[int, int]], truth: list[tuple[int, int]], iou: float = 0.5) -> dict:
    """MEGC spotting metric: a prediction is a true positive when its IoU with a not-yet-matched
    ground-truth interval is at least ``iou`` (each ground truth matches once, best IoU first).

    Returns tp, fp, fn, precision, recall and F1 (0 when undefined).
    """
    pairs = sorted(((interval_iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)),
                   reverse=True)
    used_p, used_t = set(), set()
    for value, i, j in pairs:
        if value >= iou and i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    tp = len(used_p)
    fp, fn = len(predicted) - tp, len(truth) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}
