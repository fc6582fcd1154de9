"""`mien video --plots`: the AU and affect figures of a real run, and resume keeps their series."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from mien.cli import main
from mien.schema import AUS
from mien.workflows.video import replay
from mien.video.summary import TrackSummary


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_cli_video_plots_include_affect_figures_and_resume_keeps_the_series(tmp_path, pyfeat_media):
    out, plots = tmp_path / "frames.csv", tmp_path / "plots"
    assert main(["video", str(pyfeat_media / "single_face.mp4"), "-o", str(out), "--every", "4",
                 "--plots", str(plots), "--threads", "2", "-q"]) == 0
    rows = pd.read_csv(out)
    assert len(rows) == 18 and rows["success"].all()
    assert png_size(plots / "single_face_track0.png")[0] > 0  # the expression timeline is still written
    assert png_size(plots / "single_face_track0_circumplex.png") == (820, 620)
    measured = rows[[f"AU{au:02d}_p" for au in AUS]].notna().to_numpy().any()
    for kind in ("au", "au_face"):  # AU figures exactly when the model measured AUs
        assert (plots / f"single_face_track0_{kind}.png").exists() == measured
    rebuilt = TrackSummary("single_face.mp4", keep_series=True)
    replay([rows], rebuilt, max_missed=1.0)  # what a resumed run does with the rows already written
    np.testing.assert_allclose(rebuilt.valence_arousal(0), rows[["valence", "arousal"]].to_numpy(), atol=1e-5)
    assert -1 <= rows["valence"].min() and rows["valence"].max() <= 1


def test_cli_video_plots_with_mesh_aus_keep_the_intensities_that_were_written(tmp_path, datasets):
    from mien.schema import AU_INTENSITY_COLUMNS
    from mien.viz.affect import track_figures

    out = tmp_path / "frames.csv"
    assert main(["video", str(datasets / "media/liveportrait/d0.mp4"), "-o", str(out), "--aus", "mesh", "--end", "1",
                 "--plots", str(tmp_path / "plots"), "--threads", "2", "-q"]) == 0
    assert png_size(tmp_path / "plots" / "d0_track0_au_face.png") == (1100, 520)
    rows = pd.read_csv(out)
    rebuilt = TrackSummary("d0.mp4", keep_series=True)
    replay([rows], rebuilt, max_missed=1.0)  # the series a resumed run continues (and the plots draw)
    np.testing.assert_allclose(rebuilt.au_intensity_series(0), rows[list(AU_INTENSITY_COLUMNS)].to_numpy(), atol=1e-5)
    figure = track_figures(rebuilt)["track0_au"]
    assert figure.axes[0].collections[0].norm.vmax == 5  # drawn as intensity, 0-5
