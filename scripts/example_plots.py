"""Write the README's example figures from a real clip: the mean AU map of its main track, its AU time
series, its valence/arousal trajectory on the circumplex and its mean AUs per leading expression.

    python scripts/example_plots.py ../shared/datasets/media/pyfeat/WolfgangLanger_Pexels.mp4 --out docs/

Exits with 1 (after writing the circumplex) when the model measures no AUs, so incomplete examples are
never mistaken for complete ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FIGURES = ("example_au_face.png", "example_au_series.png", "example_circumplex.png", "example_au_heatmap.png")
MIN_FRAMES_PER_EXPRESSION = 10  # rows of the heat map: expressions that lead in at least this many frames


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
    from mien.viz.affect import AU_LINE_SMOOTHING
    from mien.workflows.plots import plot_au_face, plot_au_heatmap, plot_circumplex, plot_track_au_series

    au_face, au_series, circumplex, heatmap = (folder / name for name in FIGURES)
    name = Path(summary.source).name
    frames = summary.tracks[track].frames
    va = summary.valence_arousal(track)
    print(plot_circumplex(va[:, 0], va[:, 1], circumplex, times=summary.times(track),
                          title=f"{name}: valence and arousal over {frames} frames"))
    if not np.isfinite(summary.au_series(track)).any():
        print("AU figures skipped: the expression model has no AU head (AU not measured)")
        return 1
    print(plot_au_face(summary.au_series(track), au_face, title=f"{name}, track {track}", thresholds=thresholds))
    print(plot_track_au_series(summary, track, au_series, thresholds=thresholds, smooth=AU_LINE_SMOOTHING))
    labels, rows = mean_aus_per_expression(summary, track)
    print(plot_au_heatmap(rows, labels, heatmap, title=f"{name}: mean AU probability by (smoothed) expression"))
    return 0


def mean_aus_per_expression(summary, track: int) -> tuple[list[str], np.ndarray]:
    """Mean AU probabilities over the frames where each expression leads (after smoothing)."""
    from mien.schema import EXPRESSIONS

    leading = summary.series(track)[:, 1:].argmax(axis=1)
    aus = summary.au_series(track)
    labels, rows = [], []
    for index, expression in enumerate(EXPRESSIONS):
        frames = leading == index
        if frames.sum() >= MIN_FRAMES_PER_EXPRESSION:
            labels.append(f"{expression} ({frames.sum()} frames)")
            rows.append(np.nanmean(aus[frames], axis=0))
    return labels, np.array(rows)


if __name__ == "__main__":
    raise SystemExit(main())
