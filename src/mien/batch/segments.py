"""Reading one time segment of a video: :func:`mien.video.reader.read_video` with ``seek=True``.

Segment 0 is read from the start; a later segment seeks to the key frame before its start and decodes from
there, with ``Frame.index`` still the frame's position in the whole video (the frames before the start
are counted from the demuxed packets, which costs reading bytes but no decoding). Each segment reads the
packets before it again, so a long video cut into many segments reads its start many times (quadratic in
the number of segments; not yet measured on hour-long videos: counting once at planning time is the
planned fix). ``max_pixels`` bounds every frame as in ``read_video``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from mien.io.images import DEFAULT_MAX_PIXELS, Frame
from mien.video.reader import EPSILON, Sampling, first_sample_time, read_video  # noqa: F401 (re-exported)


def read_segment(path: str | Path, sampling: Sampling, name: str | None = None,
                 last: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Frame]:
    """Frames of ``path`` in ``[sampling.start, sampling.end)`` chosen by ``sampling``, indexed and timed
    as a single :func:`read_video` pass would (its fps grid starting at 0). ``last``: this segment reaches
    the end of the video, so a truncated file is reported here (segment 0 always reports it)."""
    return read_video(path, sampling, name, max_pixels=max_pixels, seek=True, grid_origin=0.0,
                      last=last or sampling.start <= 0)
