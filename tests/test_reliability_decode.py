"""Reliability probes for decoding, model files and checkpoints: hostile or huge inputs made at test time.

Memory is measured in a child process (its ``ru_maxrss`` high-water mark before and after the decode), so
the bound holds for the real allocator and not only for numpy's bookkeeping.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mien.io.images import ImageError, iter_frames, read_image
from mien.schema import EXPRESSIONS

from conftest import png_claiming

DECODE_BYTES_PER_PIXEL = 10  # README "Inputs and errors": at most about 7 bytes per pixel, plus a constant

CHILD_PEAK = """
import json, resource, sys
import av
from mien.io.images import read_image
mode, path = sys.argv[1], sys.argv[2]
if mode == "analyze":
    from mien import Analyzer
    analyzer = Analyzer(threads=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "analyze":
    rows = len(analyzer.analyze(path))
elif mode == "video":
    from mien.video.reader import read_video
    rows = len(list(read_video(path, max_pixels=1_000_000)))
else:
    rows = read_image(path).shape[0]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "rows": rows}))
"""


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


def peak_growth_bytes(mode: str, path: Path) -> int:
    """How much the child's peak RSS grew while it decoded (or analysed) ``path``."""
    reply = subprocess.run([sys.executable, "-c", CHILD_PEAK, mode, str(path)], capture_output=True, text=True,
                           timeout=120)
    assert reply.returncode == 0, reply.stderr
    measured = json.loads(reply.stdout.strip().splitlines()[-1])
    return (measured["after_kb"] - measured["before_kb"]) * 1024


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


# --------------------------------------------------------------------------- videos and the pixel limit
def png_frames_video(path: Path, sizes: list[tuple[int, int]], declared: tuple[int, int] | None = None) -> Path:
    """A MOV whose frames are PNG images of ``sizes`` (width, height): each frame may have its own size, and
    the header declares ``declared`` (default: the first frame's size)."""
    import io
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=10)
        stream.width, stream.height = declared or sizes[0]
        stream.pix_fmt = "rgb24"
        stream.time_base = Fraction(1, 10)
        for index, (width, height) in enumerate(sizes):
            encoded = io.BytesIO()
            Image.fromarray(np.full((height, width, 3), 40 * index % 256, np.uint8)).save(encoded, "PNG", compress_level=1)
            packet = av.Packet(encoded.getvalue())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 10)
            packet.is_keyframe = True
            container.mux(packet)
    return path


def test_a_video_declared_above_the_limit_is_refused_before_decoding(tmp_path):
    from mien.video.reader import VideoTooLarge, check_video, probe, read_video

    path = png_frames_video(tmp_path / "large.mov", [(400, 300)] * 3)
    for max_pixels, declared in ((100_000, "400x300 = 0 megapixels, above"), (50_000, "above")):
        frames = list(read_video(path, max_pixels=max_pixels))
        assert len(frames) == 1 and frames[0].image is None
        assert str(path) in frames[0].error and declared in frames[0].error
        assert f"the limit of {max_pixels / 1e6:g} megapixels" in frames[0].error
        with pytest.raises(VideoTooLarge, match="above the limit"):
            check_video(path, max_pixels)
        with pytest.raises(VideoTooLarge):
            probe(path, max_pixels)
    assert [f.image.shape for f in read_video(path, max_pixels=120_000)] == [(300, 400, 3)] * 3


def test_frames_larger_than_the_header_says_are_skipped_and_reported(tmp_path):
    from mien.video.reader import read_video

    sizes = [(100, 80), (100, 80), (400, 300), (100, 80), (800, 600), (100, 80)]  # 400x300: decoded, refused
    path = png_frames_video(tmp_path / "growing.mov", sizes)  # by mien; 800x600: refused by FFmpeg itself
    frames = list(read_video(path, max_pixels=100_000))
    decoded = [f.image.shape for f in frames[:-1]]  # (a frame beside a refused one may be lost with it)
    assert len(decoded) >= 3 and set(decoded) == {(80, 100, 3)}
    assert frames[-1].image is None and "2 frame(s) above the limit of 0.1 megapixels" in frames[-1].error


def test_video_frames_above_the_limit_are_never_allocated(tmp_path):
    path = png_frames_video(tmp_path / "bomb.mov", [(4000, 4000)] * 4)  # 48 MB per decoded frame
    growth = peak_growth_bytes("video", path)
    assert growth < 16_000_000, f"peak RSS grew by {growth / 1e6:.0f} MB"


def test_cli_video_honours_max_pixels(tmp_path):
    from mien.cli import main

    path = png_frames_video(tmp_path / "clip.mov", [(200, 100)] * 3)
    out = tmp_path / "rows.jsonl"
    assert main(["video", str(path), "-o", str(out), "--max-pixels", "10000", "--threads", "1", "-q"]) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["success"] == 0
    assert "200x100" in rows[0]["error"] and "above the limit of 0.01 megapixels" in rows[0]["error"]


