"""Valence/arousal metrics (mien.eval.va) against hand-computed values."""

import numpy as np
import pytest

from mien.eval.va import ccc, pcc, rmse, sagr, va_report

NAN = float("nan")


# ----------------------------------------------------------------------------------------- metrics
# pred/truth below: means 0.2 and 0.2, variances 0.075 and 0.245, covariance 0.135 (population moments),
# differences 0.1, -0.1, 0.3, -0.3; signs agree on 3 of 4 (0 vs +0.1 disagrees).
PRED = [0.1, 0.4, -0.2, 0.5]
TRUTH = [0.0, 0.5, -0.5, 0.8]


def test_metrics_hand_computed():
    assert ccc(PRED, TRUTH) == pytest.approx(2 * 0.135 / (0.075 + 0.245))  # 0.84375
    assert pcc(PRED, TRUTH) == pytest.approx(0.135 / np.sqrt(0.075 * 0.245))
    assert rmse(PRED, TRUTH) == pytest.approx(np.sqrt(0.05))
    assert sagr(PRED, TRUTH) == 0.75


def test_ccc_penalises_shift_and_inversion():
    x = np.array([1.0, 2.0, 3.0, 4.0])  # variance 1.25
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, x + 1.0) == pytest.approx(2 * 1.25 / (1.25 + 1.25 + 1.0))  # 0.714..., PCC stays 1
    assert pcc(x, x + 1.0) == pytest.approx(1.0)
    centred = x - x.mean()
    assert ccc(centred, -centred) == pytest.approx(-1.0)
    assert ccc(x, 2 * x) < 1.0 and rmse(x, x) == 0.0


def test_metrics_drop_nan_pairs_and_report_them():
    pred = PRED + [NAN, 0.3]
    truth = TRUTH + [0.2, NAN]
    assert ccc(pred, truth) == pytest.approx(ccc(PRED, TRUTH))
    report = va_report(pred, TRUTH, truth, TRUTH)
    assert report["valence"]["dropped"] == 2 and report["valence"]["n"] == 4
    assert report["arousal"]["dropped"] == 0
    assert report["valence"]["ccc"] == pytest.approx(0.84375)
    assert report["mean_ccc"] == pytest.approx((0.84375 + 1.0) / 2)
    assert set(report["arousal"]) == {"n", "dropped", "ccc", "pcc", "rmse", "sagr"}


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match="3 predictions but 2"):
        ccc([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="at least 2"):
        rmse([0.1], [0.2])
    with pytest.raises(ValueError, match="at least 2.*got 1"):
        sagr([0.1, NAN, 0.3], [NAN, 0.2, 0.3])
    with pytest.raises(ValueError, match="arousal"):
        va_report(PRED, PRED[:3], TRUTH, TRUTH)
    assert np.isnan(pcc([0.5, 0.5, 0.5], TRUTH[:3]))  # no correlation with a constant
    assert np.isnan(ccc([0.5, 0.5], [0.5, 0.5]))
