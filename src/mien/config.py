"""Defaults shared by every front end (Python API, CLI, server, batch, live), each written once here."""

from __future__ import annotations

DEFAULT_DETECTOR = "retinaface"
DEFAULT_EXPRESSION = "mfn-raf-ferplus"  # the registered expression model every front end starts from
FAST_EXPRESSION = "mnv2-ferplus-small"  # the registered fast variant
