"""Decoding every input kind a user sends, and clear errors for the ones we cannot read."""

import numpy as np
import pytest
from PIL import Image

from mien.io.images import ImageError, iter_frames, read_image, read_image_pages, to_rgb_uint8
from mien.io.sources import expand_inputs


def test_grayscale_rgba_and_16_bit_arrays_become_rgb_uint8():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert to_rgb_uint8(gray).shape == (3, 4, 3)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent black -> white
    assert (to_rgb_uint8(rgba) == 255).all()
    sixteen = np.full((2, 2), 65535, np.uint16)
    assert (to_rgb_uint8(sixteen) == 255).all()
    floats = np.full((2, 2, 3), 0.5, np.float32)
    assert (to_rgb_uint8(floats) == 128).all()


def test_bad_array_shapes_are_named():
    with pytest.raises(ImageError, match="unsupported array shape"):
        to_rgb_uint8(np.zeros((2, 2, 5)), "<mine>")
    with pytest.raises(ImageError, match="empty image"):
        to_rgb_uint8(np.zeros((0, 3, 3)))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_common_formats_decode(tmp_path, suffix):
    array = np.zeros((20, 30, 3), np.uint8)
    array[:, :15] = (200, 30, 10)
    path = tmp_path / f"x{suffix}"
    Image.fromarray(array).save(path)
    decoded = read_image(path)
    assert decoded.shape == (20, 30, 3) and decoded.dtype == np.uint8
    assert abs(int(decoded[10, 5, 0]) - 200) < 12


def test_16_bit_png(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(path)
    decoded = read_image(path)
    assert decoded.shape == (8, 8, 3) and abs(int(decoded[0, 0, 0]) - round(40000 / 257)) <= 1


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((10, 20, 3), np.uint8)  # landscape pixels
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert read_image(path).shape == (20, 10, 3)  # shown as portrait


def test_multi_page_tiff_first_or_all(tmp_path):
    pages = [Image.fromarray(np.full((6, 6, 3), v, np.uint8)) for v in (10, 100, 250)]
    path = tmp_path / "stack.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert len(list(read_image_pages(path, "first"))) == 1
    values = [int(p[0, 0, 0]) for p in read_image_pages(path, "all")]
    assert values == [10, 100, 250]


@pytest.mark.parametrize("kind,reason", [
    ("truncated", "truncated"), ("text", "not a recognised image format"),
    ("empty", "empty file"), ("bomb", "decompression-bomb guard"),
])
def test_bad_files_give_errors_naming_the_file(bad_inputs, kind, reason):
    frames = list(iter_frames(bad_inputs[kind]))
    assert len(frames) == 1 and frames[0].image is None
    assert str(bad_inputs[kind]) in frames[0].error and reason in frames[0].error


def test_missing_file_and_unsupported_type():
    assert "file not found" in next(iter_frames("/no/such/file.jpg")).error
    assert "unsupported input type" in next(iter_frames(12345)).error


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.jpg", "a.PNG", "sub/c.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = expand_inputs([tmp_path])
    assert [p.split("/")[-1] for p in found] == ["a.PNG", "b.jpg", "c.webp"]
    assert expand_inputs([str(tmp_path / "*.jpg")]) == [str(tmp_path / "b.jpg")]
    assert expand_inputs(["missing.jpg", "missing.jpg"]) == ["missing.jpg"]


def test_already_decoded_frames_keep_their_name_index_and_time():
    """A Frame given as input (a video or camera frame the user decoded) passes through with its source,
    index and timestamp; gray pixels become RGB; unusable pixels give an error naming the source."""
    from mien.io.frames import Frame

    gray = np.full((4, 5), 7, np.uint8)
    (frame,) = iter_frames(Frame("clip.mp4", 12, gray, 0.48))
    assert (frame.source, frame.index, frame.timestamp, frame.error) == ("clip.mp4", 12, 0.48, "")
    assert frame.image.shape == (4, 5, 3) and frame.image.dtype == np.uint8 and (frame.image == 7).all()
    (bad,) = iter_frames(Frame("cam", 3, np.zeros(3), 0.1))
    assert bad.image is None and bad.error.startswith("cam:") and (bad.index, bad.timestamp) == (3, 0.1)
    (empty,) = iter_frames(Frame("cam", 4, None, 0.2))
    assert empty.image is None and "frame 4 has no image" in empty.error


def test_a_float_array_without_a_finite_value_is_named_not_read_as_black():
    with pytest.raises(ImageError, match="frame.npy: no pixel holds a finite value"):
        to_rgb_uint8(np.full((8, 8, 3), np.nan), "frame.npy")
    mixed = np.full((8, 8, 3), 0.5)
    mixed[0, 0] = np.inf  # a few bad pixels are read as black, the rest as they are
    assert to_rgb_uint8(mixed, "frame.npy")[1, 1].tolist() == [128, 128, 128]
