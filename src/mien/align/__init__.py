"""Alignment: landmarks -> canonical face crops (plus the matrices to map back)."""

from mien.align.similarity import (
    ARCFACE_TEMPLATE,
    CropSpec,
    alignment_matrix,
    apply_affine,
    estimate_similarity,
    invert_affine,
    outside_fraction,
    warp_face,
)

__all__ = [
    "ARCFACE_TEMPLATE",
    "CropSpec",
    "alignment_matrix",
    "apply_affine",
    "estimate_similarity",
    "invert_affine",
    "outside_fraction",
    "warp_face",
]
