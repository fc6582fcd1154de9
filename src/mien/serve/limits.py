"""What the server accepts: size limits, content sniffing from magic bytes, safe names and job ids.

Nothing here trusts what a client declares: the kind of an upload is read from its first bytes, not from
its ``Content-Type`` or file name, and a name from a client is only ever shown, never used as a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mien.options import check_options

MB = 1024 * 1024

# First-bytes signatures. Each entry: (offset, bytes) pairs that must all match.
IMAGE_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "jpeg": ((0, b"\xff\xd8\xff"),),
    "png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "gif": ((0, b"GIF8"),),
    "bmp": ((0, b"BM"),),
    "tiff-le": ((0, b"II*\x00"),),
    "tiff-be": ((0, b"MM\x00*"),),
    "webp": ((0, b"RIFF"), (8, b"WEBP")),
}
# HEIF-family images (AVIF, HEIC) are ISO-BMFF files like MP4 and MOV: the major brand after ``ftyp`` tells
# them apart, and they are checked before the video signatures.
HEIF_IMAGE_BRANDS = {"avif": b"avif", "avif (sequence)": b"avis", "heic": b"heic", "heic (heix)": b"heix",
                     "heic (heim)": b"heim", "heic (heis)": b"heis", "heif": b"mif1", "heif (sequence)": b"msf1",
                     "heic (sequence)": b"hevc", "heic (hevx)": b"hevx"}
IMAGE_SIGNATURES.update({name: ((4, b"ftyp" + brand),) for name, brand in HEIF_IMAGE_BRANDS.items()})
VIDEO_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "mp4/mov": ((4, b"ftyp"),),
    "mov (no ftyp)": ((4, b"moov"),),
    "mov (wide atom)": ((4, b"wide"),),
    "mov (mdat first)": ((4, b"mdat"),),
    "matroska/webm": ((0, b"\x1a\x45\xdf\xa3"),),
    "avi": ((0, b"RIFF"), (8, b"AVI ")),
    "mpeg-ps": ((0, b"\x00\x00\x01\xba"),),
    "mpeg-ts": ((0, b"\x47"), (188, b"\x47")),
    "flv": ((0, b"FLV"),),
    "asf/wmv": ((0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),),
}
SNIFF_BYTES = 200  # enough for every signature above


@dataclass(frozen=True)
class Limits:
    """The server's limits. Sizes in bytes, times in seconds, counts in requests or jobs."""

    max_image_bytes: int = 20 * MB
    max_video_bytes: int = 500 * MB
    max_pixels: int = 50_000_000  # decoded image size refused from the header (decompression-bomb guard)
    request_timeout: float = 30.0  # one /v1/analyze request, waiting included; also the longest pause in an upload
    analyze_concurrency: int = 2  # images analysed at once (threads)
    max_waiting: int = 64  # /v1/analyze requests waiting for a thread before 429
    max_queued_jobs: int = 16  # video jobs queued or running before 429
    keep_uploads: float = 0.0  # seconds an uploaded video is kept after its job ends

    def __post_init__(self) -> None:
        # the ranges and messages of mien serve's flags (which give the sizes in megabytes)
        check_options(max_image_mb=self.max_image_bytes / MB, max_video_mb=self.max_video_bytes / MB,
                      max_pixels=self.max_pixels, timeout=self.request_timeout, concurrency=self.analyze_concurrency,
                      queue_size=self.max_queued_jobs, keep_uploads=self.keep_uploads)
        if self.max_waiting < 1:  # no flag: set from Python only
            raise ValueError(f"max_waiting must be at least 1, got {self.max_waiting}")


def _matches(head: bytes, signature: tuple[tuple[int, bytes], ...]) -> bool:
    return all(head[offset:offset + len(magic)] == magic for offset, magic in signature)


def sniff(head: bytes) -> tuple[str, str] | None:
    """``("image" | "video", format)`` from the first bytes of a file, or None when neither."""
    for kind, table in (("image", IMAGE_SIGNATURES), ("video", VIDEO_SIGNATURES)):
        for name, signature in table.items():
            if _matches(head, signature):
                return kind, name
    return None


def describe_head(head: bytes) -> str:
    """A short, safe description of unrecognised content for an error message."""
    if not head:
        return "empty body (0 bytes)"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:64])
    if printable == len(head[:64]):
        return "text, not an image or video"
    return f"unrecognised content starting with bytes {head[:8].hex(' ')}"


JOB_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def valid_job_id(text: str) -> bool:
    """True for ids of the form :func:`secrets.token_urlsafe` makes; nothing else reaches the file system."""
    return bool(JOB_ID.match(text))


def display_name(filename: str | None, fallback: str) -> str:
    """A client's file name reduced to something safe to show: base name only, printable, at most 120 chars."""
    if not filename:
        return fallback
    base = re.split(r"[\\/]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:120] or fallback
