"""Decoding user images into RGB uint8 arrays, with errors that name the input and the reason.

Everything downstream of this module sees ``(H, W, 3)`` uint8 RGB. Handled here: JPEG, PNG, BMP, TIFF
(first page, or every page with ``pages="all"``), WebP, AVIF, GIF (first frame); grayscale, palette, RGBA/LA
(composited over white), CMYK, 16-bit and float images (rescaled to 8 bits); EXIF orientation; and a
pixel-count limit checked from the header *before* decoding, so a small file claiming a huge size cannot
exhaust memory (``max_pixels`` is the only limit: Pillow's own guard is lifted for decodes that need more).

Memory: the decoded file (1 to 4 bytes per pixel, as Pillow holds it) is converted in row strips written
straight into the result (3 bytes per pixel), EXIF rotation included, so a decode peaks at about 7 bytes per
pixel plus a constant, whatever the pixel format.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from mien.config import DEFAULT_MAX_PIXELS  # noqa: F401 (re-exported)
from mien.io.frames import Frame  # defined with the frame-source contract; importable from here too
from mien.io.sources import IMAGE_EXTENSIONS, file_problem, megapixels  # noqa: F401 (IMAGE_EXTENSIONS re-exported)


class ImageError(ValueError):
    """An input that cannot be analysed; the message names the input and the reason."""


STRIP_PIXELS = 1 << 18  # pixels converted at a time: bounds the temporary memory of a conversion
EXIF_ORIENTATION = 0x0112


def to_rgb_uint8(array: np.ndarray, name: str = "<array>") -> np.ndarray:
    """Convert a numpy image (gray, gray+alpha, RGB, RGBA; uint8/uint16/float) to (H, W, 3) uint8 RGB.

    Float arrays are taken as [0, 1] when their maximum is at most 1, else as [0, 255]. The conversion runs
    in row strips: besides the input, it holds the 3-byte-per-pixel result and a constant amount.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ImageError(f"{name}: unsupported array shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name}: empty image of shape {array.shape}")
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    height, width = array.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    _convert_strips(lambda rows: array[rows], array.dtype, out, name)
    return out


