"""The CK+ AU label table (mien.datasets) and the AU scores computed on it by hand."""

from __future__ import annotations

import numpy as np
import pytest


def test_ckplus_au_table_and_au_scores_by_hand(datasets):
    from mien.schema import AUS
    from mien.eval.au import au_scores
    from mien.datasets.au_layouts import read_ckplus_aus

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
