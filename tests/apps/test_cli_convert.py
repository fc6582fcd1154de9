"""`mien convert`: other tools' output files converted on the command line, bad files refused."""

import pandas as pd

from mien.cli import main


def test_convert_command_and_bad_files(tmp_path, pyfeat_media):
    out = tmp_path / "of.csv"
    assert main(["convert", str(pyfeat_media / "OpenFace_Test.csv"), "-o", str(out)]) == 0
    converted = pd.read_csv(out)
    assert len(converted) == 100 and converted.loc[0, "frame"] == 0 and "AU45_c" in converted
    assert not list(tmp_path.glob("*.part"))
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert main(["convert", str(tmp_path / "x.csv"), "-o", str(tmp_path / "y.csv")]) == 2
