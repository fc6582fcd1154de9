"""Evaluation: metrics and protocols for the shipped models."""

from mien.eval.metrics import classification_report, confusion_matrix

__all__ = ["classification_report", "confusion_matrix"]