def _strips(height: int, width: int) -> Iterator[slice]:
    """Row ranges of about :data:`STRIP_PIXELS` pixels each, covering ``height`` rows."""
    rows = max(1, STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        yield slice(top, min(top + rows, height))


def _convert_strips(read: Callable[[slice], np.ndarray], dtype: np.dtype, out: np.ndarray, name: str) -> None:
    """Fill ``out`` (the image's (H, W, 3) uint8 RGB, or a view of it) strip by strip from ``read(rows)``."""
    height, width = out.shape[:2]
    to_uint8 = _uint8_mapping(dtype, lambda: (read(rows) for rows in _strips(height, width)), name)
    for rows in _strips(height, width):
        out[rows] = _composite(to_uint8(read(rows)))


def _uint8_mapping(dtype: np.dtype, strips: Callable[[], Iterator[np.ndarray]], name: str
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """How one image's pixel values become 8 bits: decided from the whole image (its value range, read
    strip by strip from ``strips()``), applied to each strip."""
    if dtype == np.uint8:
        return lambda strip: strip
    if dtype == np.bool_:
        return lambda strip: strip.astype(np.uint8) * 255
    if dtype in (np.uint16, np.int16):
        return lambda strip: (np.clip(strip.astype(np.int32), 0, 65535) / 257.0).round().astype(np.uint8)
    if np.issubdtype(dtype, np.integer):
        low, high = _integer_range(strips())
        if low >= 0 and high <= 255:  # e.g. int64 arrays of 8-bit values
            return lambda strip: strip.astype(np.uint8)
        if low >= 0 and high <= 65535:
            return lambda strip: (strip / 257.0).round().astype(np.uint8)
        raise ImageError(f"{name}: integer pixel values {low}..{high} fit neither 8 nor 16 bits")
    if np.issubdtype(dtype, np.floating):
        if not any(np.isfinite(strip).any() for strip in strips()):
            raise ImageError(f"{name}: no pixel holds a finite value (all NaN or infinite)")
        peak = max(_finite(strip).max(initial=0.0) for strip in strips())
        scale = 255.0 if peak <= 1.0 else 1.0
        return lambda strip: np.clip(_finite(strip) * scale, 0, 255).round().astype(np.uint8)
    raise ImageError(f"{name}: unsupported pixel type {dtype}")


def _integer_range(strips: Iterator[np.ndarray]) -> tuple[int, int]:
    low, high = None, None
    for strip in strips:
        low = int(strip.min()) if low is None else min(low, int(strip.min()))
        high = int(strip.max()) if high is None else max(high, int(strip.max()))
    return low, high


def _finite(strip: np.ndarray) -> np.ndarray:
    return np.nan_to_num(strip.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _composite(strip: np.ndarray) -> np.ndarray:
    """A uint8 strip (gray, gray+alpha, RGB, RGBA) as RGB, or gray to broadcast; alpha composited over white."""
    if strip.ndim == 2:
        return strip[..., None]
    if strip.shape[2] in (2, 4):
        colour, alpha = strip[..., :-1].astype(np.float32), strip[..., -1:].astype(np.float32) / 255.0
        return np.rint(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return strip


HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # 16/32-bit integer and float images


def _pil_to_rgb(image, name: str, orientation: int = 1) -> np.ndarray:
    """A loaded PIL image as (H, W, 3) uint8 RGB, turned by the EXIF ``orientation``; converted in row strips
    written straight into the result, so besides the image it holds 3 bytes per pixel and a constant."""
    if image.mode in HIGH_DEPTH_MODES:
        mode = None
    elif image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
        mode = "RGBA"
    else:
        mode = "RGB" if image.mode != "RGB" else None
    width, height = image.size

    def read(rows: slice) -> np.ndarray:
        piece = image.crop((0, rows.start, width, rows.stop))
        return np.asarray(piece.convert(mode) if mode else piece)

    out = np.empty((width, height, 3) if orientation in (5, 6, 7, 8) else (height, width, 3), np.uint8)
    _convert_strips(read, read(slice(0, 1)).dtype, _source_view(out, orientation), name)
    return out


def _source_view(out: np.ndarray, orientation: int) -> np.ndarray:
    """A view of ``out`` (the image as displayed) laid out as the stored pixels of an image with this EXIF
    orientation: writing the stored pixels into it gives what ``ImageOps.exif_transpose`` shows."""
    views = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, 1),
             7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, -1)}
    return views.get(orientation, lambda a: a)(out)


def _orientation(image) -> int:
    """The EXIF orientation (1..8) that ``ImageOps.exif_transpose`` would apply; 1 when absent or unreadable."""
    try:
        orientation = int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block should not cost the image
        return 1
    return orientation if 1 <= orientation <= 8 else 1


class _PillowLimit:
    """Pillow refuses images above ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (about 179 MP) whatever mien's own
    limit says. While decodes whose ``max_pixels`` is above that run, Pillow's limit is raised to the largest
    of theirs (mien's own check, from the header, refuses the rest); the last one to end restores it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: Counter[int] = Counter()
        self.saved: int | None = None

    @contextmanager
    def allowing(self, max_pixels: int) -> Iterator[None]:
        raised = self._raise(max_pixels)
        try:
            yield
        finally:
            if raised:
                self._restore(max_pixels)

    def _raise(self, max_pixels: int) -> bool:
        from PIL import Image

        with self.lock:
            base = self.saved if self.active else Image.MAX_IMAGE_PIXELS
            if base is None or max_pixels <= 2 * base:
                return False
            if not self.active:
                self.saved = base
            self.active[max_pixels] += 1
            Image.MAX_IMAGE_PIXELS = max(self.active)
            return True

    def _restore(self, max_pixels: int) -> None:
        from PIL import Image

        with self.lock:
            self.active[max_pixels] -= 1
            if not self.active[max_pixels]:
                del self.active[max_pixels]
            Image.MAX_IMAGE_PIXELS = max(self.active) if self.active else self.saved


PILLOW_LIMIT = _PillowLimit()


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
        if _is_heif(_head(source)):
            raise ImageError(f"{name}: HEIC/HEIF image, which this installation cannot decode (Pillow has no "
                             "HEIC decoder; convert it to JPEG or PNG)") from None
        raise ImageError(f"{name}: not a recognised image format (or corrupt header)") from None
    except Image.DecompressionBombError as error:  # far above max_pixels: Pillow's guard fired first
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        raise ImageError(_too_large(name, f"{megapixels(int(claimed.group(1)))} megapixels" if claimed else
                                    "too many pixels", max_pixels)) from None
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        raise ImageError(f"{name}: cannot open image ({error})") from None
    check_size(image, name, max_pixels)
    return image


HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")  # AVIF decodes


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _head(source) -> bytes:
    """The first 12 bytes of a path or stream (empty when unreadable)."""
    try:
        if isinstance(source, (str, Path)):
            with open(source, "rb") as handle:
                return handle.read(12)
        source.seek(0)
        return source.read(12)
    except (OSError, AttributeError, ValueError):
        return b""


def _too_large(name: str, claimed: str, max_pixels: int) -> str:
    return (f"{name}: image claims {claimed}, above the limit of {max_pixels / 1e6:g} megapixels "
            "(decompression-bomb guard; raise max_pixels, or --max-pixels, to allow it)")


def size_problem(size: tuple[int, int], name: str, max_pixels: int) -> str | None:
    """Why an image of ``size`` (width, height) is refused, or None."""
    width, height = size
    if width * height > max_pixels:
        return _too_large(name, f"{width}x{height} = {megapixels(width * height)} megapixels", max_pixels)
    if width == 0 or height == 0:
        return f"{name}: image has zero size {width}x{height}"
    return None


def check_size(image, name: str, max_pixels: int) -> None:
    """Refuse an image (or TIFF page) from its header before any pixel is decoded (closing it)."""
    problem = size_problem(image.size, name, max_pixels)
    if problem:
        image.close()
        raise ImageError(problem)


def _decode_page(image, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as error:
        message = str(error)
        if "truncated" in message or "broken data stream" in message:
            raise ImageError(f"{name}: truncated or corrupt image data ({message})") from None
        raise ImageError(f"{name}: cannot decode image ({message})") from None
    return _pil_to_rgb(image, name, _orientation(image))


def read_image_pages(
    source: str | Path | bytes, pages: str = "first", max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Iterator[np.ndarray]:
    """Decode an image file (or its bytes) to RGB uint8 arrays: one, or one per page with ``pages="all"``.

    Raises :class:`ImageError` with the input's name and the reason when it cannot be decoded.
    """
    if pages not in ("first", "all"):
        raise ValueError(f"pages must be 'first' or 'all', got {pages!r}")
    name = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    with PILLOW_LIMIT.allowing(max_pixels), _open(source, name, max_pixels) as image:
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


def checked_frame(frame: Frame) -> Frame:
    """A user's :class:`Frame` with its pixels checked and converted like an array input's; a frame whose
    pixels are unusable comes back with ``image=None`` and the reason in ``error``."""
    if frame.image is None:
        return frame if frame.error else Frame(frame.source, frame.index, None, frame.timestamp,
                                               f"{frame.source}: frame {frame.index} has no image")
    try:
        return Frame(frame.source, frame.index, to_rgb_uint8(frame.image, frame.source), frame.timestamp)
    except ImageError as error:
        return Frame(frame.source, frame.index, None, frame.timestamp, str(error))


def iter_frames(source, pages: str = "first", max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Iterator[Frame]:
    """Frames of one input (path, bytes, numpy array, PIL image or an already-decoded :class:`Frame`): the
    image frame source (see :mod:`mien.io.frames`); failures become a Frame with ``error``."""
    from PIL import Image

    if isinstance(source, Frame):  # already decoded (a video frame, a camera frame): kept with its index and time
        yield checked_frame(source)
        return
    if isinstance(source, np.ndarray):
        name = name or "<array>"
        try:
            yield Frame(name, 0, to_rgb_uint8(source, name))
        except ImageError as error:
            yield Frame(name, 0, None, error=str(error))
        return
    if isinstance(source, Image.Image):
        name = name or "<PIL image>"
        try:  # Image.open is lazy: the size is known before any pixel is decoded
            problem = size_problem(source.size, name, max_pixels)
            if problem:
                raise ImageError(problem)
            with PILLOW_LIMIT.allowing(max_pixels):
                frame = Frame(name, 0, _decode_page(source, name))
        except ImageError as error:
            frame = Frame(name, 0, None, error=str(error))
        yield frame
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
