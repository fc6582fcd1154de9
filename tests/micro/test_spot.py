"""Micro-expression spotting (mien.micro.spot): LBP contrast, peaks, the MEGC metric, synthetic and real clips."""

from __future__ import annotations

import numpy as np
import pytest

from mien.micro.spot import (SpottedInterval, contrast, find_peaks, interval_iou, intervals_from_curve,
                             lbp_codes, relative_threshold, spotting_scores)


def remap(image: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """The second frame of a known motion: the point at (x, y) moves to (x + fx, y + fy)."""
    import cv2

    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    return cv2.remap(image, xx - fx, yy - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def media(datasets):
    return datasets / "media"


# ------------------------------------------------------------------------------------------ spotting
def test_lbp_codes_by_hand():
    patch = np.array([[10, 20, 30], [40, 25, 10], [25, 25, 24]], np.uint8)
    # neighbours clockwise from top-left: 10 20 30 10 24 25 25 40 -> >= 25: 0 0 1 0 0 1 1 1
    assert lbp_codes(patch)[0, 0] == (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7)


def test_contrast_peaks_and_threshold_by_hand():
    curve = np.array([np.nan, 1, 1, 5, 1, 1, np.nan], np.float32)
    assert contrast(curve, 1).tolist() == [0, 0, 0, 4, 0, 0, 0]
    assert relative_threshold(np.array([0.0, 0, 0, 4]), 0.5) == pytest.approx(1 + 0.5 * 3)
    assert find_peaks(np.array([0, 3, 0, 2.5, 0, 0, 4, 0]), 1.0, min_distance=3) == [1, 6]  # 3 is too close to 1... and to 6
    intervals = intervals_from_curve(np.array([0, 0, 1, 3, 2, 0.5, 0, 0, 0, 0], np.float32), k=2, p=0.5, kind="micro")
    assert [(i.onset, i.apex, i.offset) for i in intervals] == [(2, 3, 4)]


def test_megc_spotting_metric_by_hand():
    assert interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert interval_iou((0, 9), (10, 19)) == 0.0
    truth = [(10, 20), (50, 60), (100, 110)]
    predicted = [(11, 21), (48, 58), (49, 60), (200, 210)]   # two hits, one duplicate, one false alarm
    scores = spotting_scores(predicted, truth)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 2, 1)
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert spotting_scores([], truth)["f1"] == 0.0
    assert spotting_scores([(0, 3)], [(0, 9)])["tp"] == 0   # IoU 0.4 < 0.5


def test_spotter_finds_a_synthetic_micro_movement_in_a_still_real_face(media):
    """A real photo held still for 4 s at 25 fps with sensor noise; a smile rises and falls over frames
    48..56 (0.36 s). The spotter must report it as a micro interval with IoU >= 0.5, and nothing else."""
    from mien.io.images import read_image
    from mien.micro.spot import Spotter

    image = read_image(media / "pyfeat" / "single_face.jpg")
    spotter = Spotter(threads=1)
    landmarks = spotter.locate_faces([image])[0][0]
    h, w = image.shape[:2]
    (lx, ly), (rx, ry) = landmarks[3], landmarks[4]
    sigma = 0.25 * float(np.hypot(rx - lx, ry - ly))
    amplitude = 0.12 * float(np.hypot(rx - lx, ry - ly))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bump_l = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * sigma ** 2))
    bump_r = np.exp(-((xx - rx) ** 2 + (yy - ry) ** 2) / (2 * sigma ** 2))
    rng = np.random.default_rng(0)
    onset, apex, offset = 48, 52, 56

    def frames():
        for i in range(100):
            strength = max(0.0, 1 - abs(i - apex) / (apex - onset + 1)) if onset <= i <= offset else 0.0
            frame = remap(image, strength * amplitude * (bump_r - bump_l), -strength * amplitude * (bump_l + bump_r))
            noise = rng.normal(0, 2.0, frame.shape)
            yield np.clip(frame + noise, 0, 255).astype(np.uint8)

    result = spotter.spot_frames(frames, fps=25.0, source="synthetic")
    micro = [(s.onset, s.offset) for s in result.intervals if s.kind == "micro"]
    assert spotting_scores(micro, [(onset, offset)])["tp"] == 1, result.intervals
    assert len(micro) == 1


