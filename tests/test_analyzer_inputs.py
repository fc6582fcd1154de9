"""Analyzer inputs end to end on real photos: arrays, PIL images, bytes, folders, globs, odd and bad inputs."""

import numpy as np
import pytest
from PIL import Image

from mien.detect.boxes import iou_matrix


def faces_in(analyzer, path):
    result = analyzer.analyze(str(path))
    assert len(result.frames) == 1 and result.errors == []
    return result


@pytest.mark.parametrize("name", ["BWPictureHuman.jpg", "Image_with_alpha.png"])
def test_grayscale_and_alpha_photos_work(analyzer, pyfeat_media, name):
    assert len(faces_in(analyzer, pyfeat_media / name)) >= 1


def test_bad_inputs_become_error_rows_and_the_batch_goes_on(analyzer, bad_inputs, one_pixel_png, pyfeat_media):
    inputs = [bad_inputs["truncated"], bad_inputs["text"], pyfeat_media / "single_face.jpg", bad_inputs["empty"],
              bad_inputs["bomb"], one_pixel_png]
    rows = list(analyzer.analyze([str(p) for p in inputs]).to_records())
    by_input = {}
    for row in rows:
        by_input.setdefault(row["input"], []).append(row)
    assert len(by_input) == len(inputs)
    for kind in ("truncated", "text", "empty", "bomb"):
        (row,) = by_input[str(bad_inputs[kind])]
        assert row["success"] == 0 and str(bad_inputs[kind]) in row["error"]
    assert by_input[str(pyfeat_media / "single_face.jpg")][0]["success"] == 1
    (tiny,) = by_input[str(one_pixel_png)]
    assert tiny["success"] == 0 and tiny["error"] == "" and tiny["image_width"] == 1


def test_arrays_pil_images_bytes_and_lists(analyzer, pyfeat_media):
    path = pyfeat_media / "0-f15-hao-ph.jpg"
    pil = Image.open(path)
    array = np.asarray(pil.convert("RGB"))
    from_array = analyzer.analyze(array)
    from_pil = analyzer.analyze(pil)
    from_bytes = analyzer.analyze(path.read_bytes())
    assert from_array.frames.inputs == ["<array>"] and from_bytes.frames.inputs == ["<bytes>"]
    for other in (from_pil, from_bytes):
        np.testing.assert_allclose(other.expression_probs, from_array.expression_probs, atol=1e-5)
    batch = analyzer.analyze([array, array[..., 0]])  # colour and grayscale
    assert batch.frames.inputs == ["<array:0>", "<array:1>"] and len(batch) == 2


def test_large_image_is_downscaled_for_detection_but_reported_in_original_pixels(analyzer, pyfeat_media):
    from mien.io.images import read_image

    image = read_image(pyfeat_media / "single_face.jpg")
    big = np.kron(image, np.ones((4, 4, 1), np.uint8))  # 4x larger, same content
    small = analyzer.analyze(image)
    big = analyzer.analyze(big)
    eye_distance = small.face_size[0]
    # landmarks agree within 5% of the eye distance; the box (a fuzzier notion) overlaps strongly
    np.testing.assert_allclose(big.landmarks[0] / 4, small.landmarks[0], atol=0.05 * eye_distance)
    assert iou_matrix(big.boxes[:1] / 4, small.boxes[:1])[0, 0] > 0.85


def test_folders_globs_and_overlays_work_from_python_too(analyzer, tmp_path, pyfeat_media):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("single_face.jpg", "multi_face.jpg"):
        (folder / name).write_bytes((pyfeat_media / name).read_bytes())
    from mien.result import Result
    from mien.workflows.overlays import OverlayWriter

    streamed = list(analyzer.stream(folder, keep_images=True))  # the frames to draw overlays from
    writer = OverlayWriter(tmp_path / "overlay", [frames[0].source for _, frames in streamed])
    for result, frames in streamed:
        writer.write(result, frames)
    from_folder = Result.merge([result for result, _ in streamed])
    from_glob = analyzer.analyze(str(folder / "*.jpg"))
    assert from_folder.frames.inputs == from_glob.frames.inputs == [str(folder / "multi_face.jpg"), str(folder / "single_face.jpg")]
    assert sorted(p.name for p in (tmp_path / "overlay").iterdir()) == ["multi_face.overlay.jpg", "single_face.overlay.jpg"]


def test_integer_arrays_and_truncated_pil_images(analyzer, bad_inputs, pyfeat_media):
    from mien.io.images import read_image

    as_int64 = read_image(pyfeat_media / "single_face.jpg").astype(np.int64)
    assert len(analyzer.analyze(as_int64)) == 1  # not darkened to nothing
    truncated = Image.open(bad_inputs["truncated"])  # lazily opened: fails only when decoded
    result = analyzer.analyze(truncated)
    assert len(result) == 0 and "truncated" in result.errors[0]


def test_a_pattern_matching_nothing_and_a_nul_name_are_rows_not_silence(analyzer, pyfeat_media, tmp_path):
    pattern = str(tmp_path / "*.xyz")
    result = analyzer.analyze([str(pyfeat_media / "single_face.jpg"), "bad\0.jpg", pattern])
    errors = dict(zip(result.to_pandas()["input"], result.to_pandas()["error"]))
    assert errors[pattern] == f"{pattern}: no file matches this pattern"
    assert errors["bad\0.jpg"].endswith("the name holds a NUL byte, which no file name can")
    assert len(result) == 1  # the photo's face
