"""Per-face heads beyond expressions: head pose geometry, the valence/arousal projection, AU columns."""

from __future__ import annotations

import numpy as np
import pytest

from mien.schema import AUS as AUS_
from mien.schema import EXPRESSIONS
from mien.tasks.pose import (FACE_MODEL_5, angles_from_rotation, camera_matrix, estimate_pose, estimate_poses,
                             project, rotation_from_angles)
from mien.tasks.valence import EXPRESSION_ANGLES, valence_arousal

POSES = [(0, 0, 0), (15, 0, 0), (-25, 0, 0), (0, 30, 0), (0, 0, 20), (-20, -35, 10), (10, 50, -15), (40, 10, 5)]


@pytest.mark.parametrize("pose", POSES)
def test_rotation_angles_round_trip(pose):
    assert np.allclose(angles_from_rotation(rotation_from_angles(*pose)), pose, atol=1e-9)


def test_pose_conventions_by_hand():
    """Chin up moves the nose tip up in the image; turning right moves it right; clockwise roll raises the
    image-left eye."""
    camera = camera_matrix(640, 480)
    where = np.array([0.0, 0.0, 600.0])
    frontal = project(FACE_MODEL_5, rotation_from_angles(0, 0, 0), where, camera)
    assert project(FACE_MODEL_5, rotation_from_angles(15, 0, 0), where, camera)[2, 1] < frontal[2, 1]
    assert project(FACE_MODEL_5, rotation_from_angles(0, 20, 0), where, camera)[2, 0] > frontal[2, 0]
    rolled = project(FACE_MODEL_5, rotation_from_angles(0, 0, 10), where, camera)
    assert rolled[0, 1] < rolled[1, 1]


@pytest.mark.parametrize("pose", POSES)
def test_pose_is_recovered_from_projected_landmarks(pose):
    camera = camera_matrix(640, 480)
    landmarks = project(FACE_MODEL_5, rotation_from_angles(*pose), np.array([30.0, -20.0, 700.0]), camera)
    assert np.allclose(estimate_pose(landmarks, 640, 480), pose, atol=0.5)


def test_pose_ignores_the_mouth_and_handles_missing_landmarks():
    camera = camera_matrix(640, 480)
    landmarks = project(FACE_MODEL_5, rotation_from_angles(5, -10, 3), np.array([0.0, 0.0, 650.0]), camera)
    smiling = landmarks.copy()
    smiling[3:] += [[-6, -8], [6, -8]]  # corners pulled up and out
    assert np.allclose(estimate_pose(smiling, 640, 480), estimate_pose(landmarks, 640, 480))
    assert np.isnan(estimate_pose(np.full((5, 2), np.nan), 640, 480)).all()
    assert estimate_poses(np.zeros((0, 5, 2)), 640, 480).shape == (0, 3)


def test_real_photo_pose_flips_with_the_mirror(analyzer, pyfeat_media):
    from mien.io.images import read_image

    image = read_image(pyfeat_media / "multi_face.jpg")
    original = analyzer.analyze(image)
    mirrored = analyzer.analyze(image[:, ::-1].copy())
    assert len(original) == len(mirrored) == 5
    # pair faces by mirrored box centres
    centres = (original.boxes[:, 0] + original.boxes[:, 2]) / 2
    mirror_centres = image.shape[1] - (mirrored.boxes[:, 0] + mirrored.boxes[:, 2]) / 2
    order = [int(np.argmin(np.abs(mirror_centres - c))) for c in centres]
    pose, mirror_pose = original.head_pose, mirrored.head_pose[order]
    # the detector's landmarks are not exactly mirror-symmetric: a few degrees of disagreement is expected
    assert np.abs(pose[:, 0] - mirror_pose[:, 0]).max() < 8      # pitch unchanged
    assert np.abs(pose[:, 1] + mirror_pose[:, 1]).max() < 8      # yaw negated
    assert np.abs(pose[:, 2] + mirror_pose[:, 2]).max() < 8      # roll negated
    assert np.abs(pose).max() < 45                               # a group photo: nobody turned away


