"""Metrics against values computed by hand."""

import numpy as np
import pytest

from mien.eval.metrics import classification_report, confusion_matrix


def test_confusion_matrix_counts_no_prediction_column():
    matrix = confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, -1, 1]), 2)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 1]]


def test_report_hand_computed():
    # class a: 3 samples, 2 right; class b: 1 sample, right; one b predicted as a? no: one a predicted as b
    labels = np.array([0, 0, 0, 1])
    predictions = np.array([0, 0, 1, 1])
    report = classification_report(labels, predictions, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(3 / 4)
    assert report["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["precision"] == pytest.approx(1 / 2)
    assert report["uar"] == pytest.approx((2 / 3 + 1) / 2)  # class c absent: not averaged
    f1_a = 2 * 1.0 * (2 / 3) / (1 + 2 / 3)
    f1_b = 2 * 0.5 * 1.0 / 1.5
    assert report["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)


def test_missing_predictions_count_as_wrong():
    report = classification_report(np.array([0, 1]), np.array([-1, 1]), ["a", "b"])
    assert report["accuracy"] == 0.5 and report["no_prediction"] == 1


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)


def test_ece_hand_computed():
    from mien.eval.metrics import expected_calibration_error

    # two samples at confidence 0.9 (one right, one wrong): gap |0.5 - 0.9| = 0.4 in that bin
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert expected_calibration_error(probabilities, np.array([0, 1])) == pytest.approx(0.4)
    # perfectly calibrated: confidence 1 and always right
    assert expected_calibration_error(np.eye(3), np.arange(3)) == pytest.approx(0.0)


def test_temperature_recovers_a_known_overconfidence():
    from mien.eval.metrics import apply_temperature, expected_calibration_error, fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 2
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=p) for p in true])  # labels drawn from the true distribution
    overconfident = apply_temperature(true, 0.5)  # what an overconfident model would output
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.0, rel=0.1)
    assert expected_calibration_error(apply_temperature(overconfident, temperature), labels) < \
        expected_calibration_error(overconfident, labels)
    np.testing.assert_allclose(apply_temperature(true, 1.0), true, atol=1e-9)


def test_auroc_hand_computed():
    from mien.eval.metrics import auroc

    assert auroc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0])) == 0.0
    # one positive (0.5) against negatives 0.2, 0.5, 0.7: beats one, ties one, loses one -> 1.5 / 3
    assert auroc(np.array([0.5, 0.2, 0.5, 0.7]), np.array([1, 0, 0, 0])) == pytest.approx(0.5)
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([0, 0])))
