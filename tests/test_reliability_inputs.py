"""Reliability probes for inputs and outputs (issue 15): overlays that could replace inputs, file names
that are not UTF-8 or hold line breaks, unreadable and unlistable folders, broken links, very deep trees,
planted symbolic links at temporary-file names, out-of-range options, spreadsheet formulas in names and
workers left behind by a killed driver. Every input is generated here, in ``tmp_path``."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mien.cli import main
from mien.config import AnalyzerConfig
from mien.io.sources import expand_inputs
from mien.io.writers import RowFormatter, TableWriter, prepare_resume, read_name


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


def deny(monkeypatch, blocked: str, *functions: str) -> None:
    """Simulate a folder without permission (tests may run as root): ``os.<function>`` raises
    PermissionError for every path at or under ``blocked``."""
    for name in functions:
        real = getattr(os, name)

        def fake(path, *args, _real=real, **kwargs):
            if not isinstance(path, int) and os.fsdecode(os.fspath(path)).startswith(blocked):
                raise PermissionError(13, "Permission denied", os.fsdecode(os.fspath(path)))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, fake)


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
    assert "overlays never replace inputs" in capsys.readouterr().err
    assert clip.read_bytes() == before


def test_overlay_names_always_differ_from_the_inputs(tmp_path, analyzer):
    from mien.workflows.video import output_stems
    from mien.viz.draw import overlay_names

    names = overlay_names([str(tmp_path / "a.jpg"), str(tmp_path / "a.png"), str(tmp_path / "s" / "b.JPEG")])
    assert sorted(names.values()) == ["a.overlay.jpg", "a.png.overlay.jpg", "s/b.overlay.JPEG"]
    assert output_stems([str(tmp_path / "x" / "clip.mp4"), str(tmp_path / "y" / "clip.mp4")]) == {
        str(tmp_path / "x" / "clip.mp4"): "x/clip", str(tmp_path / "y" / "clip.mp4"): "y/clip"}
    write_jpeg(tmp_path / "a.jpg")
    original = (tmp_path / "a.jpg").read_bytes()
    analyzer.analyze(str(tmp_path / "a.jpg"), overlay=tmp_path)  # the Python API: beside it, another name
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


# ---------------------------------------------------------------------------------------- 5 and 13: unreadable
def test_an_input_inside_an_unreadable_folder_is_an_error_row(tmp_path, monkeypatch):
    write_jpeg(tmp_path / "good.jpg")
    (tmp_path / "locked").mkdir()
    write_jpeg(tmp_path / "locked" / "x.jpg")
    deny(monkeypatch, str(tmp_path / "locked") + os.sep, "stat", "scandir")
    out = tmp_path / "r.csv"
    assert main(["analyze", str(tmp_path / "locked" / "x.jpg"), str(tmp_path / "good.jpg"), "-o", str(out), "-q"]) == 1
    table = pd.read_csv(out, keep_default_na=False)
    assert table["success"].tolist() == [0, 0] and "Permission denied" in table["error"][0]
    assert table["error"][1] == ""  # the other input was analysed


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: the monkeypatched variant above runs")
def test_an_input_inside_a_folder_without_permission_is_an_error_row(tmp_path):
    write_jpeg(tmp_path / "good.jpg")
    (tmp_path / "locked").mkdir()
    write_jpeg(tmp_path / "locked" / "x.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        out = tmp_path / "r.csv"
        assert main(["analyze", str(tmp_path / "locked" / "x.jpg"), str(tmp_path / "good.jpg"), "-o", str(out),
                     "-q"]) == 1
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert "Permission denied" in pd.read_csv(out, keep_default_na=False)["error"][0]


def test_unlistable_folders_and_broken_or_looping_links_get_error_rows(tmp_path, monkeypatch):
    folder = tmp_path / "scan"
    (folder / "sub").mkdir(parents=True)
    write_jpeg(folder / "ok.jpg")
    (folder / "dangling.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "notes.txt").symlink_to(folder / "nowhere.txt")  # not an image name: not an input
    write_jpeg(folder / "sub" / "hidden.jpg")
    deny(monkeypatch, str(folder / "sub"), "scandir")
    out = tmp_path / "r.csv"
    assert main(["analyze", str(folder), "-o", str(out), "-q"]) == 1
    errors = dict(zip(*pd.read_csv(out, keep_default_na=False)[["input", "error"]].to_numpy().T))
    assert set(errors) == {str(folder / name) for name in ("dangling.jpg", "loop.jpg", "ok.jpg", "sub")}
    assert "broken symbolic link" in errors[str(folder / "dangling.jpg")]
    assert "symbolic links" in errors[str(folder / "loop.jpg")]
    assert "folder cannot be listed (Permission denied)" in errors[str(folder / "sub")]
    assert errors[str(folder / "ok.jpg")] == ""


# ---------------------------------------------------------------------------------------- 10: deep trees
def test_a_folder_tree_1100_levels_deep_is_walked(tmp_path):
    deepest = str(tmp_path / "deep")
    os.mkdir(deepest)
    for _ in range(1100):  # one level at a time (os.makedirs recurses too)
        deepest = os.path.join(deepest, "d")
        os.mkdir(deepest)
    write_jpeg(os.path.join(deepest, "x.jpg"))
    try:
        assert expand_inputs([tmp_path / "deep"]) == [os.path.join(deepest, "x.jpg")]
        out = tmp_path / "r.csv"
        assert main(["analyze", str(tmp_path / "deep"), "-o", str(out), "-q"]) == 0
        assert len(pd.read_csv(out)) == 1
    finally:  # pytest's clean-up of old temporary folders recurses: leave no deep tree behind
        os.remove(os.path.join(deepest, "x.jpg"))
        while deepest != str(tmp_path):
            os.rmdir(deepest)
            deepest = os.path.dirname(deepest)


# ---------------------------------------------------------------------------------------- 7: temp files
def test_table_writer_and_resume_never_follow_planted_links(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "r.csv"
    (tmp_path / "r.csv.part").symlink_to(victim)
    with TableWriter(out, ["input", "frame"]) as writer:
        writer.write([{"input": "a.jpg", "frame": 0}, {"input": "b.jpg", "frame": 0}])
    assert victim.read_text() == "precious\n" and out.read_text() == "input,frame\na.jpg,0\nb.jpg,0\n"
    (tmp_path / "r.csv.resume").symlink_to(victim)  # the fixed name of old versions
    (tmp_path / "r.csv.part").symlink_to(victim)  # a "leftover" that is a link: not taken over
    assert prepare_resume(out) == {"a.jpg": 0}
    assert victim.read_text() == "precious\n" and out.read_text() == "input,frame\na.jpg,0\n"
    with TableWriter(out, ["input", "frame"], append=True) as writer:
        writer.write([{"input": "b.jpg", "frame": 0}])
    assert victim.read_text() == "precious\n" and out.read_text() == "input,frame\na.jpg,0\nb.jpg,0\n"
    parquet = tmp_path / "r.parquet"
    (tmp_path / "r.parquet.part").symlink_to(victim)
    with TableWriter(parquet, ["input", "frame"]) as writer:
        writer.write([{"input": "a.jpg", "frame": 0}])
    assert victim.read_text() == "precious\n" and pd.read_parquet(parquet)["input"].tolist() == ["a.jpg"]


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


# ---------------------------------------------------------------------------------------- 9: line breaks
def test_a_carriage_return_in_a_name_is_quoted_in_csv():
    formatter = RowFormatter(["input", "frame"], "csv")
    text = formatter.header_text() + formatter.rows_text([{"input": "a\rb.jpg", "frame": 0},
                                                          {"input": "c.jpg", "frame": 0}])[0]
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["input", "frame"], ["a\rb.jpg", "0"], ["c.jpg", "0"]]
    assert pd.read_csv(io.StringIO(text))["input"].tolist() == ["a\rb.jpg", "c.jpg"]


def test_resume_after_a_quoted_newline_in_the_last_name_leaves_whole_rows(tmp_path):
    out = tmp_path / "r.csv"
    with TableWriter(out, ["input", "frame"]) as writer:
        writer.write([{"input": "a.jpg", "frame": 0}])
        writer.write([{"input": "x\ny.jpg", "frame": 0}])
    assert prepare_resume(out) == {"a.jpg": 0}  # the last input's rows are redone, all of them
    assert out.read_text() == "input,frame\na.jpg,0\n"
    out.write_text('input,frame\na.jpg,0\n"x\ny.jpg",0\nc.jpg,0\n"p\nq.jpg",')  # torn inside its quoted name
    assert prepare_resume(out) == {"a.jpg": 0, "x\ny.jpg": 0}
    assert out.read_text() == 'input,frame\na.jpg,0\n"x\ny.jpg",0\n'


def test_jsonl_with_line_separators_in_names_resumes(tmp_path):
    out = tmp_path / "r.jsonl"
    names = ["a\u2028b.jpg", "c\u2029d\x85.jpg", "e.jpg"]
    with TableWriter(out, ["input", "frame"]) as writer:
        for name in names:
            writer.write([{"input": name, "frame": 0}])
    text = out.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 3 and [json.loads(line)["input"] for line in text.splitlines()] == names
    assert prepare_resume(out) == {names[0]: 0, names[1]: 0}
    raw = "".join(json.dumps({"input": n, "frame": 0}, ensure_ascii=False) + "\n" for n in names)
    out.write_text(raw, encoding="utf-8")  # as older versions wrote it: raw U+2028 inside a line
    assert prepare_resume(out) == {names[0]: 0, names[1]: 0}


# ---------------------------------------------------------------------------------------- 12: options
@pytest.mark.parametrize("flag, value, expected", [
    ("--det-max-size", "0", "at least 32"), ("--det-max-size", "-5", "at least 32"),
    ("--det-threshold", "5", "in (0, 1]"), ("--det-threshold", "-1", "in (0, 1]"),
    ("--max-pixels", "-1", "at least 1"), ("--batch-size", "0", "at least 1"), ("--threads", "0", "at least 1")])
def test_numeric_options_out_of_range_are_usage_errors(tmp_path, capsys, flag, value, expected):
    write_jpeg(tmp_path / "a.jpg")
    assert main(["analyze", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "r.csv"), flag, value, "-q"]) == 2
    error = capsys.readouterr().err
    assert flag in error and expected in error
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("argv", [["video", "x.mp4", "--every", "0"], ["video", "x.mp4", "--fps", "-2"],
                                  ["video", "x.mp4", "--smooth", "-1"], ["video", "x.mp4", "--start", "5", "--end", "2"],
                                  ["batch", "x", "-o", "out", "--det-threshold", "5"],
                                  ["batch", "x", "-o", "out", "--chunk-size", "0"],
                                  ["serve", "--data-dir", "out", "--concurrency", "0"],
                                  ["serve", "--data-dir", "out", "--max-pixels", "0"]])
def test_video_batch_and_serve_options_out_of_range_are_usage_errors(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert argv[-2] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_python_api_and_batch_check_the_same_ranges():
    from mien import Analyzer
    from mien.batch import BatchOptions, EngineSettings

    with pytest.raises(ValueError, match=r"--det-threshold \(score_threshold\) must be a number in \(0, 1\]"):
        Analyzer(detector_options={"score_threshold": 5})
    with pytest.raises(ValueError, match=r"--det-max-size \(max_size\)"):
        Analyzer(detector_options={"max_size": 0})
    with pytest.raises(ValueError, match=r"--max-pixels \(max_pixels\)"):
        Analyzer(max_pixels=-1)
    with pytest.raises(ValueError, match=r"--det-threshold"):
        BatchOptions(analysis=AnalyzerConfig(detector_options={"score_threshold": -1}))
    with pytest.raises(ValueError, match=r"--num-workers"):
        EngineSettings(num_workers=0)


def test_analyze_video_checks_its_options(analyzer):
    with pytest.raises(ValueError, match=r"--detect-every"):
        analyzer.analyze_video("x.mp4", detect_every=0)


@pytest.mark.parametrize("field, value, flag", [
    ("analyze_concurrency", 0, "--concurrency (concurrency) must be a whole number of at least 1, got 0"),
    ("max_pixels", -1, "--max-pixels (max_pixels) must be a whole number of at least 1, got -1"),
    ("max_queued_jobs", 0, "--queue-size (queue_size) must be a whole number of at least 1, got 0"),
    ("request_timeout", 0.0, "--timeout (timeout) must be a number above 0, got 0.0"),
    ("keep_uploads", -1.0, "--keep-uploads (keep_uploads) must be a number of at least 0, got -1.0"),
    ("max_video_bytes", 0, "--max-video-mb (max_video_mb) must be a number above 0, got 0.0")])
def test_server_limits_check_the_command_line_ranges(tmp_path, monkeypatch, capsys, field, value, flag):
    from mien.serve.limits import Limits

    with pytest.raises(ValueError) as refused:
        Limits(**{field: value})
    assert str(refused.value) == flag
    monkeypatch.chdir(tmp_path)
    option = flag.split()[0]
    if option not in ("--max-video-mb",):  # (the command line takes megabytes)
        assert main(["serve", "--data-dir", "out", option, str(value)]) == 2
        assert flag in capsys.readouterr().err


@pytest.mark.parametrize("query, message", [
    ("every=0", "--every (every) must be a whole number of at least 1, got 0"),
    ("fps=0", "--fps (fps) must be a number above 0, got 0.0"),
    ("fps=nan", "--fps (fps) must be a number above 0, got nan"),
    ("detect_every=0", "--detect-every (detect_every) must be a whole number of at least 1, got 0"),
    ("smooth=-1", "--smooth (smooth) must be a number of at least 0, got -1.0"),
    ("detect_every=1001", "--detect-every (detect_every) must be a whole number in [1, 1000], got 1001"),
    ("smooth=inf", "--smooth (smooth) must be a number in [0, 3600], got inf")])
def test_server_video_parameters_are_checked_like_the_command_line(tmp_path, query, message):
    from fastapi.testclient import TestClient

    from mien.serve.app import ServeConfig, create_app

    config = ServeConfig(data_dir=tmp_path / "serve", analysis=AnalyzerConfig(threads=1), video_worker=False)
    with TestClient(create_app(config)) as client:
        reply = client.post(f"/v1/videos?{query}", content=b"not read: the parameters are checked first")
        assert reply.status_code == 422 and reply.json()["message"] == message
        assert client.get("/healthz").status_code == 200
    assert not list((tmp_path / "serve").rglob("*.part"))  # no upload was accepted


# ---------------------------------------------------------------------------------------- 18: formulas
def test_csv_formula_guard_is_on_by_default_and_reversible():
    formatter = RowFormatter(["input", "face_x", "error"], "csv")
    text = formatter.rows_text([{"input": "=HYPERLINK(\"x\")", "face_x": -0.5, "error": "@SUM(1)"},
                                {"input": "'plain", "face_x": 1.0, "error": "+1"}])[0]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["'=HYPERLINK(\"x\")", "-0.5", "'@SUM(1)"], ["''plain", "1", "'+1"]]  # numbers unchanged
    assert [read_name(row[0], csv_guarded=True) for row in rows] == ["=HYPERLINK(\"x\")", "'plain"]
    unguarded = RowFormatter(["input"], "csv", formula_guard=False).rows_text([{"input": "=1+1"}])[0]
    assert unguarded == "=1+1\n"
    assert json.loads(RowFormatter(["input"], "jsonl").rows_text([{"input": "=1+1"}])[0]) == {"input": "=1+1"}


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


# ---------------------------------------------------------------------------------------- 15: batch workers
DRIVER = """
import sys, time
from mien.batch.engines import EngineSettings, LocalEngine
from mien.batch.plan import BatchOptions
engine = LocalEngine(BatchOptions(), EngineSettings(num_workers=1, threads=1))
connection, process = engine._start()
engine._started(connection, process)
print(process.pid, flush=True)
time.sleep(120)
"""


def test_local_workers_exit_quietly_when_the_driver_is_killed():
    from mien.batch.reaper import _alive

    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        worker = int(driver.stdout.readline())
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its driver"
        _, errors = driver.communicate(timeout=15)  # the worker wrote to the same stream
    finally:
        driver.kill()
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_the_ray_reaper_stops_the_session_processes_once_its_driver_is_gone():
    from mien.batch.reaper import _alive, start_reaper, stop_processes

    session = f"session_mien_test_{os.getpid()}_{time.time_ns()}"
    lingering = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", session]) for _ in range(2)]
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); print(1, flush=True); time.sleep(120)"], stdout=subprocess.PIPE)
    try:
        reaper = start_reaper(session)
        time.sleep(0.5)
        assert all(process.poll() is None for process in lingering)  # nothing happens while the driver lives
        reaper.stdin.close()  # what a killed driver does to it
        reaper.wait(15)
        for process in lingering:
            process.wait(5)
        stubborn.stdout.readline()
        stop_processes([stubborn.pid], grace=0.3)  # SIGTERM ignored: SIGKILL after the grace period
        stubborn.wait(5)
        assert not _alive(stubborn.pid)
    finally:
        for process in [*lingering, stubborn]:
            process.kill()


RAY_DRIVER = """
import time
from ray._private import worker
from mien.batch.engines import EngineSettings, RayEngine
from mien.batch.plan import BatchOptions
RayEngine(BatchOptions(), EngineSettings("ray", num_workers=1, threads=1))
print(worker._global_node.session_name, flush=True)
time.sleep(300)
"""


def test_a_ray_started_by_mien_does_not_outlive_its_killed_driver():
    pytest.importorskip("ray")
    from mien.batch.reaper import _alive, session_processes, stop_processes

    driver = subprocess.Popen([sys.executable, "-c", RAY_DRIVER], stdout=subprocess.PIPE, text=True)
    session = ""
    try:
        session = driver.stdout.readline().strip()
        assert session.startswith("session_")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::DashboardAgent")
                for pid in session_processes(session) if _alive(pid)):
            time.sleep(0.5)  # the agents that used to linger start a few seconds after ray.init
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in session_processes(session)):
            time.sleep(0.5)
        assert not [pid for pid in session_processes(session) if _alive(pid)], "Ray processes outlived the driver"
    finally:
        driver.kill()
        stop_processes(session_processes(session), grace=1)


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