def test_valence_arousal_projection_by_hand():
    probabilities = np.zeros((3, len(EXPRESSIONS)), np.float32)
    probabilities[0, EXPRESSIONS.index("neutral")] = 1
    probabilities[1, EXPRESSIONS.index("happy")] = 1
    probabilities[2, [EXPRESSIONS.index("happy"), EXPRESSIONS.index("sad")]] = 0.5
    valence, arousal = valence_arousal(probabilities)
    assert valence[0] == 0 and arousal[0] == 0
    assert valence[1] == pytest.approx(np.cos(np.radians(EXPRESSION_ANGLES["happy"])), abs=1e-6)
    assert arousal[1] == pytest.approx(np.sin(np.radians(EXPRESSION_ANGLES["happy"])), abs=1e-6)
    expected = 0.5 * (np.cos(np.radians(20)) + np.cos(np.radians(210)))
    assert valence[2] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="probabilities"):
        valence_arousal(np.zeros((2, 7)))


def test_every_negative_expression_has_negative_valence():
    for name, angle in EXPRESSION_ANGLES.items():
        if angle is not None and name not in ("happy", "surprise"):
            assert np.cos(np.radians(angle)) < 0, name


def test_result_columns_carry_pose_valence_and_aus(analyzer, pyfeat_media):
    from mien.schema import AU_PRESENCE_COLUMNS, AU_PROBABILITY_COLUMNS, COLUMNS

    table = analyzer.analyze(pyfeat_media / "0-f15-hao-ph.jpg").to_pandas()
    assert list(table.columns[:len(COLUMNS)]) == list(COLUMNS)
    row = table.iloc[0]
    assert row["expression"] == "happy" and row["valence"] > 0.5
    assert -1 <= row["arousal"] <= 1
    assert abs(row["pose_yaw"]) < 20 and abs(row["pose_roll"]) < 15
    for column in AU_PROBABILITY_COLUMNS:
        assert 0 <= row[column] <= 1
    assert set(table[list(AU_PRESENCE_COLUMNS)].iloc[0]) <= {0, 1}


def test_dense_landmarks_eye_openness_and_columns(pyfeat_media):
    """68 iBUG points from dlib: a wide-eyed surprise face has open eyes, a broad smile narrower ones;
    the columns appear in the table only when asked for."""
    from mien import Analyzer
    from mien.models.dlib68 import eye_aspect_ratio
    from mien.schema import DENSE_LANDMARK_COLUMNS

    analyzer = Analyzer(threads=2, landmarks="dlib68")
    assert analyzer.columns[-len(DENSE_LANDMARK_COLUMNS):] == list(DENSE_LANDMARK_COLUMNS)
    assert analyzer.metadata["eye_openness_method"] == "dlib68-ear"
    table = analyzer.analyze([pyfeat_media / "0-f1-su-ph.jpg", pyfeat_media / "0-f15-hao-ph.jpg"]).to_pandas()
    assert set(DENSE_LANDMARK_COLUMNS) <= set(table.columns)
    surprise, happy = table.iloc[0], table.iloc[1]
    assert surprise["eye_open_left"] > 0.3 and surprise["eye_open_right"] > 0.3
    assert happy["eye_open_left"] < surprise["eye_open_left"] and happy["eye_open_right"] < surprise["eye_open_right"]
    for _, row in table.iterrows():  # the 68 points lie inside the face box (jaw may touch its edge)
        xs, ys = row[[f"x_{i}" for i in range(68)]].to_numpy(float), row[[f"y_{i}" for i in range(68)]].to_numpy(float)
        pad = 0.15 * row["face_width"]
        assert (xs > row["face_x"] - pad).all() and (xs < row["face_x"] + row["face_width"] + pad).all()
        assert (ys > row["face_y"] - pad).all() and (ys < row["face_y"] + row["face_height"] + pad).all()
        assert xs[36:42].mean() < xs[42:48].mean()  # image-left eye first
    # EAR by hand: corners 4 apart, lids 1 and 2 apart -> (1 + 2) / (2 * 4)
    eye = np.array([[0, 0], [1, -0.5], [3, -1], [4, 0], [3, 1], [1, 0.5]], float)
    assert eye_aspect_ratio(eye) == pytest.approx(3 / 8)
    assert "x_0" not in Analyzer(threads=1).columns
    with pytest.raises(ValueError, match="landmarks"):
        Analyzer(threads=1, landmarks="dlib5")


