"""One frame-source contract (mien.io.frames) for images, video files and live sources."""

import numpy as np
import pytest

from mien.io.frames import Frame, FrameSource, contract_problems
from mien.io.images import iter_frames
from mien.video.reader import Sampling, read_video
from mien.video.sources import camera_frames, live_frames


def test_image_sources_keep_the_contract(tmp_path):
    from PIL import Image

    path = tmp_path / "pages.tif"
    pages = [Image.new("RGB", (8, 6), (i * 60, 0, 0)) for i in range(3)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    frames = list(iter_frames(str(path), pages="all"))
    assert [f.index for f in frames] == [0, 1, 2] and contract_problems(frames) == []
    (broken,) = iter_frames(str(tmp_path / "missing.jpg"))
    assert broken.index == 0 and broken.image is None and "file not found" in broken.error
    assert contract_problems([broken]) == []


def test_video_and_live_file_sources_keep_the_contract(pyfeat_media):
    path = pyfeat_media / "single_face.mp4"
    assert isinstance(read_video(path), FrameSource)
    assert contract_problems(read_video(path, Sampling(every=5))) == []
    assert contract_problems(live_frames(str(path), max_frames=4)) == []
    (missing,) = read_video("nope.mp4")
    assert missing.image is None and missing.index == 0 and contract_problems([missing]) == []


def test_seeking_reads_what_a_full_pass_reads(pyfeat_media):
    path = pyfeat_media / "single_face.mp4"
    full = [(f.index, round(f.timestamp, 6)) for f in read_video(path, Sampling(fps=5.0))]
    part = [(f.index, round(f.timestamp, 6))
            for f in read_video(path, Sampling(start=1.0, fps=5.0), seek=True, grid_origin=0.0)]
    assert part and part == [item for item in full if item[1] >= 1.0 - 1e-6]


class FakeCapture:
    """An OpenCV-style capture of ``count`` BGR frames whose blue channel is the frame number."""

    def __init__(self, count, opened=True):
        self.left, self.opened, self.number = count, opened, 0

    def isOpened(self):
        return self.opened

    def read(self):
        if not self.left:
            return False, None
        self.left -= 1
        image = np.zeros((4, 6, 3), np.uint8)
        image[..., 0] = self.number  # blue, in OpenCV's BGR order
        self.number += 1
        return True, image

    def release(self):
        self.opened = False


def test_camera_frames_are_rgb_newest_first_and_keep_the_contract():
    captures = iter([FakeCapture(5), FakeCapture(0, opened=False)])
    frames = list(camera_frames(lambda: next(captures), "cam", retries=0, retry_wait=0.0))
    assert frames and contract_problems(frames) == []
    assert all(f.source == "cam" for f in frames)
    for frame in frames:  # blue came first in BGR: last in RGB
        assert (frame.image[..., 2] == frame.index).all() and (frame.image[..., 0] == 0).all()


def test_a_camera_that_does_not_open_yields_one_error_frame():
    (frame,) = camera_frames(lambda: FakeCapture(3, opened=False), "rtsp://x")
    assert frame == Frame("rtsp://x", 0, None, 0.0, "rtsp://x: cannot open camera or stream")


@pytest.mark.parametrize("bad", [
    [Frame("a", 1, None, 0.0, "")],
    [Frame("a", 0, np.zeros((2, 2, 3), np.uint8)), Frame("a", 0, np.zeros((2, 2, 3), np.uint8))],
    [Frame("a", 0, np.zeros((2, 2), np.uint8))],
    [Frame("a", 0, np.zeros((2, 2, 3), np.uint8)), Frame("b", 1, np.zeros((2, 2, 3), np.uint8))],
])
def test_the_contract_check_finds_broken_sources(bad):
    assert contract_problems(bad)


def test_a_missing_video_file_as_a_live_source_is_named_not_called_a_camera(tmp_path):
    missing = str(tmp_path / "nope.mp4")
    assert list(live_frames(missing)) == [Frame(missing, 0, None, 0.0, f"{missing}: file not found")]
