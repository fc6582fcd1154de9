"""The mesh AU estimator (mien.tasks.aus): geometric features by hand, the model file, the per-track neutral
baseline, smoothing, the OpenFace AU columns, and behaviour on a real clip (liveportrait/d0.mp4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mien.schema import AU_INTENSITY_COLUMNS, AUS
from mien.tasks.aus import FEATURE_NAMES, MeshAuModel, NeutralBaseline, geometric_features, head_frame
from mien.tasks.pose import canonical_face
from mien.video.smoothing import SignalSmoother


def feature(points: np.ndarray, name: str) -> float:
    return float(geometric_features(points)[FEATURE_NAMES.index(name)])


# ------------------------------------------------------------------------------------------- features
def test_features_of_the_canonical_face_by_hand():
    face = canonical_face()  # mm; lip corners 61/291 at x -24.6/24.6, y 43.4; inner lips 13/14 at y 39.9/45.4
    assert feature(face, "corner_width") == pytest.approx(24.6, abs=0.1)
    assert feature(face, "lips_apart") == pytest.approx(45.4 - 39.9, abs=0.1)
    assert feature(face, "jaw_drop") == pytest.approx(94.0 - 20.9, abs=0.1)           # chin 152, subnasale 2
    assert feature(face, "inner_brow_raise") == pytest.approx(50.1 - 25.9, abs=0.1)   # brow 107/336, eye 133/362
    assert feature(face, "corner_raise") == pytest.approx((34.1 + 53.7) / 2 - 43.4, abs=0.1)
    assert feature(face, "brow_gap") == pytest.approx(12.2, abs=0.1)                  # 55/285 at x -+12.2


def test_a_lip_corner_pull_moves_only_the_mouth_corner_features():
    face = canonical_face()
    smile = face.copy()
    smile[[61, 291], 1] -= 3.0                # both corners 3 mm up
    smile[61, 0] -= 2.0                       # and 2 mm outwards
    smile[291, 0] += 2.0
    before, after = geometric_features(face), geometric_features(smile)
    change = dict(zip(FEATURE_NAMES, after - before))
    assert change["corner_raise"] == pytest.approx(3.0)
    assert change["corner_height"] == pytest.approx(-3.0)
    assert change["corner_width"] == pytest.approx(2.0)
    assert change["corner_angle"] > 0.05
    moved = {"corner_raise", "corner_height", "corner_width", "corner_angle", "corner_to_nostril"}
    assert all(abs(v) < 1e-9 for k, v in change.items() if k not in moved)


def test_features_are_the_same_for_the_mirror_image():
    face = canonical_face().copy()
    face[[105, 65], 1] -= 4.0                 # one brow (image-left) raised: the mean of both sides reads 2 mm
    mirrored = face.copy()
    mirrored[:, 0] *= -1
    # mirror the numbering: each point takes the place of its partner on the other side
    partner = np.array([int(np.argmin(np.linalg.norm(canonical_face() - p * [-1, 1, 1], axis=1)))
                        for p in canonical_face()])
    mirrored = mirrored[partner]
    np.testing.assert_allclose(geometric_features(mirrored), geometric_features(face), atol=1e-6)
    assert feature(face, "mid_brow_raise") - feature(canonical_face(), "mid_brow_raise") == pytest.approx(2.0)


def test_head_frame_removes_the_rigid_head_pose():
    """A face rotated 25 degrees, scaled to pixels and moved gives back the canonical face's features."""
    from mien.tasks.pose import rotation_from_angles

    face = canonical_face()
    rotation = rotation_from_angles(10.0, 25.0, -8.0)
    image_points = 3.2 * face @ rotation.T + np.array([320.0, 240.0, 0.0])
    head = head_frame(image_points, 640, 480)
    np.testing.assert_allclose(geometric_features(head), geometric_features(face), atol=1e-3)


