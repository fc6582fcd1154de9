"""Reliability probes for image decoding (mien.io.images): memory per pixel, strip-wise conversion and EXIF
orientation, Pillow's limit against max_pixels, hostile PIL inputs, an AVIF in a scanned folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mien.io.images import ImageError, iter_frames, read_image

from builders import peak_growth_bytes
from conftest import png_claiming

DECODE_BYTES_PER_PIXEL = 10  # README "Inputs and errors": at most about 7 bytes per pixel, plus a constant


@pytest.fixture(scope="module")
def large_rgba_png(tmp_path_factory) -> tuple[Path, int]:
    """A 4000x4000 RGBA PNG (half-transparent, a sparse pattern: about 0.3 MB on disk)."""
    height = width = 4000
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., 3] = 128
    pixels[::7, ::5] = 200
    path = tmp_path_factory.mktemp("large") / "rgba_16mp.png"
    Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
    return path, height * width


@pytest.mark.parametrize("mode", ["decode", "analyze"])
def test_rgba_decode_memory_is_a_few_bytes_per_pixel(large_rgba_png, mode):
    path, pixels = large_rgba_png
    growth = peak_growth_bytes(mode, path)
    assert growth < DECODE_BYTES_PER_PIXEL * pixels, f"{growth / pixels:.1f} bytes per pixel"


def test_strip_conversion_matches_a_whole_image_blend(monkeypatch):
    import mien.io.images as images

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (37, 23, 4), dtype=np.uint8)
    colour, alpha = rgba[..., :3].astype(np.float32), rgba[..., 3:].astype(np.float32) / 255.0
    whole = np.rint(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    monkeypatch.setattr(images, "STRIP_PIXELS", 50)  # two rows a strip: many seams
    assert np.array_equal(images.to_rgb_uint8(rgba), whole)
    assert np.array_equal(read_image(_png_bytes(Image.fromarray(rgba, "RGBA"))), whole)
    floats = rng.random((37, 23), dtype=np.float32)
    floats[0, 0] = np.nan
    expected = np.clip(np.nan_to_num(floats, nan=0.0) * 255.0, 0, 255).round().astype(np.uint8)
    assert np.array_equal(images.to_rgb_uint8(floats), np.repeat(expected[..., None], 3, axis=2))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_written_in_strips_equals_pillows_transpose(monkeypatch, orientation):
    from PIL import ImageOps

    import mien.io.images as images

    monkeypatch.setattr(images, "STRIP_PIXELS", 40)
    pixels = np.random.default_rng(orientation).integers(0, 256, (19, 11, 4), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _png_bytes(Image.fromarray(pixels, "RGBA"), exif=exif)
    shown = ImageOps.exif_transpose(Image.open(_stream(data))).convert("RGBA")
    assert np.array_equal(read_image(data), images.to_rgb_uint8(np.asarray(shown)))


def _png_bytes(image: Image.Image, **options) -> bytes:
    stream = _stream(b"")
    image.save(stream, "PNG", **options)
    return stream.getvalue()


def _stream(data: bytes):
    import io

    return io.BytesIO(data)


# --------------------------------------------------------------------------- pixel limits
def test_pil_image_inputs_are_refused_from_their_size_before_decoding(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((1000, 2000, 3), np.uint8)).save(path)
    image = Image.open(path)  # lazy: nothing decoded yet
    frame = next(iter_frames(image, max_pixels=1_000_000, name="wide.png"))
    assert frame.image is None
    assert "wide.png" in frame.error and "2000x1000" in frame.error and "limit of 1 megapixels" in frame.error
    assert image.tile, "the refused image was decoded anyway"
    assert next(iter_frames(image, max_pixels=2_000_000)).image.shape == (1000, 2000, 3)


def test_max_pixels_above_pillows_own_limit_is_the_one_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2000 pixels
    data = _png_bytes(Image.fromarray(np.full((100, 100, 3), 7, np.uint8)))
    assert read_image(data, max_pixels=20_000).shape == (100, 100, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000, "Pillow's limit was left changed"
    with pytest.raises(ImageError, match="above the limit of 0.005 megapixels"):
        read_image(data, max_pixels=5_000)


def test_pillows_limit_is_raised_only_while_decodes_need_it_and_then_restored(monkeypatch):
    from mien.io.images import PILLOW_LIMIT

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with PILLOW_LIMIT.allowing(1500):  # within Pillow's own 2x: nothing to change
        assert Image.MAX_IMAGE_PIXELS == 1000
    with PILLOW_LIMIT.allowing(50_000):
        assert Image.MAX_IMAGE_PIXELS == 50_000
        with PILLOW_LIMIT.allowing(90_000), PILLOW_LIMIT.allowing(1500):  # overlapping decodes: the largest
            assert Image.MAX_IMAGE_PIXELS == 90_000
        assert Image.MAX_IMAGE_PIXELS == 50_000
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_an_image_far_above_the_limit_names_mien_limit_and_how_to_raise_it():
    with pytest.raises(ImageError) as refused:
        read_image(png_claiming(15000, 15000), max_pixels=100_000_000)  # 225 MP: Pillow's guard fires first
    message = str(refused.value)
    assert "225 megapixels" in message and "above the limit of 100 megapixels" in message
    assert "raise max_pixels" in message and "both limits" not in message


# --------------------------------------------------------------------------- AVIF in scanned folders (16)
def test_an_avif_inside_a_scanned_folder_is_analysed_like_one_named_explicitly(tmp_path, pyfeat_media, analyzer):
    from mien.io.sources import expand_inputs

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    avif = folder / "sub" / "face.avif"
    Image.open(pyfeat_media / "single_face.jpg").save(avif, "AVIF", quality=90)
    (folder / "face.heic").write_bytes(b"not decodable here")  # HEIC stays out of folder scans
    assert expand_inputs([folder]) == [str(avif)]
    scanned = analyzer.analyze(folder).to_pandas()
    named = analyzer.analyze(str(avif)).to_pandas()
    assert len(scanned) == 1 and scanned["success"].tolist() == [1] and scanned["input"].tolist() == [str(avif)]
    columns = [c for c in named if c.startswith("expr_") or c.startswith("face_")]
    same = np.allclose(scanned[columns].to_numpy(float), named[columns].to_numpy(float), equal_nan=True)
    assert same and scanned["expression"].tolist() == named["expression"].tolist()
