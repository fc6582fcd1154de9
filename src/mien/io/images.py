"""Decoding user images into RGB uint8 arrays, with errors that name the input and the reason.

Everything downstream of this module sees ``(H, W, 3)`` uint8 RGB. Handled here: JPEG, PNG, BMP, TIFF
(first page, or every page with ``pages="all"``), WebP, GIF (first frame); grayscale, palette, RGBA/LA
(composited over white), CMYK, 16-bit and float images (rescaled to 8 bits); EXIF orientation; and a
pixel-count limit checked from the header *before* decoding, so a small file claiming a huge size cannot
exhaust memory.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from mien.io.sources import IMAGE_EXTENSIONS, file_problem  # noqa: F401 (IMAGE_EXTENSIONS re-exported)

DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: larger than any camera photo, small enough to decode


class ImageError(ValueError):
    """An input that cannot be analysed; the message names the input and the reason."""


@dataclass
class Frame:
    """One decoded image (or TIFF page / video frame) ready for the pipeline."""

    source: str  # what the user gave: a path, or "<array>" for in-memory inputs
    index: int  # frame / page index within the source, 0 for still images
    image: np.ndarray | None  # (H, W, 3) uint8 RGB, None when decoding failed
    timestamp: float = 0.0  # seconds from the start of the source
    error: str = ""  # why decoding failed, "" on success


def to_rgb_uint8(array: np.ndarray, name: str = "<array>") -> np.ndarray:
    """Convert a numpy image (gray, gray+alpha, RGB, RGBA; uint8/uint16/float) to (H, W, 3) uint8 RGB.

    Float arrays are taken as [0, 1] when their maximum is at most 1, else as [0, 255].
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ImageError(f"{name}: unsupported array shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name}: empty image of shape {array.shape}")
    array = _to_uint8(array, name)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.shape[2] in (2, 4):  # colour (or gray) plus alpha: composite over white
        colour, alpha = array[..., :-1].astype(np.float32), array[..., -1:].astype(np.float32) / 255.0
        composed = colour * alpha + 255.0 * (1.0 - alpha)
        array = np.rint(composed).astype(np.uint8)
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype in (np.uint16, np.int16):
        return (np.clip(array.astype(np.int32), 0, 65535) / 257.0).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:  # e.g. int64 arrays of 8-bit values
            return array.astype(np.uint8)
        if low >= 0 and high <= 65535:
            return (array / 257.0).round().astype(np.uint8)
        raise ImageError(f"{name}: integer pixel values {low}..{high} fit neither 8 nor 16 bits")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(finite * scale, 0, 255).round().astype(np.uint8)
    raise ImageError(f"{name}: unsupported pixel type {array.dtype}")


def _pil_to_rgb(image, name: str) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16/32-bit integer and float images
        return to_rgb_uint8(np.asarray(image), name)
    if image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
        return to_rgb_uint8(np.asarray(image.convert("RGBA")), name)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image))


def _open(source, name: str, max_pixels: int):
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, Path)):
        problem = file_problem(source, "image")
        if problem:
            raise ImageError(f"{name}: {problem}")
    elif isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError(f"{name}: empty data (0 bytes)")
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: our own limit applies below
            image = Image.open(source)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a recognised image format (or corrupt header)") from None
    except Image.DecompressionBombError as error:  # Pillow's own, larger limit fired first
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(claimed.group(1)) / 1e6:.0f} megapixels" if claimed else "too many pixels"
        raise ImageError(f"{name}: image claims {size}, above Pillow's limit of PIL.Image.MAX_IMAGE_PIXELS "
                         "(decompression-bomb guard; raise both limits to allow it)") from None
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        raise ImageError(f"{name}: cannot open image ({error})") from None
    check_size(image, name, max_pixels)
    return image


def check_size(image, name: str, max_pixels: int) -> None:
    """Refuse an image (or TIFF page) from its header before any pixel is decoded."""
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(
            f"{name}: image claims {width}x{height} = {width * height / 1e6:.0f} megapixels, above the limit of "
            f"{max_pixels / 1e6:.0f} megapixels (decompression-bomb guard; raise max_pixels to allow it)"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{name}: image has zero size {width}x{height}")


def _decode_page(image, name: str) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as error:
        message = str(error)
        if "truncated" in message or "broken data stream" in message:
            raise ImageError(f"{name}: truncated or corrupt image data ({message})") from None
        raise ImageError(f"{name}: cannot decode image ({message})") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the image
        pass
    return _pil_to_rgb(image, name)


def read_image_pages(
    source: str | Path | bytes, pages: str = "first", max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Iterator[np.ndarray]:
    """Decode an image file (or its bytes) to RGB uint8 arrays: one, or one per page with ``pages="all"``.

    Raises :class:`ImageError` with the input's name and the reason when it cannot be decoded.
    """
    if pages not in ("first", "all"):
        raise ValueError(f"pages must be 'first' or 'all', got {pages!r}")
    name = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    image = _open(source, name, max_pixels)
    with image:
        page_count = getattr(image, "n_frames", 1) if pages == "all" else 1
        for page in range(page_count):
            label = f"{name} (page {page})" if page_count > 1 else name
            if page:
                try:
                    image.seek(page)
                except (EOFError, OSError, ValueError) as error:
                    raise ImageError(f"{label}: cannot read page ({error})") from None
                check_size(image, label, max_pixels)
            yield _decode_page(image, label)


def read_image(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode the first page of an image file (or bytes) to a ``(H, W, 3)`` uint8 RGB array."""
    return next(read_image_pages(source, "first", max_pixels))


def iter_frames(source, pages: str = "first", max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Iterator[Frame]:
    """Frames of one input (path, bytes, numpy array or PIL image); failures become a Frame with ``error``."""
    from PIL import Image

    if isinstance(source, np.ndarray):
        name = name or "<array>"
        try:
            yield Frame(name, 0, to_rgb_uint8(source, name))
        except ImageError as error:
            yield Frame(name, 0, None, error=str(error))
        return
    if isinstance(source, Image.Image):
        name = name or "<PIL image>"
        try:
            yield Frame(name, 0, _decode_page(source, name))
        except ImageError as error:
            yield Frame(name, 0, None, error=str(error))
        return
    if not isinstance(source, (str, Path, bytes, bytearray)):
        label = name or f"<{type(source).__name__}>"
        yield Frame(label, 0, None, error=f"{label}: unsupported input type {type(source).__name__}")
        return
    name = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    page = 0
    try:
        for page, image in enumerate(read_image_pages(source, pages, max_pixels, name)):
            yield Frame(name, page, image)
            page += 1  # a failure from here on belongs to the next page
    except ImageError as error:
        yield Frame(name, page, None, error=str(error))
    except MemoryError:
        yield Frame(name, page, None, error=f"{name}: out of memory while decoding")
    except Exception as error:  # a decoder bug on a hostile file must not end the run
        yield Frame(name, page, None, error=f"{name}: cannot decode image ({type(error).__name__}: {error})")
