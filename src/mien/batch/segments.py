"""Reading one time segment of a video without decoding what lies before it.

Segment 0 is read by :func:`mien.video.reader.read_video` itself. A later segment seeks to the key frame
before its start and decodes from there; ``Frame.index`` stays the frame's position in the whole video
(what ``read_video`` would give) because the frames before the start are *counted* from the demuxed
packets, which costs reading bytes but no decoding. Each segment reads the packets before it again, so
a long video cut into many segments reads its start many times (quadratic in the number of segments;
not yet measured on hour-long videos: counting once at planning time is the planned fix).

``max_pixels`` bounds every frame as in ``read_video``: a stream declared above it is refused before
decoding, FFmpeg is given the limit, and each decoded frame above it is skipped and counted (reported by
an error frame when the segment reaches the end of the video, as ``read_video`` reports it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

from mien.io.images import DEFAULT_MAX_PIXELS, Frame
from mien.video.reader import (
    MAX_BAD_PACKETS,
    TRUNCATION_SHARE,
    Sampling,
    VideoError,
    _decode_tolerantly,
    _open,
    _reason,
    _refused_size,
    _rotate,
    _rotation,
    read_video,
)

EPSILON = 1e-6  # seconds; the same tolerance read_video applies to start/end


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


def first_sample_time(origin: float, start: float, fps: float | None) -> float:
    """The first time on the ``fps`` sampling grid (started at ``origin``) not before ``start``, so
    every segment samples the frames a single pass would."""
    if fps is None or start <= origin:
        return start
    return origin + math.ceil((start - origin) * fps - EPSILON) / fps


def read_segment(path: str | Path, sampling: Sampling, name: str | None = None,
                 last: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Frame]:
    """Frames of ``path`` in ``[sampling.start, sampling.end)`` chosen by ``sampling``, indexed and timed
    as :func:`read_video` would. ``last``: this segment reaches the end of the video, so a truncated
    file is reported here (an error frame, as ``read_video`` yields). Frames above ``max_pixels`` are
    never converted (see the module's docstring)."""
    name = name or str(path)
    if sampling.start <= 0:
        yield from read_video(path, sampling, name, max_pixels=max_pixels)
        return
    try:
        container = _open(path, max_pixels)
    except VideoError as error:
        yield Frame(name, 0, None, 0.0, str(error))
        return
    with container:
        stream = container.streams.video[0]
        start_pts = stream.start_time or 0
        index = _frames_before(container, stream, sampling.start, start_pts)
        container.seek(start_pts + int(sampling.start / stream.time_base), stream=stream, backward=True,
                       any_frame=False)
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25.0)
        next_time = first_sample_time(0.0, sampling.start, sampling.fps)
        bad_packets, refused, failure, timestamp = 0, 0, None, sampling.start
        for decoded in _decode_tolerantly(container, stream):
            if isinstance(decoded, Exception) and _refused_size(decoded):
                refused += 1  # FFmpeg refused to allocate it: nothing was decoded
                continue
            if isinstance(decoded, Exception):
                bad_packets, failure = bad_packets + 1, decoded
                if bad_packets > MAX_BAD_PACKETS:
                    break
                continue
            time = _seconds(decoded.pts, start_pts, decoded.time_base)
            if time is None:  # no timestamp: place it one period after the previous frame
                time = timestamp + 1.0 / rate
            if time < sampling.start - EPSILON:
                continue
            if decoded.width * decoded.height > max_pixels:  # within FFmpeg's slack, above ours
                refused += 1  # (not indexed, as in read_video)
                continue
            timestamp, current = time, index
            index += 1
            if sampling.end is not None and timestamp >= sampling.end - EPSILON:
                return
            if sampling.fps is not None:
                if timestamp < next_time - EPSILON:
                    continue
                next_time += 1.0 / sampling.fps
                if next_time <= timestamp:
                    next_time = timestamp + 1.0 / sampling.fps
            elif current % sampling.every:
                continue
            yield Frame(name, current, _rotate(decoded.to_ndarray(format="rgb24"), _rotation(decoded)), timestamp)
        message = None
        promised = int(stream.frames or 0)
        if refused:
            message = (f"{refused} frame(s) above the limit of {max_pixels / 1e6:g} megapixels (or of an invalid "
                       "size) not decoded (decompression-bomb guard; raise max_pixels, or --max-pixels, to allow them)")
        elif bad_packets > MAX_BAD_PACKETS:
            message = f"decoding stopped after frame {index - 1} ({_reason(failure)})"
        elif last and promised and index < TRUNCATION_SHARE * promised:
            message = f"decoding stopped after frame {index - 1} of the {promised} the header announces (truncated file?)"
        elif bad_packets:
            message = f"{bad_packets} corrupt packet(s) skipped ({_reason(failure)})"
        if message:
            yield Frame(name, index, None, timestamp, f"{name}: {message}")
