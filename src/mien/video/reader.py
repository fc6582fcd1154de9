"""Decoding video files and streams into :class:`~mien.io.images.Frame` objects, one at a time.

PyAV (FFmpeg) decodes any common container and codec (H.264, HEVC, VP9, AV1 ...). Timestamps come from
the stream (correct for variable frame rate), display rotation is applied, audio is ignored. Frames are
yielded as they are decoded, so memory stays flat however long the video is. A video that breaks off
(truncated, corrupt) yields the frames decoded so far, then one frame carrying the error.

``max_pixels`` bounds every frame, as it bounds images: a stream whose header declares larger frames is
refused before anything is decoded; FFmpeg itself is given a limit (its ``max_pixels`` codec option, twice
ours because it counts row padding, also while the file is probed), so a frame far larger is never
allocated; each decoded frame is checked against ``max_pixels`` before conversion, and skipped above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from mien.config import Sampling
from mien.io.images import DEFAULT_MAX_PIXELS, Frame
from mien.io.sources import file_problem, megapixels

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})


FFMPEG_PIXEL_SLACK = 2  # FFmpeg's own limit, as a multiple of max_pixels: see _open
TRUNCATION_SHARE = 0.9  # fewer decoded frames than this share of the header's count: reported as truncated


class VideoError(ValueError):
    """A video that cannot be opened or decoded; the message names it and says why."""


class VideoTooLarge(VideoError):
    """A video whose declared frame size is above the pixel limit (refused before decoding)."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream (``frames`` may be 0 when unknown)."""

    path: str
    codec: str
    width: int  # after rotation
    height: int
    fps: float  # average frame rate
    frames: int
    duration: float  # seconds, 0 when unknown
    rotation: int  # degrees counter-clockwise applied for display


