"""`mien me-sheet`: a real coding sheet to a table with frame checks, a bad sheet named."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mien.datasets import me_layouts, me_sheets


@pytest.fixture(scope="module")
def annotations(datasets) -> Path:
    return datasets / "me_annotations"


# ----------------------------------------------------------------------------------------- layout replicas
def write_frames(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((4, 4, 3), np.uint8)
    for name in names:
        Image.fromarray(pixels).save(folder / name)


# ----------------------------------------------------------------------------------------- CLI
def test_me_sheet_verb_writes_the_table_and_checks_frames(tmp_path, annotations, capsys):
    import pandas as pd

    from mien.cli import main

    out = tmp_path / "samm.csv"
    assert main(["me-sheet", str(annotations / "SAMM_Micro_FACS_Codes_v2.xlsx"), "--output", str(out)]) == 0
    table = pd.read_csv(out, dtype={"subject": str})
    assert list(table.columns) == list(me_sheets.FRAME_COLUMNS) and len(table) == 159
    assert table.loc[0, ["subject", "clip", "onset", "apex", "offset", "action_units"]].tolist() == [
        "006", "006_1_2", 5562, 5588, 5632, "4+7"]
    assert not (tmp_path / "samm.csv.part").exists()

    write_frames(tmp_path / "SAMM" / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(5562, 5633)])
    checked = tmp_path / "checked.csv"
    code = main(["me-sheet", str(annotations / "SAMM.xlsx"), "-o", str(checked), "--frames", str(tmp_path)])
    assert code == 1  # 158 samples have no folder here
    table = pd.read_csv(checked, dtype={"subject": str})
    assert list(table.columns) == list(me_layouts.SEQUENCE_COLUMNS)
    assert table["n_frames"].tolist() == [71] + [0] * 158
    assert table.loc[0, "apex_path"].endswith("006_1_2/006_05588.jpg")
    err = capsys.readouterr().err
    assert "006_1_3: frame folder of samm:006/006_1_3 not found" in err and "frames found for 1" in err


def test_me_sheet_verb_names_a_bad_sheet(tmp_path, capsys):
    from mien.cli import main

    sheet = tmp_path / "notes.xlsx"
    sheet.write_text("not a workbook")
    assert main(["me-sheet", str(sheet), "-o", str(tmp_path / "out.csv")]) == 1
    assert "notes.xlsx: not a readable .xlsx workbook" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
    assert main(["me-sheet", str(sheet), "-o", str(tmp_path / "out.parquet")]) == 2  # usage: CSV / JSON only