def test_batch_segments_honour_max_pixels(tmp_path):
    """Every segment, the first (read by read_video) and later ones (seeking), checks the declared size
    before decoding and each decoded frame after."""
    from mien.batch.segments import read_segment
    from mien.video.reader import Sampling

    path = png_frames_video(tmp_path / "clip.mov", [(200, 100)] * 30)  # 3 s at 10 fps
    for sampling in (Sampling(end=1.0), Sampling(start=1.0, end=2.0), Sampling(start=2.0)):
        frames = list(read_segment(path, sampling, max_pixels=10_000, last=sampling.end is None))
        assert len(frames) == 1 and frames[0].image is None, sampling
        assert "200x100" in frames[0].error and "above the limit of 0.01 megapixels" in frames[0].error
        assert len(list(read_segment(path, sampling, max_pixels=20_000))) == 10
    # frames larger than the header says, after a seek: skipped and counted
    sizes = [(100, 80)] * 12 + [(400, 300), (100, 80), (100, 80)]
    growing = png_frames_video(tmp_path / "growing.mov", sizes)
    frames = list(read_segment(growing, Sampling(start=1.0), max_pixels=100_000))
    assert {f.image.shape for f in frames[:-1]} == {(80, 100, 3)} and frames[0].index == 10
    assert frames[-1].image is None and "1 frame(s) above the limit of 0.1 megapixels" in frames[-1].error


def test_cli_batch_honours_max_pixels(tmp_path, capsys):
    import pandas as pd

    from mien.batch import read_batch
    from mien.cli import main

    folder = tmp_path / "corpus"
    folder.mkdir()
    path = png_frames_video(folder / "clip.mov", [(200, 100)] * 30)
    output = tmp_path / "out"
    code = main(["batch", str(folder), "--output", str(output), "--max-pixels", "10000", "--segment-seconds", "1",
                 "--overlap", "0.5", "--num-workers", "1", "--threads-per-worker", "1", "-q"])
    assert code == 1, capsys.readouterr().err
    status = pd.read_csv(output / "manifest.csv", keep_default_na=False).set_index("input")
    assert status.loc[str(path), "status"] == "failed"
    assert "200x100" in status.loc[str(path), "error"] and "0.01 megapixels" in status.loc[str(path), "error"]
    rows = read_batch(output)
    assert len(rows) == 1 and rows["success"].tolist() == [0] and "above the limit" in rows["error"][0]