def _open(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """The container of ``path`` with FFmpeg limited to ``max_pixels`` per frame; refused (VideoError) when
    the stream's declared frame size is above it."""
    import av

    problem = file_problem(path, "video")
    if problem:
        raise VideoError(f"{path}: {problem}")
    # FFmpeg counts the row padding too (a frame just within our limit would be refused): it gets twice ours,
    # while probing the file as well, and each decoded frame is checked against ours
    limit = {"max_pixels": str(FFMPEG_PIXEL_SLACK * max_pixels)}
    try:
        container = av.open(str(path), options=limit)
    except Exception as error:  # av.error.* subclasses; any failure here means "not a readable video"
        raise VideoError(f"{path}: cannot open video ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream")
    context = container.streams.video[0].codec_context
    if not context.width or not context.height:  # FFmpeg drops a declared size above its own limit
        problem = (f"the video's frames are above the limit of {max_pixels / 1e6:g} megapixels, or their size "
                   "cannot be read (decompression-bomb guard; raise max_pixels, or --max-pixels, to allow it)")
    else:
        problem = frame_size_problem(context.width, context.height, max_pixels, "the video's frames are")
    if problem:
        container.close()
        raise VideoTooLarge(f"{path}: {problem}")
    context.options = limit
    return container


def frame_size_problem(width: int, height: int, max_pixels: int, what: str) -> str | None:
    """Why frames of ``width`` x ``height`` are refused under ``max_pixels``, or None."""
    if width * height <= max_pixels:
        return None
    return (f"{what} {width}x{height} = {megapixels(width * height)} megapixels, above the limit of "
            f"{max_pixels / 1e6:g} megapixels (decompression-bomb guard; raise max_pixels, or --max-pixels, "
            "to allow it)")


def check_video(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise :class:`VideoError` unless ``path`` opens as a video whose declared frames fit ``max_pixels``
    (nothing beyond the header, and frames no larger than the limit, is decoded)."""
    _open(path, max_pixels).close()


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _rotation(frame) -> int:
    """Display rotation (0, 90, 180 or 270 degrees counter-clockwise) from a decoded frame's display matrix.

    (Mirroring in a display matrix is not applied; phones do not write it.)"""
    return int(round(frame.rotation or 0)) % 360


def probe(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Read a video's header and its first frame (for the display rotation); VideoError when it cannot be
    opened or its declared frames are above ``max_pixels``."""
    container = _open(path, max_pixels)
    with container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
            container.duration / 1e6 if container.duration else 0.0)
        try:
            rotation = _rotation(next(container.decode(stream)))
        except Exception:  # no decodable frame: the header is all we know
            rotation = 0
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(str(path), stream.codec_context.name, width, height, rate, int(stream.frames or 0),
                         duration, rotation)


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display rotation (counter-clockwise degrees, as players do) so the video shows upright."""
    if rotation in (90, 180, 270):
        return np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image


EPSILON = 1e-6  # seconds: the tolerance of every start / end / sampling comparison


def read_video(path: str | Path, sampling: Sampling = Sampling(), name: str | None = None,
               after_frame: int = -1, max_pixels: int = DEFAULT_MAX_PIXELS, *, seek: bool = False,
               grid_origin: float | None = None, last: bool = True) -> Iterator[Frame]:
    """Decoded frames (RGB uint8) of ``path`` chosen by ``sampling``, with timestamps in seconds from the
    start of the stream: the video frame source (see :mod:`mien.io.frames`).

    ``Frame.index`` is the frame's position in the video (0-based, counting every decoded frame, sampled
    or not); frames up to ``after_frame`` are skipped before conversion (resuming). Errors never raise:
    an unreadable video yields one frame with ``error`` set; a damaged one yields its good frames (a few
    corrupt packets are skipped), then a frame with ``error`` saying what was lost. A video whose frames
    are declared above ``max_pixels`` yields one error frame without decoding any; frames above it are
    skipped and counted in the final error frame (see the module's docstring).

    Reading one part of a video (a batch segment):
        seek: start by seeking to the key frame before ``sampling.start`` instead of decoding from the
            beginning; indices and timestamps stay what a full pass gives, because the frames before the
            start are *counted* from the demuxed packets (reading bytes, no decoding). Frames before the
            start are then never decoded, so an oversized one there is not counted.
        grid_origin: the time the ``sampling.fps`` grid starts from (default ``sampling.start``); 0.0
            makes every part sample the frames a single pass from 0 would.
        last: this part reaches the end of the video, so a truncated file is reported here (False: a
            part that ends early is not a truncation).
    """
    name = name or str(path)
    try:
        container = _open(path, max_pixels)
    except VideoError as error:
        yield Frame(name, 0, None, 0.0, str(error))
        return
    with container:
        stream = container.streams.video[0]
        start_pts = stream.start_time or 0
        seeking = seek and sampling.start > 0
        index = -1  # of the last frame decoded
        if seeking:
            index = _frames_before(container, stream, sampling.start, start_pts) - 1
            container.seek(start_pts + int(sampling.start / stream.time_base), stream=stream, backward=True,
                           any_frame=False)
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25.0)
        promised = int(stream.frames or 0)
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
            container.duration / 1e6 if container.duration else 0.0)
        origin = sampling.start if grid_origin is None else grid_origin
        next_time = first_sample_time(origin, sampling.start, sampling.fps)
        timestamp, bad_packets, refused, failure = (sampling.start if seeking else 0.0), 0, 0, None
        yielded = 0
        for decoded in _decode_tolerantly(container, stream):
            if isinstance(decoded, Exception) and _refused_size(decoded):
                refused += 1  # FFmpeg refused to allocate it: nothing was decoded
                continue
            if isinstance(decoded, Exception):
                bad_packets += 1
                failure = decoded
                if bad_packets > MAX_BAD_PACKETS:
                    break
                continue
            if seeking and decoded.pts is not None and _seconds(decoded.pts, start_pts, decoded.time_base) < (
                    sampling.start - EPSILON):
                continue  # decoded from the key frame before the start: already counted
            if decoded.width * decoded.height > max_pixels:  # within FFmpeg's slack, above ours
                refused += 1
                continue
            index += 1
            timestamp = _seconds(decoded.pts, start_pts, decoded.time_base) if decoded.pts is not None else index / rate
            if index <= after_frame or timestamp < sampling.start - EPSILON:
                continue
            if sampling.end is not None and timestamp >= sampling.end - EPSILON:
                return
            if sampling.fps is not None:
                if timestamp < next_time - EPSILON:
                    continue
                next_time += 1.0 / sampling.fps
                if next_time <= timestamp:  # after a gap: the next pick is one period after this frame
                    next_time = timestamp + 1.0 / sampling.fps
            elif index % sampling.every:
                continue
            image = _rotate(decoded.to_ndarray(format="rgb24"), _rotation(decoded))
            yielded += 1
            yield Frame(name, index, image, timestamp)
        frame_period = 1.0 / rate
        if refused:
            message = (f"{refused} frame(s) above the limit of {max_pixels / 1e6:g} megapixels (or of an invalid "
                       "size) not decoded (decompression-bomb guard; raise max_pixels, or --max-pixels, to allow them)")
        elif bad_packets > MAX_BAD_PACKETS:
            message = f"decoding stopped after frame {index} ({_reason(failure)})"
        elif last and promised and index + 1 < TRUNCATION_SHARE * promised:
            message = f"decoding stopped after frame {index} of the {promised} the header announces (truncated file?)"
        elif last and not promised and duration and timestamp + frame_period < TRUNCATION_SHARE * duration:
            message = f"decoding stopped at {timestamp:.2f} s of the {duration:.2f} s the header announces (truncated file?)"
        elif bad_packets:
            message = f"{bad_packets} corrupt packet(s) skipped ({_reason(failure)})"
        elif not yielded and after_frame < 0 and duration and sampling.start >= duration - EPSILON:
            message = f"no frame at or after the start ({sampling.start:g} s): the video lasts {duration:.2f} s"
        else:
            return
        yield Frame(name, index + 1, None, timestamp, f"{name}: {message}")


def first_sample_time(origin: float, start: float, fps: float | None) -> float:
    """The first time on the ``fps`` sampling grid (started at ``origin``) not before ``start``, so
    every segment samples the frames a single pass would."""
    if fps is None or start <= origin:
        return start
    return origin + math.ceil((start - origin) * fps - EPSILON) / fps


def _seconds(pts: int | None, start_pts: int, time_base) -> float | None:
    return None if pts is None else float((pts - start_pts) * time_base)


def _frames_before(container, stream, start: float, start_pts: int) -> int:
    """How many frames of ``stream`` show before ``start`` seconds: shown packets with an earlier timestamp."""
    count = 0
    for packet in container.demux(stream):
        time = _seconds(packet.pts, start_pts, packet.time_base or stream.time_base)
        if time is None or getattr(packet, "is_discard", False):  # edit lists mark frames never shown
            continue
        if time < start - EPSILON:
            count += 1
        elif time > start + 5.0:  # past any B-frame reordering: no earlier frame can follow
            break
    return count


def _refused_size(error: Exception) -> bool:
    """FFmpeg refuses a frame above its ``max_pixels`` option with EINVAL (corrupt data gives another code)."""
    return getattr(error, "errno", None) == 22


MAX_BAD_PACKETS = 10  # corrupt packets tolerated (skipped) before decoding gives up


def _decode_tolerantly(container, stream) -> Iterator:
    """Decoded frames of ``stream``; a packet that fails to decode yields its exception instead."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except Exception as error:  # av.error.InvalidDataError and kin: this packet only
                yield error
    except Exception as error:  # the demuxer itself failed: nothing more can be read
        yield error
        for _ in range(MAX_BAD_PACKETS):
            yield error


def frame_rate(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Fraction | None:
    """The stream's average frame rate as a fraction (for writing overlays at the same rate)."""
    container = _open(path, max_pixels)
    with container:
        rate = container.streams.video[0].average_rate
        return Fraction(rate) if rate else None
