"""Reliability probes for the applications' outputs (issue 15): overlays that could replace inputs, names that are
not UTF-8 in analyze and batch runs, planted links at the overlay, plot and batch file names, the CSV formula
guard on the command line and in server downloads. Every input is generated here, in ``tmp_path``."""

from __future__ import annotations

import csv
import io
import json
import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mien.cli import main
from mien.config import AnalyzerConfig
from mien.io.writers import read_name


def write_jpeg(path: str | bytes | Path, value: int = 128, size: int = 64) -> None:
    """A small grey JPEG (no face: its row has success 0 and no error)."""
    ok, encoded = cv2.imencode(".jpg", np.full((size, size, 3), value, np.uint8))
    assert ok
    with open(path, "wb") as handle:
        handle.write(encoded.tobytes())


def write_video(path: Path, frames: int = 5) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90 + index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------- 1: overlays
def test_overlay_into_the_input_folder_is_refused_and_originals_are_untouched(tmp_path, monkeypatch, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, name in enumerate(("a.jpg", "b.jpg")):
        write_jpeg(photos / name, 60 + 40 * index)
    before = snapshot(photos)
    assert main(["analyze", str(photos), "-o", str(tmp_path / "r.csv"), "--overlay", str(photos), "-q"]) == 2
    assert "overlays never replace inputs" in capsys.readouterr().err
    monkeypatch.chdir(photos)
    assert main(["analyze", "a.jpg", "-o", str(tmp_path / "r.csv"), "--overlay", ".", "-q"]) == 2
    assert main(["analyze", ".", "-o", str(tmp_path / "r.csv"), "--overlay", "annotated", "-q"]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert snapshot(photos) == before  # nothing replaced, nothing added


def test_video_overlay_onto_its_input_is_refused(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    write_video(clip)
    before = clip.read_bytes()
    assert main(["video", str(clip), "-o", str(tmp_path / "r.csv"), "--overlay", str(clip), "-q"]) == 2
    assert "overlays never replace inputs" in capsys.readouterr().err
    assert main(["live", "--source", str(clip), "--overlay", str(clip), "--display", "no", "-q"]) == 2
    assert f"--overlay {clip} is the input {clip}: mien never writes over an input" in capsys.readouterr().err
    assert clip.read_bytes() == before


def test_overlay_names_always_differ_from_the_inputs(tmp_path, analyzer):
    from mien.workflows.images import run_images
    from mien.workflows.overlays import overlay_names
    from mien.workflows.video import output_stems

    names = overlay_names([str(tmp_path / "a.jpg"), str(tmp_path / "a.png"), str(tmp_path / "s" / "b.JPEG")])
    assert sorted(names.values()) == ["a.overlay.jpg", "a.png.overlay.jpg", "s/b.overlay.JPEG"]
    assert output_stems([str(tmp_path / "x" / "clip.mp4"), str(tmp_path / "y" / "clip.mp4")]) == {
        str(tmp_path / "x" / "clip.mp4"): "x/clip", str(tmp_path / "y" / "clip.mp4"): "y/clip"}
    write_jpeg(tmp_path / "a.jpg")
    original = (tmp_path / "a.jpg").read_bytes()
    run_images(analyzer, [str(tmp_path / "a.jpg")], lambda rows: None, overlay=tmp_path)  # beside it, another name
    assert (tmp_path / "a.jpg").read_bytes() == original and (tmp_path / "a.overlay.jpg").exists()


# ---------------------------------------------------------------------------------------- 4: names not UTF-8
@pytest.fixture()
def latin1_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, name in enumerate((b"a.jpg", b"b_\xff.jpg", b"c.jpg")):
        write_jpeg(os.path.join(os.fsencode(folder), name), 80 + 30 * index)
    return folder


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_a_name_that_is_not_utf8_is_one_row_and_the_run_goes_on(latin1_folder, tmp_path, suffix):
    out = tmp_path / f"r.{suffix}"
    assert main(["analyze", str(latin1_folder), "-o", str(out), "-q"]) == 0
    table = pd.read_parquet(out) if suffix == "parquet" else (
        pd.read_csv(out) if suffix == "csv" else pd.read_json(out, lines=True))
    assert table["input"].tolist() == [f"{latin1_folder}/a.jpg", f"{latin1_folder}/b_\\xff.jpg",
                                       f"{latin1_folder}/c.jpg"]
    assert os.fsencode(read_name(table["input"][1])) == os.fsencode(latin1_folder) + b"/b_\xff.jpg"  # lossless


def test_resume_knows_the_escaped_name(latin1_folder, tmp_path):
    out = tmp_path / "r.csv"
    assert main(["analyze", str(latin1_folder), "-o", str(out), "-q"]) == 0
    complete = out.read_text()
    assert main(["analyze", str(latin1_folder), "-o", str(out), "--resume", "-q"]) == 0
    assert out.read_text() == complete  # the last input redone, none repeated


def test_batch_with_a_name_that_is_not_utf8_writes_every_row_and_the_manifest(latin1_folder, tmp_path):
    from mien.batch import BatchOptions, EngineSettings, read_batch, run_batch

    output = tmp_path / "out"
    report = run_batch([latin1_folder], output, BatchOptions(chunk_size=8), EngineSettings(num_workers=1, threads=1))
    assert report.units_failed == 0 and report.count("done") == 3
    rows = read_batch(output)
    assert sorted(Path(name).name for name in rows["input"]) == ["a.jpg", "b_\\xff.jpg", "c.jpg"]
    manifest = pd.read_csv(output / "manifest.csv")
    assert manifest["status"].tolist() == ["done"] * 3
    assert sorted(Path(name).name for name in manifest["input"]) == ["a.jpg", "b_\\xff.jpg", "c.jpg"]
    rerun = run_batch([latin1_folder], output, BatchOptions(chunk_size=8), EngineSettings(num_workers=1, threads=1))
    assert rerun.units_run == 0 and rerun.count("done") == 3  # the plan and the commit log kept the name


def plant_links(target: Path, victim: Path) -> list[Path]:
    """Symbolic links to ``victim`` at the fixed temporary names older versions wrote ``target`` through."""
    links = [target.with_name(target.name + suffix) for suffix in (".part", ".part.png")]
    for link in links:
        link.symlink_to(victim)
    return links


def assert_untouched(victim: Path, target: Path, links: list[Path]) -> None:
    assert victim.read_bytes() == b"precious\n"
    assert target.is_file() and not target.is_symlink() and target.stat().st_size > 100
    assert all(link.is_symlink() for link in links)  # left as they were: neither followed nor taken
    assert not [p for p in target.parent.glob("*.part") if not p.is_symlink()]  # no temporary file left


def test_video_overlay_writer_never_follows_a_planted_link(tmp_path):
    import av

    from mien.workflows.video_writer import VideoWriter

    victim, target = tmp_path / "victim.txt", tmp_path / "clip.overlay.mp4"
    victim.write_bytes(b"precious\n")
    links = plant_links(target, victim)
    with VideoWriter(target, 10) as writer:
        for index in range(5):
            writer.write(np.full((48, 64, 3), 40 * index, np.uint8), index / 10)
    assert_untouched(victim, target, links)
    with av.open(str(target)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "failed.mp4", 10) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("a failure midway: nothing is committed, the temporary file is removed")
    assert not list(tmp_path.glob("failed.mp4*"))


def test_plot_writers_never_follow_a_planted_link(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mien.schema import EXPRESSIONS
    from mien.video.summary import TrackSummary
    from mien.workflows.plots import write_png
    from mien.workflows.plots import plot_confusion
    from mien.workflows.plots import plot_track_timelines

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    figure = Figure(figsize=(2, 2), dpi=50)
    FigureCanvasAgg(figure)
    figure.add_subplot().plot([0, 1], [1, 0])
    target = tmp_path / "au_face.png"
    links = plant_links(target, victim)
    assert write_png(figure, target) == target
    assert_untouched(victim, target, links)

    summary = TrackSummary("clip.mp4", keep_series=True)
    for frame in range(3):
        probabilities = np.full((1, len(EXPRESSIONS)), 1 / len(EXPRESSIONS), np.float32)
        summary.add(np.array([0]), frame, frame / 10, probabilities, probabilities)
    target = tmp_path / "clip_track0.png"
    links = plant_links(target, victim)
    assert plot_track_timelines(summary, tmp_path) == [target]
    assert_untouched(victim, target, links)

    target = tmp_path / "confusion.png"
    links = plant_links(target, victim)
    plot_confusion(np.eye(2, 3, dtype=int), ["a", "b"], target)
    assert_untouched(victim, target, links)


def test_batch_files_never_follow_planted_links(tmp_path):
    import pyarrow as pa

    from mien.batch.job import exclusive, write_part
    from mien.batch.manifest import write_status
    from mien.batch.plan import BatchOptions, Unit, load_or_create_plan

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    photos = tmp_path / "photos"
    photos.mkdir()
    write_jpeg(photos / "a.jpg")
    output = tmp_path / "out"
    output.mkdir()
    (output / ".lock").symlink_to(victim)
    with exclusive(output):
        load_or_create_plan(output, [photos], BatchOptions())
    for name in ("plan.json.part", "manifest.csv.part"):
        (output / name).symlink_to(victim)
    write_jpeg(photos / "b.jpg")
    plan = load_or_create_plan(output, [photos], BatchOptions())  # a new input: the plan is written again
    write_status(output / "manifest.csv", [{"input": "=a.jpg", "status": "done"}])
    unit = Unit("p", 0, "images", ("a.jpg",))
    (output / unit.part_file).parent.mkdir(parents=True)
    (output / (unit.part_file + ".part")).symlink_to(victim)
    write_part(output, unit, pa.table({"x": [1]}))
    assert victim.read_text() == "precious\n"
    assert len(plan.units) == 2 and len(json.loads((output / "plan.json").read_text())["units"]) == 2
    assert pd.read_csv(output / "manifest.csv")["input"].tolist() == ["'=a.jpg"]
    assert pd.read_parquet(output / unit.part_file)["x"].tolist() == [1]


def test_cli_csv_formula_guard_flag_and_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jpeg(tmp_path / "=1+1.jpg")
    write_jpeg(tmp_path / "-x.jpg", 30)
    assert main(["analyze", "=1+1.jpg", "./-x.jpg", "-o", "r.csv", "-q"]) == 0
    assert pd.read_csv("r.csv")["input"].tolist() == ["'=1+1.jpg", "'-x.jpg"]
    complete = Path("r.csv").read_text()
    assert main(["analyze", "=1+1.jpg", "./-x.jpg", "-o", "r.csv", "--resume", "-q"]) == 0
    assert Path("r.csv").read_text() == complete  # the guarded names are recognised: nothing repeated
    assert main(["analyze", "=1+1.jpg", "-o", "raw.csv", "--no-csv-formula-guard", "-q"]) == 0
    assert pd.read_csv("raw.csv")["input"].tolist() == ["=1+1.jpg"]


def test_server_csv_downloads_guard_formulas(tmp_path):
    from fastapi.testclient import TestClient

    from mien.serve.app import ServeConfig, create_app

    write_jpeg(tmp_path / "x.jpg")
    name = "=1+2.jpg"
    with TestClient(create_app(ServeConfig(data_dir=tmp_path / "serve", analysis=AnalyzerConfig(threads=1)))) as client:
        reply = client.post("/v1/analyze?format=csv",
                            files={"file": (name, (tmp_path / "x.jpg").read_bytes(), "image/jpeg")})
    assert reply.status_code == 200, reply.text
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[1][0] == "'" + name  # a spreadsheet shows the name instead of running it


# ---------------------------------------------------------------------------------------- 5: output files
def test_an_output_that_names_an_input_is_refused_and_the_input_kept(tmp_path, pyfeat_media, capsys):
    photo = tmp_path / "me.jpg"
    write_jpeg(photo)
    before = photo.read_bytes()
    assert main(["analyze", str(photo), "--format", "csv", "-o", str(photo), "--overwrite", "-q"]) == 2
    assert f"--output {photo} is the input {photo}: mien never writes over an input" in capsys.readouterr().err
    openface = tmp_path / "openface.csv"
    openface.write_bytes((pyfeat_media / "OpenFace_Test.csv").read_bytes())
    assert main(["convert", str(openface), "-o", str(openface), "--overwrite"]) == 2
    assert photo.read_bytes() == before and openface.read_bytes() == (pyfeat_media / "OpenFace_Test.csv").read_bytes()


def test_an_existing_output_is_kept_unless_overwrite_is_given(tmp_path, capsys):
    photo, table = tmp_path / "a.jpg", tmp_path / "mine.csv"
    write_jpeg(photo)
    table.write_text("precious\n")
    assert main(["analyze", str(photo), "-o", str(table), "-q"]) == 2
    assert "exists: mien does not replace a file unless told to; add --overwrite" in capsys.readouterr().err
    assert table.read_text() == "precious\n"
    assert main(["analyze", str(photo), "-o", str(table), "--overwrite", "-q"]) == 0
    assert table.read_text().startswith("input,")


def test_an_interrupted_overwrite_keeps_the_old_file_and_resume_continues(tmp_path, monkeypatch, capsys):
    import mien.workflows.images as images

    photos = [tmp_path / f"{k}.jpg" for k in range(3)]
    for k, photo in enumerate(photos):
        write_jpeg(photo, 50 + 50 * k)
    table = tmp_path / "rows.csv"
    table.write_text("old,complete\n")
    real_run = images.run_images

    def stopped_after_one(analyzer, paths, write_rows, overlay=None, progress=None, report=None):
        real_run(analyzer, paths[:1], write_rows, overlay, progress, report)
        raise KeyboardInterrupt

    monkeypatch.setattr(images, "run_images", stopped_after_one)
    assert main(["analyze", *map(str, photos), "-o", str(table), "--overwrite", "-q"]) == 130
    assert "the previous" in capsys.readouterr().err
    assert table.read_text() == "old,complete\n"  # the user's file is whole
    part = tmp_path / "rows.csv.part"
    assert str(photos[0]) in part.read_text()
    monkeypatch.setattr(images, "run_images", real_run)
    assert main(["analyze", *map(str, photos), "-o", str(table), "--resume", "-q"]) == 0
    done = pd.read_csv(table)
    assert sorted(done["input"]) == sorted(map(str, photos)) and not part.exists()


def test_a_second_writer_of_the_same_table_is_refused(tmp_path):
    import mien.files as files
    from mien.files import FileInUseError

    if files.fcntl is None:
        pytest.skip("no advisory locks on this platform")
    from mien.io.writers import TableWriter, prepare_resume

    target = tmp_path / "rows.csv"
    with TableWriter(target, ["input", "frame"]) as first:
        first.write([{"input": "a.jpg", "frame": 0}])
        with pytest.raises(FileInUseError, match="another mien run is writing it"):
            TableWriter(target, ["input", "frame"])
        with pytest.raises(FileInUseError):
            prepare_resume(target)  # a live run's rows are never taken over either
    assert pd.read_csv(target)["input"].tolist() == ["a.jpg"]  # the first run finished whole
    with TableWriter(target, ["input", "frame"]) as second:  # its lock ended with it
        second.write([])


def test_video_outputs_are_checked_before_any_frame_is_analysed(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    write_video(clip)
    same = tmp_path / "same.csv"
    assert main(["video", str(clip), "-o", str(same), "--summary", str(same), "-q"]) == 2
    assert "is the same file as --output" in capsys.readouterr().err
    assert main(["video", str(clip), "-o", str(tmp_path / "r.csv"), "--summary", str(tmp_path / "s.txt"), "-q"]) == 2
    assert "cannot tell the output format from '.txt'" in capsys.readouterr().err
    (tmp_path / "r_summary.csv").write_text("mine\n")  # the default summary name is the user's file
    assert main(["video", str(clip), "-o", str(tmp_path / "r.csv"), "-q"]) == 2
    assert "--summary" in capsys.readouterr().err
    assert not list(tmp_path.glob("r.csv*")) and (tmp_path / "r_summary.csv").read_text() == "mine\n"


@pytest.mark.parametrize("name,content,reason", [
    ("theirs.jsonl", b'{"a": 1}\n', "line 1 is not a row with 'input' and 'frame'"),
    ("theirs.jsonl", b"[1, 2]\n", "line 1 is not a row with 'input' and 'frame'"),
    ("rows.csv", b"input,frame\nx.jpg,abc\n", "row 1 has frame 'abc', not a whole number"),
    ("rows.csv", b"input,frame\n\xff\xfe.jpg,0\n", "not UTF-8 text"),
])
def test_resume_refuses_a_table_it_cannot_read_naming_it(tmp_path, capsys, name, content, reason):
    photo, table = tmp_path / "a.jpg", tmp_path / name
    write_jpeg(photo)
    table.write_bytes(content)
    assert main(["analyze", str(photo), "-o", str(table), "--resume", "-q"]) == 2
    assert f"{table}: {reason}" in capsys.readouterr().err
    assert table.read_bytes() == content


def test_video_overwrite_replaces_the_summary_only_when_the_run_completes(tmp_path, monkeypatch, capsys):
    import mien.workflows.video as video

    clip = tmp_path / "clip.mp4"
    write_video(clip)
    rows, summary = tmp_path / "r.csv", tmp_path / "r_summary.csv"
    rows.write_text("old rows\n")
    summary.write_text("old summary\n")
    assert main(["video", str(clip), "-o", str(rows), "--resume", "--overwrite", "-q"]) == 2
    assert "give one of them" in capsys.readouterr().err
    real_run = video.run_videos

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(video, "run_videos", interrupted)
    assert main(["video", str(clip), "-o", str(rows), "--overwrite", "-q"]) == 130
    assert rows.read_text() == "old rows\n" and summary.read_text() == "old summary\n"
    monkeypatch.setattr(video, "run_videos", real_run)
    assert main(["video", str(clip), "-o", str(rows), "--overwrite", "-q"]) == 0
    assert rows.read_text().startswith("input,") and summary.read_text().startswith("input,")
    other = tmp_path / "fresh.csv"  # --resume with nothing to resume never replaces a summary that is there
    (tmp_path / "fresh_summary.csv").write_text("mine\n")
    assert main(["video", str(clip), "-o", str(other), "--resume", "-q"]) == 2
    assert (tmp_path / "fresh_summary.csv").read_text() == "mine\n"