def test_au_head_graph_surgery_keeps_expressions_and_computes_the_head():
    """Attaching (and re-attaching) an AU head to the shipped file: expression logits bit-identical,
    au_logits exactly the standardised linear map of the exposed features."""
    import onnx

    from mien.models.expression import WEIGHTS_DIR
    from mien.models.heads import expression_only, session_from_model, with_au_head, with_features_output
    from mien.schema import AUS

    shipped = onnx.load(str(WEIGHTS_DIR / "mnv2-ferplus.onnx"))
    faces = (np.random.default_rng(0).random((3, 1, 64, 64)) * 255).astype(np.float32)
    logits, features = session_from_model(with_features_output(shipped), 1).run(["logits", "au_features"],
                                                                                {"face": faces})
    rng = np.random.default_rng(1)
    weight = rng.normal(0, 0.01, (len(AUS), features.shape[1])).astype(np.float32)
    bias, mean, std = rng.normal(size=len(AUS)), features.mean(0), features.std(0) + 1
    model = with_au_head(shipped, weight, bias, mean, std, list(AUS), [0.4] * len(AUS), {"mien.note": "test"})
    new_logits, au_logits = session_from_model(model, 1).run(["logits", "au_logits"], {"face": faces})
    assert np.array_equal(new_logits, logits)
    assert np.allclose(au_logits, ((features - mean) / std) @ weight.T + bias, atol=1e-4)
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata["mien.au_thresholds"] == "[0.4" + ", 0.4" * (len(AUS) - 1) + "]"
    again = with_au_head(model, weight, bias, mean, std, list(AUS), [0.5] * len(AUS), {})
    assert [o.name for o in again.graph.output] == ["logits", "eyes", "au_logits"]  # other heads are kept
    assert len(again.graph.node) == len(model.graph.node)
    assert [o.name for o in expression_only(model).graph.output] == ["logits"]


def test_ckplus_au_table_and_au_scores_by_hand(datasets):
    from mien.schema import AUS
    from mien.eval.au import au_scores
    from mien.train.au import read_ckplus_aus

    table = read_ckplus_aus(datasets / "ckplus")
    assert len(table) == 327
    s005 = table["S005_001"]  # "9_17": AU9 and AU17
    assert [AUS[k] for k in np.flatnonzero(s005)] == [9, 17]
    labels = np.zeros((4, len(AUS)), np.float32)
    labels[:2, 0] = 1                                  # AU1 present in the first two faces
    probabilities = np.zeros_like(labels)
    probabilities[[0, 2], 0] = 0.9                     # one hit, one false alarm, one miss
    scores = au_scores(labels, probabilities)
    assert scores["per_au"]["AU01"]["f1"] == pytest.approx(0.5)
    assert scores["per_au"]["AU01"]["auroc"] == pytest.approx(0.5)
    assert scores["per_au"]["AU02"]["support"] == 0


