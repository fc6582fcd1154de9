"""Micro-expression recognition (mien.micro.recognize): the shipped model and real frame pairs."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def media(datasets):
    return datasets / "media"


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
