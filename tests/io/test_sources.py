"""Reliability probes for input expansion (mien.io.sources): unreadable, unlistable, looping and very deep folders."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mien.cli import main
from mien.io.sources import expand_inputs


def write_jpeg(path: str | bytes | Path, value: int = 128, size: int = 64) -> None:
    """A small grey JPEG (no face: its row has success 0 and no error)."""
    ok, encoded = cv2.imencode(".jpg", np.full((size, size, 3), value, np.uint8))
    assert ok
    with open(path, "wb") as handle:
        handle.write(encoded.tobytes())


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


def test_a_pattern_matching_nothing_is_left_out_and_reported_to_the_caller(tmp_path):
    from mien.io.sources import expand_inputs, file_problem

    (tmp_path / "a.jpg").write_bytes(b"x")
    pattern = str(tmp_path / "*.xyz")
    unmatched: list[str] = []
    assert expand_inputs([pattern, str(tmp_path / "a.jpg")], unmatched=unmatched) == [str(tmp_path / "a.jpg")]
    assert unmatched == [pattern]
    assert file_problem(pattern) == "no file matches this pattern"  # the Python API's row for it


def test_the_command_line_warns_about_a_pattern_matching_nothing(tmp_path, capsys):
    write_jpeg(tmp_path / "a.jpg")
    pattern = str(tmp_path / "*.png")
    assert main(["analyze", str(tmp_path / "*.jpg"), pattern, "-o", str(tmp_path / "r.csv"), "-q"]) == 0
    assert f"warning: no file matches {pattern}" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "r.csv")["input"].tolist() == [str(tmp_path / "a.jpg")]


def test_a_name_with_a_nul_byte_is_one_failed_input_not_an_exception(tmp_path):
    from mien.io.sources import expand_inputs, file_problem, path_kind

    assert path_kind("bad\0.jpg") == "unreadable"
    assert expand_inputs(["bad\0.jpg"]) == ["bad\0.jpg"]
    assert file_problem("bad\0.jpg") == "the name holds a NUL byte, which no file name can"
    assert expand_inputs([""]) == [""] and file_problem("") == "empty file name"  # not the current folder


def test_a_device_or_pipe_is_named_as_such_not_as_an_empty_file(tmp_path):
    from mien.io.sources import file_problem

    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)
    assert file_problem(pipe) == "not a regular file (a device, pipe or socket)"
    assert file_problem("/dev/zero") == "not a regular file (a device, pipe or socket)"


def test_heic_files_a_folder_walk_leaves_out_are_counted_and_the_cli_says_so(tmp_path, capsys):
    photos = tmp_path / "phone"
    photos.mkdir()
    write_jpeg(photos / "a.jpg")
    (photos / "IMG_1.HEIC").write_bytes(b"x")
    undecodable: list[str] = []
    assert expand_inputs([str(photos)], undecodable=undecodable) == [str(photos / "a.jpg")]
    assert undecodable == [str(photos / "IMG_1.HEIC")]
    assert main(["analyze", str(photos), "-o", str(tmp_path / "r.csv"), "-q"]) == 0
    assert "warning: 1 HEIC/HEIF file(s) left out" in capsys.readouterr().err