# --------------------------------------------------------------------------- checkpoints never run code
class RunsCode:
    """Pickles to a call of ``exec``: loading it with plain ``pickle`` writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.fixture()
def evil_checkpoint(tmp_path) -> tuple[Path, Path]:
    import torch
    marker, path = tmp_path / "code_ran", tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "config": RunsCode(marker), "state": {"epoch": 99}}, path)
    return path, marker


@pytest.mark.train
def test_a_checkpoint_that_would_run_code_is_refused_by_export(evil_checkpoint, tmp_path, capsys):
    from mien.cli import main
    from mien.train.checkpoint import CheckpointError, load_checkpoint

    path, marker = evil_checkpoint
    assert main(["export", str(path), "--out", str(tmp_path / "out.onnx")]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "refused" in error and "weights_only=True" in error
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists() and not (tmp_path / "out.onnx").exists()


@pytest.mark.train
def test_init_resume_and_cross_validation_refuse_a_checkpoint_that_would_run_code(evil_checkpoint, tmp_path,
                                                                                 datasets):
    from mien.train.checkpoint import CheckpointError
    from mien.train.crossval import cross_validate
    from mien.cli.train import expression_config
    from mien.cli.train import train_expression as train_main

    path, marker = evil_checkpoint
    common = ["--root", str(datasets / "ferplus"), "--limit", "16", "--batch-size", "16", "--size", "48",
              "--epochs", "1", "--threads", "1", "--backbone", "mobilenetv2_small"]
    with pytest.raises(CheckpointError, match="refused"):
        train_main([*common, "--out", str(tmp_path / "init"), "--init", str(path)])
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "last.pt").write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="refused"):
        train_main([*common, "--out", str(resumed), "--resume"])
    folds = tmp_path / "cv"
    (folds / "fold0").mkdir(parents=True)
    (folds / "fold0" / "last.pt").write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="refused"):
        cross_validate(expression_config([*common, "--out", str(folds), "--cv", "2"]))
    assert not marker.exists()


@pytest.mark.train
def test_checkpoints_of_tensors_and_plain_values_still_load(tmp_path):
    import torch
    from mien.train.checkpoint import load_checkpoint

    saved = {"model": {"w": torch.arange(3.0)}, "torch_rng": torch.get_rng_state(),
             "config": {"size": 48, "template": [[0.1, 0.2]], "init": None, "selected_on_validation": False}}
    torch.save(saved, tmp_path / "plain.pt")
    loaded = load_checkpoint(tmp_path / "plain.pt")
    assert loaded["config"] == saved["config"] and torch.equal(loaded["model"]["w"], saved["model"]["w"])


# --------------------------------------------------------------------------- model files
EXPRESSION_METADATA = {"mien.task": "expression", "mien.crop_size": "8", "mien.input": "gray",
                       "mien.labels": json.dumps(list(EXPRESSIONS)),
                       "mien.template": json.dumps([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])}


def expression_onnx(path: Path, metadata: dict[str, str] | None = None, loop: int = 0,
                    external: str | None = None) -> Path:
    """A tiny linear expression model (gray 8x8 -> 8 logits) with ``metadata``; ``loop``: its logits pass
    through a Loop of that many iterations; ``external``: its weights are said to lie in that file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.full((64, 8), 0.01, np.float32), "w")
    if external:
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external), ("offset", "0"), ("length", str(64 * 8 * 4))):
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
    nodes = [helper.make_node("Flatten", ["face"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["logits" if not loop else "scores"])]
    initializers = [weights]
    if loop:
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["x_in"], ["x_out"])],
            "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                     helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                     helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None)],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None)])
        nodes.append(helper.make_node("Loop", ["trips", "keep_going", "scores"], ["logits"], body=body))
        initializers += [numpy_helper.from_array(np.array(loop, np.int64), "trips"),
                         numpy_helper.from_array(np.array(True), "keep_going")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 8])],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {**EXPRESSION_METADATA, **(metadata or {})}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def test_a_tiny_valid_expression_model_loads_and_runs(tmp_path):
    from mien.models.expression import ExpressionModel

    model = ExpressionModel(expression_onnx(tmp_path / "fine.onnx"), threads=1)
    assert model.predict(np.full((2, 8, 8, 3), 100, np.uint8)).shape == (2, 8)


@pytest.mark.parametrize("change,message", [
    ({"mien.crop_size": "60000"}, "mien.crop_size=60000 is outside 8..512"),
    ({"mien.crop_size": "4"}, "outside 8..512"),
    ({"mien.template": json.dumps([[0.3, 0.4], [0.7, 0.4], [0.5, 1e30], [0.35, 0.8], [0.65, 0.8]])}, "template"),
    ({"mien.temperature": "0"}, "mien.temperature=0 is outside"),
    ({"mien.temperature": "nan"}, "mien.temperature=nan is outside"),
    ({"mien.uncertain_below": "7"}, "mien.uncertain_below=7 is outside 0..1"),
])
def test_model_metadata_out_of_range_is_refused_naming_the_file(tmp_path, change, message):
    from mien.models.expression import ExpressionModel, ModelFormatError

    path = expression_onnx(tmp_path / "ranged.onnx", change)
    with pytest.raises(ModelFormatError, match=message) as refused:
        ExpressionModel(path, threads=1)
    assert str(path) in str(refused.value)


def test_a_model_with_a_loop_is_refused_before_it_can_run(tmp_path):
    from mien.models.expression import ExpressionModel
    from mien.models.runtime import ModelError

    path = expression_onnx(tmp_path / "loop.onnx", loop=10**12)
    with pytest.raises(ModelError, match=r"control-flow operators \(Loop\)") as refused:
        ExpressionModel(path, threads=1)
    assert str(path) in str(refused.value)


def test_a_model_onnxruntime_cannot_load_is_a_clear_error_naming_the_file(tmp_path, pyfeat_media, capsys):
    from mien.cli import main
    from mien.models.expression import ExpressionModel
    from mien.models.runtime import ModelError

    (tmp_path / "models").mkdir()
    path = expression_onnx(tmp_path / "models" / "outside.onnx", external="../weights.bin")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 64 * 8 * 4)
    with pytest.raises(ModelError, match="onnxruntime cannot load this model") as refused:
        ExpressionModel(path, threads=1)
    assert str(path) in str(refused.value)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x0a\xff\xff\xff\xff\x0f" + b"not onnx")
    with pytest.raises(ModelError, match="garbage.onnx"):
        ExpressionModel(garbage, threads=1)
    code = main(["analyze", str(pyfeat_media / "single_face.jpg"), "--expression", str(path), "-q",
                 "-o", str(tmp_path / "rows.csv")])
    error = capsys.readouterr().err
    assert code == 2 and str(path) in error and "internal error" not in error and "Traceback" not in error
