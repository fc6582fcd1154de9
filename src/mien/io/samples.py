"""The pixels of a dataset sample (the records :mod:`mien.datasets` reads), decoded the way the analyzer
decodes its inputs. The dataset readers only list files and labels; evaluation and training read the images
through here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mien.io.images import read_image


def read_video_frame(path: str | Path, index: int) -> np.ndarray:
    """Frame ``index`` (0-based) of the video ``path`` as RGB uint8 (H, W, 3). It decodes from the start of
    the video: extract the frames first when many are needed."""
    from mien.video.reader import read_video

    for frame in read_video(path, after_frame=index - 1):
        if frame.error:
            raise ValueError(f"{path}: cannot read frame {index} ({frame.error})")
        return frame.image
    raise ValueError(f"{path}: has no frame {index}")


def read_sample(sample) -> np.ndarray:
    """A dataset sample's image as RGB uint8 (H, W, 3).

    - an image stored inside a table (``sample.pixels``, a loader of a gray (H, W) array: FER2013's CSV) is
      repeated into 3 channels;
    - a video frame (``sample.frame_index`` set: DISFA read from its videos) is decoded with
      :func:`read_video_frame`;
    - otherwise the image file ``sample.source`` is decoded with :func:`mien.io.images.read_image`.
    """
    pixels = getattr(sample, "pixels", None)
    if pixels is not None:
        gray = pixels()
        return np.repeat(gray[..., None], 3, axis=2)
    index = getattr(sample, "frame_index", None)
    if index is not None:
        return read_video_frame(sample.source, index)
    return read_image(sample.source)
