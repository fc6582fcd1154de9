"""Face detection: images -> boxes, scores and 5 landmarks (:class:`Detections`)."""

from mien.detect.base import Detections, FaceDetector

__all__ = ["Detections", "FaceDetector"]
