"""Other tools' real output files (media/pyfeat) read into mien's schema (mien.read_foreign): counts and values
checked."""

import numpy as np
import pytest

import mien
from mien.io.readers import detect_format


@pytest.mark.parametrize("name,tool,rows,columns", [
    ("OpenFace_Test.csv", "openface", 100, 444),
    ("Feat_Test.csv", "pyfeat", 1, 193),
    ("001.csv", "pyfeat", 40, 193),
    ("002.csv", "pyfeat", 28, 193),
    ("iMotions_Test_v5.txt", "imotions", 519, 122),
    ("iMotions_Test_v6.txt", "imotions", 519, 102),
    ("sample_affectiva-api-app_output.json", "affectiva", 1, 43),
])
def test_every_example_file_reads(pyfeat_media, name, tool, rows, columns):
    table = mien.read_foreign(pyfeat_media / name)
    assert detect_format(pyfeat_media / name) == tool and table.attrs["source_tool"] == tool
    assert table.shape == (rows, columns)
    assert {"input", "frame", "success"} <= set(table.columns)
    mien_first = [c for c in mien.Result().columns() if c in table.columns]
    assert list(table.columns[:len(mien_first)]) == mien_first  # mien's columns lead, in schema order


def test_openface_values(pyfeat_media):
    table = mien.read_foreign(pyfeat_media / "OpenFace_Test.csv")
    first = table.iloc[0]
    assert first["frame"] == 0 and first["face_score"] == pytest.approx(0.883333)  # frames now from 0
    assert "AU12_r" in table and "pose_Rx" in table and "x_67" in table  # nothing lost
    # the 5 points come from the 68: left eye is the mean of points 36-41
    assert first["lm5_x_0"] == pytest.approx(np.mean([first[f"x_{i}"] for i in range(36, 42)]))
    assert (table["face_size"] > 20).all()


def test_pyfeat_values(pyfeat_media):
    table = mien.read_foreign(pyfeat_media / "Feat_Test.csv")
    row = table.iloc[0]
    assert row["face_x"] == pytest.approx(196.97684) and row["face_score"] == pytest.approx(0.9996811)
    assert row["expr_happy"] == pytest.approx(row["happiness"]) and row["expression"] == "happy"
    assert np.isnan(row.get("expr_contempt", np.nan))  # py-feat has no contempt


def test_imotions_values(pyfeat_media):
    table = mien.read_foreign(pyfeat_media / "iMotions_Test_v6.txt")
    first = table[table["success"] == 1].iloc[0]
    assert first["frame"] == 0 and first["timestamp"] == pytest.approx(0.035)
    assert first["face_x"] == 388 and first["face_width"] == 258
    # FACET evidence -0.4623673 (log10 odds) -> probability 1 / (1 + 10 ** 0.4623673)
    assert first["expr_happy"] == pytest.approx(1 / (1 + 10 ** 0.4623673))
    assert "not a distribution" in table.attrs["expr_meaning"]
    v5 = mien.read_foreign(pyfeat_media / "iMotions_Test_v5.txt")
    assert 0 < v5["success"].sum() < len(v5)  # rows without a face are kept, marked success 0


def test_affectiva_values(pyfeat_media):
    row = mien.read_foreign(pyfeat_media / "sample_affectiva-api-app_output.json").iloc[0]
    assert row["input"] == "JinHyunCheong.jpg" and row["expression"] == "happy"
    assert row["expr_happy"] == pytest.approx(0.9993057) and row["smile"] == 100


@pytest.mark.parametrize("name", ["OpenFace_Test.csv", "Feat_Test.csv"])
def test_a_file_cut_short_is_refused_not_read_as_empty_values(tmp_path, pyfeat_media, name):
    text = (pyfeat_media / name).read_text()
    cut = tmp_path / name
    cut.write_text(text[:len(text.split("\n")[0]) + 200])  # the header and the start of the first row
    with pytest.raises(ValueError, match=r"line 2 has \d+ of the header's \d+ fields \(a truncated file\?\)"):
        mien.io.readers.read(cut)


def test_an_interrupted_conversion_keeps_the_file_it_would_replace(tmp_path, pyfeat_media, monkeypatch):
    from mien.io.readers import read, write_converted
    from mien.io.writers import TableWriter

    target = tmp_path / "out.csv"
    target.write_text("mine\n")

    def interrupted(self, records):
        raise KeyboardInterrupt

    monkeypatch.setattr(TableWriter, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_converted(read(pyfeat_media / "OpenFace_Test.csv"), target)
    assert target.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
