"""Write the README's example figures from a real clip: the mean AU map of its main track, its AU time
series and its valence/arousal trajectory on the circumplex.

    python scripts/example_plots.py ../shared/datasets/media/pyfeat/WolfgangLanger_Pexels.mp4 --out docs/

Exits with 1 (after writing the circumplex) when the model measures no AUs, so incomplete examples are
never mistaken for complete ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FIGURES = ("example_au_face.png", "example_au_series.png", "example_circumplex.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    summary, thresholds = analyse(args.video, args.threads)
    track = max(summary.tracks, key=lambda t: summary.tracks[t].frames)  # the face seen longest
    return write_figures(summary, track, thresholds, args.out)


def analyse(video: Path, threads: int):
    """Run the default models over every frame; returns the track summary (with series) and AU thresholds."""
    from mien import Analyzer
    from mien.video.pipeline import VideoAnalysis
    from mien.video.summary import TrackSummary

    summary = TrackSummary(str(video), keep_series=True)
    thresholds = None
    for result, _ in VideoAnalysis(Analyzer(threads=threads)).frames(video, summary):
        thresholds = result.metadata.get("au_thresholds", thresholds)
    if not summary.tracks:
        raise SystemExit(f"no face found in {video}")
    return summary, thresholds


def write_figures(summary, track: int, thresholds, folder: Path) -> int:
    from mien.viz.affect import plot_circumplex
    from mien.viz.au import plot_au_face, plot_track_au_series

    au_face, au_series, circumplex = (folder / name for name in FIGURES)
    name = Path(summary.source).name
    frames = summary.tracks[track].frames
    va = summary.valence_arousal(track)
    print(plot_circumplex(va[:, 0], va[:, 1], circumplex, times=summary.times(track),
                          title=f"{name}: valence and arousal over {frames} frames"))
    if not np.isfinite(summary.au_series(track)).any():
        print("AU figures skipped: the expression model has no AU head (AU not measured)")
        return 1
    print(plot_au_face(summary.au_series(track), au_face, title=f"{name}, track {track}", thresholds=thresholds))
    print(plot_track_au_series(summary, track, au_series, thresholds=thresholds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
