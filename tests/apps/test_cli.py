"""The mien command: verbs, outputs, overlays and exit codes."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from mien import __version__
from mien.cli import main
from mien.schema import COLUMNS


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "retinaface" in out and "mnv2-ferplus" in out and "MIT" in out


def test_models_and_analyze_see_an_installed_plugin(monkeypatch, capsys, tmp_path, pyfeat_media):
    """A detector declared as a "mien.models" entry point of an installed package is listed with where it comes
    from and used by name; a broken plugin is named on stderr and the rest works."""
    from builders import CentreDetector, FakeEntryPoint, install_fake_plugins

    from mien import ModelSpec

    spec = ModelSpec("centre-face", "detector", CentreDetector, description="one face in the middle")
    install_fake_plugins(monkeypatch, FakeEntryPoint("centre-face", "mien_centre:spec", spec),
                         FakeEntryPoint("gone", "mien_gone:spec", ImportError("no module named 'mien_gone'")))
    assert main(["models"]) == 0
    captured = capsys.readouterr()
    assert "plugin mien-fake 1.0 (centre-face = mien_centre:spec)" in captured.out
    assert "retinaface" in captured.out
    assert captured.err == ("mien models: mien plugin mien-fake 1.0 (gone = mien_gone:spec) could not be loaded: "
                            "ImportError: no module named 'mien_gone'\n")
    out = tmp_path / "faces.csv"
    assert main(["analyze", str(pyfeat_media / "single_face.jpg"), "--detector", "centre-face", "-o", str(out),
                 "-q"]) == 0
    row = pd.read_csv(out).iloc[0]
    assert [row["face_x"], row["face_y"], row["face_width"], row["face_height"]] == [143, 140.5, 286, 281]


def test_analyze_folder_to_csv_with_overlays(tmp_path, pyfeat_media):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for name in ("single_face.jpg", "multi_face.jpg"):
        (folder / name).write_bytes((pyfeat_media / name).read_bytes())
    (folder / "nested" / "happy.jpg").write_bytes((pyfeat_media / "0-f15-hao-ph.jpg").read_bytes())
    out = tmp_path / "results.csv"
    code = main(["analyze", str(folder), "--output", str(out), "--overlay", str(tmp_path / "annotated"),
                 "--threads", "2", "--quiet"])
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == list(COLUMNS)
    assert table["input"].str.endswith("single_face.jpg").sum() == 1
    assert table["input"].str.endswith("multi_face.jpg").sum() >= 4
    assert set(table["success"]) == {1}
    overlays = sorted(p.relative_to(tmp_path / "annotated").as_posix() for p in (tmp_path / "annotated").rglob("*.jpg"))
    assert overlays == ["multi_face.overlay.jpg", "nested/happy.overlay.jpg", "single_face.overlay.jpg"]


def test_failed_input_sets_exit_code_1_and_keeps_other_rows(tmp_path, pyfeat_media, bad_inputs):
    out = tmp_path / "r.jsonl"
    code = main(["analyze", str(pyfeat_media / "single_face.jpg"), str(bad_inputs["text"]), "--output", str(out),
                 "--threads", "2", "--quiet"])
    assert code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["success"] for r in rows] == [1, 0]
    assert "not a recognised image format" in rows[1]["error"]


def test_parquet_and_pyfeat_schema(tmp_path, pyfeat_media):
    out = tmp_path / "r.parquet"
    assert main(["analyze", str(pyfeat_media / "single_face.jpg"), "-o", str(out), "--schema", "pyfeat",
                 "--threads", "2", "-q"]) == 0
    table = pd.read_parquet(out)
    assert {"FaceRectX", "happiness", "neutral"} <= set(table.columns) and len(table) == 1


def test_stdout_csv_when_no_output_is_given(pyfeat_media):
    completed = subprocess.run(
        [sys.executable, "-m", "mien.cli", "analyze", str(pyfeat_media / "single_face.jpg"),
         str(pyfeat_media / "free-mountain-vector-01.jpg"), "--threads", "2", "-q"],
        capture_output=True, text=True, check=True)
    lines = completed.stdout.strip().splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) == 3


def test_usage_errors_exit_2(tmp_path, pyfeat_media, capsys):
    assert main(["analyze", str(pyfeat_media / "single_face.jpg"), "-o", str(tmp_path / "x.txt"), "-q"]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "empty_dir_glob_*.jpg")]) == 2
    assert main(["analyze", str(pyfeat_media / "single_face.jpg"), "--expression", "nope", "-q"]) == 2


def test_resume_skips_finished_inputs_and_redoes_the_last_one(tmp_path, pyfeat_media):
    names = ["single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg"]
    paths = [str(pyfeat_media / n) for n in names]
    out = tmp_path / "r.csv"
    assert main(["analyze", *paths, "-o", str(out), "--threads", "2", "-q"]) == 0
    complete = pd.read_csv(out)
    # simulate a run killed during the second input: rows of input 1, part of input 2, a torn line
    lines = out.read_text().splitlines(keepends=True)
    multi_rows = [i for i, l in enumerate(lines) if "multi_face.jpg" in l]
    torn = "".join(lines[: multi_rows[1]]) + lines[multi_rows[1]][:20]
    out.unlink()
    (tmp_path / "r.csv.part").write_text(torn)
    assert main(["analyze", *paths, "-o", str(out), "--resume", "--threads", "2", "-q"]) == 0
    resumed = pd.read_csv(out)
    assert not (tmp_path / "r.csv.part").exists()
    pd.testing.assert_frame_equal(resumed, complete)


def test_jsonl_on_stdout_and_json_needs_a_file(pyfeat_media, capsys):
    assert main(["analyze", str(pyfeat_media / "single_face.jpg"), "--format", "jsonl", "--threads", "2", "-q"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["success"] == 1
    assert main(["analyze", str(pyfeat_media / "single_face.jpg"), "--format", "parquet", "-q"]) == 2


def test_overlays_of_same_stem_do_not_collide(tmp_path, pyfeat_media):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "face.jpg").write_bytes((pyfeat_media / "single_face.jpg").read_bytes())
    Image.open(pyfeat_media / "0-f15-hao-ph.jpg").save(folder / "face.png")
    assert main(["analyze", str(folder), "-o", str(tmp_path / "r.csv"), "--overlay", str(tmp_path / "ov"),
                 "--threads", "2", "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["face.overlay.jpg", "face.png.overlay.jpg"]


def test_evaluate_expression_on_real_ferplus(tmp_path, datasets, capsys):
    out = tmp_path / "metrics.json"
    code = main(["evaluate", "expression", "--dataset", "ferplus", "--root", str(datasets / "ferplus"),
                 "--split", "test", "--input", "whole-image", "--calibrate-on", "valid", "--limit", "120",
                 "--output", str(out), "--confusion", str(tmp_path / "cm.png"), "--threads", "2"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["n"] == 120 and 0.6 < report["accuracy"] <= 1.0
    assert report["temperature"] > 0 and "ece_calibrated" in report
    assert sum(map(sum, report["confusion"])) == 120 and (tmp_path / "cm.png").stat().st_size > 5000
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_framed_needs_a_background(datasets):
    assert main(["evaluate", "expression", "--dataset", "ckplus", "--root", str(datasets / "ckplus"),
                 "--input", "framed", "--limit", "5"]) == 2
