"""The valence/arousal projection of the expression probabilities (mien.tasks.valence)."""

from __future__ import annotations

import numpy as np
import pytest

from mien.schema import EXPRESSIONS
from mien.tasks.valence import EXPRESSION_ANGLES, valence_arousal


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
