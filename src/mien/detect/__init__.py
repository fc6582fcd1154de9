"""Face detection: images -> boxes, scores and 5 landmarks (:class:`Detections`)."""

from __future__ import annotations

from typing import Any

from mien.detect.base import Detections, FaceDetector, supports_regions

__all__ = ["Detections", "FaceDetector", "load_detector", "supports_regions"]


def load_detector(detector: str | FaceDetector, *, threads: int | None = None, device: str = "cpu",
                  **options: Any) -> FaceDetector:
    """``detector`` itself when it has a ``detect`` method (:class:`FaceDetector`), else the backend registered
    under that name, built with ``options`` (e.g. ``score_threshold``) and the runtime hints."""
    if not isinstance(detector, str):
        if not callable(getattr(detector, "detect", None)):
            raise TypeError(f"detector must be a registered name or an object with detect(image); "
                            f"{type(detector).__name__} has no detect method")
        if options:
            raise ValueError(f"detector options {sorted(options)} apply to a registered detector name, not to a "
                             f"{type(detector).__name__} object: configure the object itself")
        return detector
    from mien.registry import create

    return create(detector, "detector", threads=threads, device=device, **options)
