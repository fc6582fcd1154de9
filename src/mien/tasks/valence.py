"""Valence and arousal in [-1, 1], estimated from the expression probabilities (no VA-trained model).

Method ``circumplex-projection-v1``: each basic expression is a direction on Russell's circumplex of
affect (Russell 1980, J. Pers. Soc. Psychol. 39:1161), whose published anchors are pleasure 0 deg,
excitement 45, arousal 90, distress 135, displeasure 180, depression 225, sleepiness 270 and
relaxation 315 (valence = cos, arousal = sin). mien places the expressions between those anchors (its
own choice, listed in ``EXPRESSION_ANGLES``); neutral sits at the centre. A face's (valence, arousal) is
the probability-weighted sum of the unit vectors, so a confident happy face lands near the rim at
20 deg and an ambiguous face near the centre.

Limits, stated in the README: this is a projection, not a measurement. It cannot express intensity
beyond the model's confidence, never reaches the calm quadrant (relaxation, sleepiness: no basic
expression lives there), and inherits every error of the expression model. No valence/arousal-labelled
data is available here to measure it (CCC); CK+'s valence column (derived from its emotion labels) is
used only for a sign check. Users with AffectNet or AFEW-VA can train a real VA head (``mien train va``).
"""

from __future__ import annotations

import numpy as np

from mien.schema import EXPRESSIONS

VA_METHOD = "circumplex-projection-v1"

# degrees on Russell's circle; None = the centre
EXPRESSION_ANGLES: dict[str, float | None] = {
    "neutral": None,
    "happy": 20.0,      # between pleasure (0) and excitement (45)
    "surprise": 80.0,   # near arousal (90), on the pleasant side
    "fear": 115.0,      # between arousal (90) and distress (135)
    "anger": 125.0,     # distress side, slightly more unpleasant than fear
    "disgust": 150.0,   # between distress (135) and displeasure (180)
    "contempt": 165.0,  # near displeasure, less aroused
    "sad": 210.0,       # between displeasure (180) and depression (225)
}


def expression_directions(order: tuple[str, ...] = EXPRESSIONS) -> np.ndarray:
    """(len(order), 2) unit (valence, arousal) vectors; zeros for neutral."""
    vectors = np.zeros((len(order), 2), np.float32)
    for k, name in enumerate(order):
        angle = EXPRESSION_ANGLES[name]
        if angle is not None:
            vectors[k] = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    return vectors


def valence_arousal(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) valence and (N,) arousal in [-1, 1] for (N, 8) expression probabilities (EXPRESSIONS order)."""
    probabilities = np.asarray(probabilities, np.float32)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(EXPRESSIONS):
        raise ValueError(f"expected (N, {len(EXPRESSIONS)}) probabilities, got {probabilities.shape}")
    va = probabilities @ expression_directions()
    return np.clip(va[:, 0], -1, 1), np.clip(va[:, 1], -1, 1)
