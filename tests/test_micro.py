"""Micro-expressions: flow and strain math, the flow image, spotting and its metric, the MEGC2019 reader,
and recognition/spotting end to end on real faces and video."""

from __future__ import annotations

import numpy as np
import pytest

from mien.micro.flow import flow_image, optical_flow, optical_strain
from mien.micro.spot import (SpottedInterval, contrast, find_peaks, interval_iou, intervals_from_curve,
                             lbp_codes, relative_threshold, spotting_scores)

H = 112


def remap(image: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """The second frame of a known motion: the point at (x, y) moves to (x + fx, y + fy)."""
    import cv2

    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    return cv2.remap(image, xx - fx, yy - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def gaussian(cx: float, cy: float, sigma: float, size: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)).astype(np.float32)


@pytest.fixture(scope="module")
def media(datasets):
    return datasets / "media"


@pytest.fixture(scope="module")
def face_crop(media):
    """A real face aligned onto the MEGC2019 template, 112 px, as recognition sees it."""
    from mien.align.similarity import CropSpec, warp_face
    from mien.io.images import read_image
    from mien.micro.recognize import MEGC_TEMPLATE
    from mien.registry import create

    image = read_image(media / "pyfeat" / "single_face.jpg")
    detections = create("retinaface", "detector", threads=1).detect(image)
    return warp_face(image, detections.landmarks[0], CropSpec(H, MEGC_TEMPLATE))[0]


# ---------------------------------------------------------------------------------------------- math
def test_strain_of_translation_is_zero_and_of_stretch_is_its_rate():
    yy, xx = np.mgrid[0:20, 0:20].astype(np.float32)
    translation = np.dstack([np.full_like(xx, 3.0), np.full_like(xx, -2.0)])
    assert np.allclose(optical_strain(translation), 0.0)
    stretch = np.dstack([0.1 * xx, np.zeros_like(xx)])  # u = 0.1 x: e_xx = 0.1, others 0
    assert np.allclose(optical_strain(stretch), 0.1, atol=1e-6)
    shear = np.dstack([0.2 * yy, np.zeros_like(xx)])  # u_y = 0.2: e_xy = 0.1, strain = sqrt(2 * 0.01)
    assert np.allclose(optical_strain(shear), np.sqrt(0.02), atol=1e-6)


def test_flow_image_channels_are_minmax_normalised():
    yy, xx = np.mgrid[0:56, 0:56].astype(np.float32)
    flow = np.dstack([0.05 * xx - 1, -0.02 * yy])
    image = flow_image(flow)
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8
    assert image[..., 0].min() <= 2 and image[..., 0].max() >= 253
    assert image[:, 0, 0].std() < 1e-6 and image[0, :, 0].std() > 10   # u varies along x only
    assert np.all(flow_image(np.zeros((56, 56, 2), np.float32)) == 0)  # no motion: no division by zero


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_flow_recovers_a_known_shift_of_a_real_face(face_crop, method):
    second = remap(face_crop, np.full((H, H), 1.5, np.float32), np.full((H, H), -0.7, np.float32))
    flow = optical_flow(face_crop, second, method)[10:-10, 10:-10]
    assert flow[..., 0].mean() == pytest.approx(1.5, abs=0.15)
    assert flow[..., 1].mean() == pytest.approx(-0.7, abs=0.15)


def test_flow_of_a_smile_points_outwards_and_up_at_the_mouth_corners(face_crop):
    left, right = (0.29 * H, 0.716 * H), (0.71 * H, 0.716 * H)
    fx = -2 * gaussian(*left, 8) + 2 * gaussian(*right, 8)
    fy = -1.5 * (gaussian(*left, 8) + gaussian(*right, 8))
    flow = optical_flow(face_crop, remap(face_crop, fx, fy), "farneback")
    for (cx, cy), sign in ((left, -1), (right, 1)):
        patch = flow[int(cy) - 4:int(cy) + 4, int(cx) - 4:int(cx) + 4]
        assert sign * patch[..., 0].mean() > 1.0      # outwards, most of the 2 px
        assert patch[..., 1].mean() < -0.75           # upwards
    forehead = flow[5:25, 40:70]
    assert np.abs(forehead).mean() < 0.2              # still regions stay still


def test_mirroring_a_pair_mirrors_its_flow_image(face_crop):
    """The recogniser's test-time mirroring relies on: flow image of mirrored frames == mirrored flow image
    with u -> 255 - u."""
    from mien.micro.flow import mirror_flow_image

    fx = 2 * gaussian(0.71 * H, 0.716 * H, 8)
    fy = -1.5 * gaussian(0.71 * H, 0.716 * H, 8)
    second = remap(face_crop, fx, fy)
    direct = flow_image(optical_flow(face_crop[:, ::-1].copy(), second[:, ::-1].copy()))
    flipped = mirror_flow_image(flow_image(optical_flow(face_crop, second))).astype(float)
    for channel in range(3):  # equal up to flow-estimation asymmetry; min-max offsets differ slightly
        correlation = np.corrcoef(direct[..., channel].ravel(), flipped[..., channel].ravel())[0, 1]
        assert correlation > 0.9, (channel, correlation)


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


# --------------------------------------------------------------------------------------------- data
def test_megc2019_reader(datasets):
    from mien.datasets.megc2019 import load_flows, read_labels

    samples = read_labels(datasets / "megc2019")
    assert len(samples) == 442 and len({s.subject for s in samples}) == 68
    counts = {d: sum(s.dataset == d for s in samples) for d in ("casme2", "samm", "smic")}
    assert counts == {"casme2": 145, "samm": 133, "smic": 164}
    smic = next(s for s in samples if s.dataset == "smic")
    assert smic.flow_stem == "s01_s01_ne_01" and smic.apex_stem == "s01_s1_ne_01"
    flows = load_flows(datasets / "megc2019", samples[:3])
    assert flows.shape == (3, 28, 28, 3) and flows.dtype == np.uint8


def test_megc2019_reader_names_a_missing_file(tmp_path):
    from mien.datasets.megc2019 import read_labels

    (tmp_path / "labels.csv").write_text("dataset,sub,filename_o,label,apex,imagename,sub_filename\n"
                                         "casme2,sub01,EP02_01f,1,,sub01_EP02_01f.jpg,\n")
    with pytest.raises(FileNotFoundError, match="sub01_EP02_01f"):
        read_labels(tmp_path)


# ------------------------------------------------------------------------------------- recognition
def test_shipped_model_reproduces_its_training_labels_and_metadata(datasets):
    """The ONNX file must be the trained network: it fits its own training data far above chance."""
    from mien.datasets.megc2019 import load_flows, read_labels
    from mien.eval.metrics import classification_report
    from mien.micro.recognize import MICRO_CLASSES, MicroModel

    model = MicroModel(threads=1)
    assert model.metadata["mien.task"] == "micro" and "MEGC2019" in model.metadata["mien.training_data"]
    samples = read_labels(datasets / "megc2019")
    probabilities = model.predict(load_flows(datasets / "megc2019", samples))
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
    report = classification_report(np.array([s.label for s in samples]), probabilities.argmax(1), list(MICRO_CLASSES))
    assert report["uar"] > 0.8


def test_recognize_a_pair_of_real_frames(media):
    from mien.io.images import read_image
    from mien.micro.recognize import MICRO_CLASSES, MicroRecognizer

    image = read_image(media / "pyfeat" / "single_face.jpg")
    recognizer = MicroRecognizer(threads=1)
    prediction = recognizer.recognize(image, image[:, ::-1].copy()[:, ::-1].copy())
    assert prediction.flow_image.shape == (28, 28, 3)
    assert prediction.label in MICRO_CLASSES and np.isclose(prediction.probabilities.sum(), 1, atol=1e-5)
    assert prediction.face_box is not None
    with pytest.raises(ValueError, match="no face"):
        recognizer.recognize(np.full((200, 200, 3), 128, np.uint8), np.full((200, 200, 3), 128, np.uint8))


# ------------------------------------------------------------------------------------ command line
def test_cli_spot_and_recognize_on_real_video(media, tmp_path):
    import json

    import pandas as pd

    from mien.cli import main

    intervals, plots = tmp_path / "intervals.csv", tmp_path / "plots"
    assert main(["micro", "spot", str(media / "liveportrait" / "d0.mp4"), str(tmp_path / "missing.mp4"),
                 "--output", str(intervals), "--plot-dir", str(plots), "--threads", "2"]) == 1  # one input failed
    table = pd.read_csv(intervals)
    assert len(table) >= 1 and set(table["kind"]) <= {"micro", "macro"}
    assert (table["onset"] <= table["apex"]).all() and (table["apex"] <= table["offset"]).all()
    assert (plots / "d0_spotting.png").stat().st_size > 10_000

    apex = int(table.iloc[0]["apex"])
    onset = int(table.iloc[0]["onset"])
    prediction = tmp_path / "prediction.json"
    assert main(["micro", "recognize", "--video", str(media / "liveportrait" / "d0.mp4"), "--onset-frame", str(onset),
                 "--apex-frame", str(apex), "--output", str(prediction), "--threads", "2"]) == 0
    record = json.loads(prediction.read_text())
    assert record["micro_label"] in ("negative", "positive", "surprise")
    assert abs(record["micro_negative"] + record["micro_positive"] + record["micro_surprise"] - 1) < 1e-3
    assert main(["micro", "recognize", "--video", str(media / "liveportrait" / "d0.mp4"), "--onset-frame", "0",
                 "--apex-frame", "9999"]) == 1  # the frame does not exist: named, exit 1
    assert main(["micro", "recognize", "--onset", str(media / "pyfeat" / "single_face.jpg")]) == 2  # usage


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
