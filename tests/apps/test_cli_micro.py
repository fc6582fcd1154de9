"""`mien micro spot|recognize` on real video."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def media(datasets):
    return datasets / "media"


# ------------------------------------------------------------------------------------ command line
def test_cli_spot_and_recognize_on_real_video(media, tmp_path):
    import json

    import pandas as pd

    from mien.cli import main

    intervals, plots = tmp_path / "intervals.csv", tmp_path / "plots"
    assert main(["micro", "spot", str(media / "liveportrait" / "d0.mp4"), str(tmp_path / "missing.mp4"),
                 "--output", str(intervals), "--plot-dir", str(plots), "--threads", "2"]) == 1  # one input failed
    table = pd.read_csv(intervals)
    assert len(table) >= 1 and set(table["kind"]) <= {"micro", "macro"}
    assert (table["onset"] <= table["apex"]).all() and (table["apex"] <= table["offset"]).all()
    assert (plots / "d0_spotting.png").stat().st_size > 10_000

    apex = int(table.iloc[0]["apex"])
    onset = int(table.iloc[0]["onset"])
    prediction = tmp_path / "prediction.json"
    assert main(["micro", "recognize", "--video", str(media / "liveportrait" / "d0.mp4"), "--onset-frame", str(onset),
                 "--apex-frame", str(apex), "--output", str(prediction), "--threads", "2"]) == 0
    record = json.loads(prediction.read_text())
    assert record["micro_label"] in ("negative", "positive", "surprise")
    assert abs(record["micro_negative"] + record["micro_positive"] + record["micro_surprise"] - 1) < 1e-3
    assert main(["micro", "recognize", "--video", str(media / "liveportrait" / "d0.mp4"), "--onset-frame", "0",
                 "--apex-frame", "9999"]) == 1  # the frame does not exist: named, exit 1
    assert main(["micro", "recognize", "--onset", str(media / "pyfeat" / "single_face.jpg")]) == 2  # usage