def test_evaluate_au_on_a_disfa_replica_of_real_faces(tmp_path, pyfeat_media):
    """`mien evaluate au` on an exact DISFA layout whose video holds real posed faces: two smiling frames
    coded AU6 + AU12, two surprised frames coded AU1 + AU2 + AU26 (intensity 3)."""
    import json

    import cv2

    from mien.cli import main
    from mien.datasets.au_layouts import DISFA_AUS
    from mien.io.images import read_image

    happy, surprise = (read_image(pyfeat_media / name) for name in ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg"))
    codes = {6: (3, 3, 0, 0), 12: (4, 4, 0, 0), 1: (0, 0, 3, 3), 2: (0, 0, 3, 3), 26: (0, 0, 3, 3)}
    labels = tmp_path / "ActionUnit_Labels" / "SN001"
    labels.mkdir(parents=True)
    for au in DISFA_AUS:
        values = codes.get(au, (0, 0, 0, 0))
        (labels / f"SN001_au{au}.txt").write_text("".join(f"{k + 1},{v}\n" for k, v in enumerate(values)))
    (tmp_path / "Videos_LeftCamera").mkdir()
    writer = cv2.VideoWriter(str(tmp_path / "Videos_LeftCamera" / "LeftVideoSN001_comp.avi"),
                             cv2.VideoWriter_fourcc(*"MJPG"), 20, (512, 512))
    for image in (happy, happy, surprise, surprise):
        writer.write(cv2.cvtColor(cv2.resize(image, (512, 512)), cv2.COLOR_RGB2BGR))
    writer.release()

    output = tmp_path / "au.json"
    assert main(["evaluate", "au", "--dataset", "disfa", "--root", str(tmp_path), "--output", str(output),
                 "--threads", "2"]) == 0
    report = json.loads(output.read_text())
    assert report["frames"] == 4 and report["faces_not_found"] == 0 and report["aus"] == list(DISFA_AUS)
    per_au = report["per_au"]
    assert per_au["AU12"]["support"] == 2 and per_au["AU12"]["recall"] == 1.0 and per_au["AU12"]["precision"] == 1.0
    assert per_au["AU26"]["support"] == 2 and per_au["AU01"]["auroc"] == 1.0
    assert main(["evaluate", "au", "--dataset", "ckplus", "--root", str(tmp_path)]) == 2  # refused, says why


def test_aus_on_real_posed_faces(analyzer, pyfeat_media):
    """Meaning-based checks: a broad smile shows AU6 + AU12 and positive valence; the surprise photo shows
    AU1, AU2 and AU26 (and AU5, AU25) above threshold; the anger photo lowers its brows (AU4)."""
    table = analyzer.analyze([pyfeat_media / n for n in ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg")])
    happy, surprise, anger = (table[table.frame_index == k] for k in range(3))
    presence = {name: dict(zip([f"AU{au:02d}" for au in AUS_], part.au_presence[0]))
                for name, part in (("happy", happy), ("surprise", surprise), ("anger", anger))}
    assert presence["happy"]["AU06"] == 1 and presence["happy"]["AU12"] == 1 and happy.valence[0] > 0.5
    assert presence["happy"]["AU01"] == 0 and presence["happy"]["AU04"] == 0
    for au in ("AU01", "AU02", "AU05", "AU25", "AU26"):
        assert presence["surprise"][au] == 1, au
    assert presence["surprise"]["AU12"] == 0
    assert presence["anger"]["AU04"] == 1 and presence["anger"]["AU12"] == 0
    assert happy.metadata["au_thresholds"] == [0.5] * len(AUS_)


def test_video_table_carries_aus_pose_and_valence(tmp_path, pyfeat_media):
    import pandas as pd

    from mien.cli import main

    output = tmp_path / "video.csv"
    assert main(["video", str(pyfeat_media / "single_face.mp4"), "--every", "12", "-o", str(output), "-q",
                 "--threads", "2"]) == 0
    table = pd.read_csv(output)
    assert len(table) == 6 and table["success"].all()
    assert table[[f"AU{au:02d}_p" for au in AUS_]].notna().all().all()
    assert table[["valence", "arousal", "pose_pitch", "pose_yaw", "pose_roll"]].notna().all().all()
    assert set(table["AU12_c"]) <= {0, 1}


def test_pose_on_random_synthetic_faces_including_looking_down():
    """Three points can fit several poses; the mouth breaks the tie. Faces looking down defeat the closed
    form (perspective enlarges the nose's drop), so the refinement must recover them from other starts."""
    rng = np.random.default_rng(7)
    camera = camera_matrix(640, 480)
    errors = []
    for _ in range(200):
        pose = rng.uniform([-30, -60, -30], [45, 60, 30])
        landmarks = project(FACE_MODEL_5, rotation_from_angles(*pose), np.array([*rng.uniform(-80, 80, 2), 600.0]), camera)
        errors.append(np.abs(np.array(estimate_pose(landmarks, 640, 480)) - pose).max())
    assert np.mean(np.array(errors) < 1.0) >= 0.98


def test_eye_openness_without_dlib(analyzer, pyfeat_media):
    """The shipped head (distilled from dlib's EAR) opens the wide-eyed surprise face's eyes more than the
    smiling face's, in the EAR range, and names its method."""
    result = analyzer.analyze([pyfeat_media / "0-f1-su-ph.jpg", pyfeat_media / "0-f15-hao-ph.jpg"])
    surprise, smile = result.eye_openness
    assert (surprise > smile + 0.08).all() and ((result.eye_openness > 0.1) & (result.eye_openness < 0.5)).all()
    assert result.metadata["eye_openness_method"] == "distilled-dlib-ear-v1"
