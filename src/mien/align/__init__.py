"""Alignment: landmarks -> canonical face crops (plus the matrices to map back)."""

from mien.align.similarity import (
    ARCFACE_TEMPLATE,
    CropSpec,
    alignment_matrix,
    crop_whole_image,
    apply_affine,
    estimate_similarity,
    invert_affine,
    outside_fraction,
    warp_face,
    warp_with_matrix,
)

__all__ = [
    "ARCFACE_TEMPLATE",
    "CropSpec",
    "alignment_matrix",
    "crop_whole_image",
    "apply_affine",
    "estimate_similarity",
    "invert_affine",
    "outside_fraction",
    "warp_face",
    "warp_with_matrix",
]