def test_spotter_takes_a_detector_object(media):
    """Any object with detect() (the FaceDetector protocol, as for Analyzer) finds the face in every frame;
    an object without it is refused by name."""
    from builders import CentreDetector

    from mien.io.images import read_image
    from mien.micro.spot import Spotter

    image = read_image(media / "pyfeat" / "single_face.jpg")  # 572 x 562: the centre box is 143..429 x 140.5..421.5
    detector = CentreDetector()
    spotter = Spotter(detector=detector)
    assert spotter.detector is detector and spotter.detector_name == "CentreDetector"
    landmarks, found = spotter.locate_faces([image])
    assert found.tolist() == [True] and landmarks[0, 0].tolist() == pytest.approx([143 + 0.35 * 286, 140.5 + 0.4 * 281])
    result = spotter.spot_frames(lambda: (image for _ in range(20)), fps=25.0, source="still")
    assert detector.calls == 1 + 20 and result.frames == 20 and result.face_found.all()
    assert result.intervals == []  # a still face does not move
    with pytest.raises(TypeError, match="detector must be a registered name or an object with detect.*object has no"):
        Spotter(detector=object())


def test_spotter_takes_a_detector_without_landmarks(media):
    """A face found without landmarks (NaN: the FaceDetector protocol's "none measured") counts as found and
    its frame is resized whole, as detector="whole-image" does; the largest face is chosen by its box, so a
    smaller landmark-less face does not hide a larger measured one."""
    from builders import BoxOnlyDetector

    from mien.detect.whole_image import WholeImageDetector
    from mien.io.images import read_image
    from mien.micro.spot import Spotter

    image = read_image(media / "pyfeat" / "single_face.jpg")
    frames = [np.roll(image, shift, axis=1) for shift in (0, 0, 0, 4, 0, 0, 0, 0)]  # one frame moves
    whole = Spotter(detector="whole-image", micro_seconds=0.2).spot_frames(lambda: iter(frames), fps=25.0)
    for detector in (BoxOnlyDetector(), WholeImageDetector(align=False)):
        spotter = Spotter(detector=detector, micro_seconds=0.2)
        landmarks, found = spotter.locate_faces(frames[:1])
        assert found.tolist() == [True] and np.isnan(landmarks).all()
        result = spotter.spot_frames(lambda: iter(frames), fps=25.0)
        assert result.face_found.all() and result.frames == 8
        for kind in ("micro", "macro"):
            np.testing.assert_array_equal(result.curves[kind], whole.curves[kind])

    points = [[10, 10], [30, 10], [20, 20], [12, 30], [28, 30]]
    mixed = BoxOnlyDetector([([0, 0, 20, 20], None), ([0, 0, 40, 50], points), ([5, 5, np.nan, 9], None)])
    landmarks, found = Spotter(detector=mixed).locate_faces(frames[:1])
    assert found.tolist() == [True] and landmarks[0].tolist() == points
    larger_without = BoxOnlyDetector([([0, 0, 40, 50], None), ([0, 0, 20, 20], points)])
    landmarks, found = Spotter(detector=larger_without).locate_faces(frames[:1])
    assert found.tolist() == [True] and np.isnan(landmarks).all()


def test_spotter_on_a_real_expressive_clip_and_its_plot(media, tmp_path):
    from mien.micro.spot import Spotter
    from mien.workflows.plots import plot_spotting

    result = Spotter(threads=1).spot_video(media / "liveportrait" / "d0.mp4")
    assert result.frames == 78 and result.face_found.all()
    assert result.intervals and all(isinstance(s, SpottedInterval) for s in result.intervals)
    assert all(0 <= s.onset <= s.apex <= s.offset < result.frames for s in result.intervals)
    frame = result.to_pandas()
    assert list(frame.columns[:5]) == ["source", "kind", "onset", "apex", "offset"]
    png = plot_spotting(result, tmp_path / "curve.png")
    assert png.stat().st_size > 10_000


def test_spotting_on_real_coding_sheet_intervals(datasets):
    """The MEGC metric on real ground truth: CAS(ME)^2's coded intervals of one video against themselves
    (all hits), shifted by half their length (IoU 1/3: all misses), and a prediction set from the sheet's
    micro intervals only (recall = micro share)."""
    from mien.datasets.me_sheets import read_coding_sheet

    samples = [s for s in read_coding_sheet(datasets / "me_annotations" / "CASME_sq_gt.xlsx")
               if s.offset is not None and s.onset is not None]
    video = samples[0].clip.rsplit("_", 1)[0] if samples[0].clip else None
    truth = [(s.onset, s.offset) for s in samples if s.subject == samples[0].subject and s.clip.startswith(video)]
    assert len(truth) >= 2
    assert spotting_scores(truth, truth)["f1"] == 1.0
    shifted = [(a + (b - a + 1) // 2, b + (b - a + 1) // 2) for a, b in truth]
    assert spotting_scores(shifted, truth)["tp"] <= sum(1 for a, b in truth if b - a + 1 < 2)
