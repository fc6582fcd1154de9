"""Reliability probes for the table writers (mien.io.writers): planted links, quoting, resume, the CSV formula guard."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from mien.io.writers import RowFormatter, TableWriter, prepare_resume, read_name


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


def test_a_file_system_without_advisory_locks_still_gets_its_table(tmp_path, monkeypatch):
    import errno

    import mien.files as files
    from mien.io.writers import TableWriter

    if files.fcntl is None:
        pytest.skip("no advisory locks on this platform")

    def unsupported(descriptor, operation):
        raise OSError(errno.ENOSYS, "flock not supported")

    monkeypatch.setattr(files.fcntl, "flock", unsupported)
    with TableWriter(tmp_path / "rows.csv", ["input", "frame"]) as writer:
        writer.write([{"input": "a.jpg", "frame": 0}])
    assert (tmp_path / "rows.csv").read_text() == "input,frame\na.jpg,0\n"
    assert not (tmp_path / "rows.csv.part").exists()


def test_a_stale_part_is_removed_but_a_locked_one_never(tmp_path):
    import mien.files as files
    from mien.files import FileInUseError, remove_stale

    if files.fcntl is None:
        pytest.skip("no advisory locks on this platform")
    stale = tmp_path / "t.csv.part"
    stale.write_text("a killed run's rows")
    remove_stale(stale)
    assert not stale.exists()
    stale.write_text("a live run's rows")
    with open(stale) as live:
        files.fcntl.flock(live, files.fcntl.LOCK_EX | files.fcntl.LOCK_NB)
        with pytest.raises(FileInUseError):
            remove_stale(stale)
    assert stale.read_text() == "a live run's rows"