# ------------------------------------------------------------------------------------------- the model
def test_the_shipped_model_file(tmp_path):
    import json

    from mien.tasks.aus import shipped_model

    model = shipped_model()
    assert set(model.aus) == set(AUS) and model.features == FEATURE_NAMES
    assert ((model.thresholds > 0) & (model.thresholds < 1)).all()
    # intensity: 0 at the median neutral score, peak_level (3) at the median CK+ peak score
    z = model.scores(model.neutral_features[None])[0]
    assert ((z - model.neutral_score) < model.peak_score - model.neutral_score).all()
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(model.to_json()))
    again = MeshAuModel.load(path)
    x = model.neutral_features[None] + np.linspace(-1, 1, len(FEATURE_NAMES)) * model.neutral_spread
    np.testing.assert_allclose(again.probabilities(x), model.probabilities(x), atol=1e-5)
    # the population neutral face is not calibrated to certainty either way
    p = model.probabilities(model.neutral_features[None])[0]
    assert (p < 0.5).all() and (p > 1e-5).all()


def test_intensity_scale_by_hand():
    model = MeshAuModel((12,), FEATURE_NAMES, np.zeros(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES)),
                        np.eye(1, len(FEATURE_NAMES)), np.zeros(1), np.array([0.5]), np.array([-2.0]),
                        np.array([4.0]), np.zeros(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES)))
    x = np.zeros((4, len(FEATURE_NAMES)))
    x[:, 0] = [-2.0, 1.0, 4.0, 20.0]  # score = x0: neutral (-2) -> 0, halfway -> 1.5, peak (4) -> 3, far -> 5
    probabilities, intensity = model.predict(x)
    np.testing.assert_allclose(intensity[:, 0], [0.0, 1.5, 3.0, 5.0])
    np.testing.assert_allclose(probabilities[:, 0], 1 / (1 + np.exp(-x[:, 0])), rtol=1e-6)


# ------------------------------------------------------------------------------------------- video
def test_neutral_baseline_by_hand():
    baseline = NeutralBaseline(np.zeros(2), np.ones(2), warmup=2, limit=2.0)
    features = np.array([[1.0, 5.0]])
    # no neutral frame yet: nothing is corrected
    np.testing.assert_allclose(baseline.update([0], features, np.array([False])), features)
    # two neutral frames at (1, 5): median offset (1, 5) clipped to 2 spreads -> (1, 2), times 2 / (2 + 2)
    baseline.update([0], features, np.array([True]))
    corrected = baseline.update([0], features, np.array([True]))
    np.testing.assert_allclose(corrected, features - [[0.5, 1.0]])
    # another track is not affected; a forgotten track starts again
    np.testing.assert_allclose(baseline.update([1], features, np.array([False])), features)
    baseline.forget({1})
    np.testing.assert_allclose(baseline.update([0], features, np.array([False])), features)


def test_signal_smoother_time_constant_and_missing_values():
    smoother = SignalSmoother(tau=0.5)
    smoother.update([0], 0.0, np.array([[0.0, np.nan]]))
    out = smoother.update([0], 0.5, np.array([[1.0, 2.0]]))
    assert out[0, 0] == pytest.approx(1 - np.exp(-1))   # 63% of a step after one time constant
    assert out[0, 1] == 2.0                             # first measured value starts the state
    out = smoother.update([0], 1.0, np.array([[np.nan, 2.0]]))
    assert np.isnan(out[0, 0]) and out[0, 1] == 2.0      # not measured stays not measured
    assert SignalSmoother(0).update([0], 1.0, np.array([[3.0]]))[0, 0] == 3.0


@pytest.fixture(scope="module")
def d0_table(datasets) -> pd.DataFrame:
    from mien import Analyzer

    stream = Analyzer(threads=2, aus="mesh").analyze_video(datasets / "media/liveportrait/d0.mp4")
    table = stream.to_pandas()
    assert list(table.columns) == stream.columns
    return table


# By eye (frames 18-74 viewed one by one): neutral face looking into the camera in frames 0-14; the mouth
# opens into a broad toothy grin from 20, fully from 22, held to 64; lips close at 66-68 (eyes shut).
# The neutral stretch is scored from frame 8: the first frames are measured before the track's neutral
# baseline has settled (and their smoothed values carry over for about --smooth seconds).
GRIN = range(24, 65)
NEUTRAL = range(8, 15)


