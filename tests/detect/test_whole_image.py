"""The whole-image detector (the crop is the face) end to end on real cropped faces."""

import numpy as np

from mien import Analyzer
from mien.schema import EXPRESSIONS


def test_whole_image_mode_on_a_cropped_face(pyfeat_media):
    from mien.io.images import read_image

    image = read_image(pyfeat_media / "0-f15-hao-ph.jpg")
    detected = Analyzer(threads=2).analyze(image)
    x1, y1, x2, y2 = detected.boxes[0].astype(int)
    crop = image[y1:y2, x1:x2]
    whole = Analyzer(threads=2, detector="whole-image").analyze(crop)
    assert len(whole) == 1 and whole.face_scores[0] == 1.0
    np.testing.assert_allclose(whole.boxes[0], [0, 0, crop.shape[1], crop.shape[0]])
    assert whole.expressions == ["happy"]


def test_whole_image_aligns_a_cropped_face_from_its_own_landmarks(pyfeat_media):
    from mien.io.images import read_image

    image = read_image(pyfeat_media / "0-f15-hao-ph.jpg")
    detected = Analyzer(threads=2).analyze(image)
    x1, y1, x2, y2 = detected.boxes[0].astype(int)
    result = Analyzer(threads=2, detector="whole-image").analyze(image[y1:y2, x1:x2])
    (row,) = result.to_records()
    assert row["alignment"] == "landmarks" and row["face_score"] == 1.0
    # the landmarks found in the crop are the detected ones, shifted by the crop's corner (within a tenth of
    # the eye distance: the detector sees the face at another scale)
    eyes = float(np.linalg.norm(detected.landmarks[0, 1] - detected.landmarks[0, 0]))
    np.testing.assert_allclose(result.landmarks[0] + [x1, y1], detected.landmarks[0], atol=0.1 * eyes)


def test_whole_image_falls_back_to_the_crop_as_it_is_when_no_face_is_found(pyfeat_media):
    from mien.io.images import read_image

    result = Analyzer(threads=2, detector="whole-image").analyze(read_image(pyfeat_media / "free-mountain-vector-01.jpg"))
    (row,) = result.to_records()
    assert row["alignment"] == "whole-image" and row["lm5_x_0"] is None and row["face_size"] is None
    assert row["success"] == 1 and row["face_score"] == 1.0


def test_whole_image_on_ckplus_crops_is_as_accurate_as_detection_in_a_frame(datasets, pyfeat_media):
    """CK+ comes cropped (48x48): --whole-image must align it as well as detecting it in a photo does
    (every CK+ peak frame, 7 classes; the default model never saw CK+)."""
    from mien.datasets.layouts import read_ckplus
    from mien.eval.expression import expression_report, predict_samples
    from mien.io.images import read_image

    samples = read_ckplus(datasets / "ckplus")
    labels = np.array([s.label for s in samples])
    classes = [c for c in EXPRESSIONS if c != "neutral"]
    local = np.array([classes.index(EXPRESSIONS[label]) for label in labels])
    background = read_image(pyfeat_media / "free-mountain-vector-01.jpg")
    framed = predict_samples(Analyzer(threads=2), samples, "framed", background)
    whole = predict_samples(Analyzer(threads=2, detector="whole-image"), samples, "whole-image")
    framed_accuracy = expression_report(framed, local, classes)["accuracy"]
    whole_accuracy = expression_report(whole, local, classes)["accuracy"]
    assert abs(whole_accuracy - framed_accuracy) <= 0.02, (whole_accuracy, framed_accuracy)
    assert whole_accuracy > 0.6  # far above chance (1/7) on a dataset the model never saw