def test_the_d0_grin_gives_au12_and_au6_not_au4(d0_table):
    grin = d0_table[d0_table.frame.isin(GRIN)]
    assert len(grin) == len(GRIN)
    assert grin.AU12_c.mean() >= 0.95 and grin.AU06_c.mean() >= 0.95
    assert grin.AU04_c.mean() < 0.10
    assert grin.AU12_r.median() >= 2.0  # marked (intensity C is 3)


def test_a_neutral_stretch_has_low_intensities(d0_table):
    neutral = d0_table[d0_table.frame.isin(NEUTRAL)]
    levels = neutral[list(AU_INTENSITY_COLUMNS)].to_numpy(float)
    assert np.isfinite(levels).all()
    assert levels.max() < 1.0 and levels.mean() < 0.3
    assert neutral[[f"AU{au:02d}_c" for au in AUS]].to_numpy().sum(axis=1).max() <= 1


# ------------------------------------------------------------------------------------------- columns
def test_openface_au_columns_round_trip(pyfeat_media, tmp_path):
    from mien import Analyzer

    openface = pd.read_csv(pyfeat_media / "OpenFace_Test.csv", skipinitialspace=True)
    analyzer = Analyzer(threads=2, aus="mesh")
    result = analyzer.analyze(str(pyfeat_media / "0-f15-hao-ph.jpg"))
    path = tmp_path / "rows.csv"
    result.to_csv(path, schema="openface")
    ours = pd.read_csv(path)
    assert list(result.to_pandas().columns) == analyzer.columns
    shared = [c for c in openface.columns if c.startswith("AU") and c[-2:] in ("_r", "_c")]
    written = [c for c in shared if c in ours.columns]
    # every OpenFace AU column of an AU mien measures, under OpenFace's name (AU10, AU28, AU45 are not measured)
    assert sorted(set(shared) - set(written)) == ["AU10_c", "AU10_r", "AU28_c", "AU45_c", "AU45_r"]
    for frame in (openface, ours):
        levels = frame[[c for c in written if c.endswith("_r")]].to_numpy(float)
        assert ((levels >= 0) & (levels <= 5)).all()
        assert set(np.unique(frame[[c for c in written if c.endswith("_c")]].to_numpy())) <= {0, 1}
    row = ours.iloc[0]
    assert row.AU12_r == pytest.approx(float(result.data["AU12_r"][0]), abs=1e-5)
    assert row.AU12_c == 1 and row.AU06_c == 1 and row.AU04_c == 0  # the happy photo
    assert result.metadata["au_method"] == "mesh-geometry-logistic-v1"


def test_aus_mesh_needs_the_mesh():
    from mien import Analyzer

    with pytest.raises(ValueError, match="aus='mesh' needs the face mesh"):
        Analyzer(aus="mesh", landmarks="dlib68")
    with pytest.raises(ValueError, match="aus must be"):
        Analyzer(aus="openface")


def test_video_smoothing_keeps_gaze_and_pose_consistent(d0_table):
    """AUs, pose and gaze are smoothed per track; the gaze vectors stay unit vectors and the angles follow
    them (OpenFace's definitions), and pose_R* still matches pose_pitch/yaw/roll."""
    faces = d0_table[d0_table.success == 1]
    for eye in (0, 1):
        vectors = faces[[f"gaze_{eye}_{c}" for c in "xyz"]].to_numpy(float)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    mean = (faces[["gaze_0_x", "gaze_0_y", "gaze_0_z"]].to_numpy(float)
            + faces[["gaze_1_x", "gaze_1_y", "gaze_1_z"]].to_numpy(float)) / 2
    np.testing.assert_allclose(faces.gaze_angle_x, np.arctan2(mean[:, 0], -mean[:, 2]), atol=1e-5)
    np.testing.assert_allclose(faces.pose_Rx, -np.radians(faces.pose_pitch), atol=0.1)
    # little flicker: OpenFace 2.3 flips an AU ~8 times per 100 frames on such clips; here (one grin: on, off)
    flips = np.abs(np.diff(faces[[f"AU{au:02d}_c" for au in AUS]].to_numpy(float), axis=0)).sum(axis=0)
    assert 100 * flips.mean() / (len(faces) - 1) < 2 and flips.max() <= 4
