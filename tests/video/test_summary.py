"""TrackSummary's per-track series: AU intensities kept beside the probabilities, with hand-made arrays."""

import numpy as np

from mien.schema import AUS
from mien.video.summary import TrackSummary

UNIFORM = np.full((1, 8), 1 / 8)


def add(summary: TrackSummary, track: int, frame: int, intensity=None, probabilities=None) -> None:
    summary.add(np.array([track]), frame, frame / 10, UNIFORM, UNIFORM, au_probs=probabilities,
                au_intensity=intensity)


def test_intensities_round_trip_per_track_with_nan_where_not_measured():
    summary = TrackSummary("clip.mp4", keep_series=True)
    first, second = np.linspace(0, 5, len(AUS)), np.linspace(5, 0, len(AUS))
    add(summary, 0, 0)                                    # nothing measured yet
    add(summary, 0, 1, intensity=first[None])
    add(summary, 0, 2)                                    # a frame without intensities keeps its row
    add(summary, 0, 3, intensity=second[None], probabilities=np.full((1, len(AUS)), 0.25))
    add(summary, 1, 3)                                    # a track that never had any
    levels = summary.au_intensity_series(0)
    assert levels.shape == (4, len(AUS)) and levels.dtype == np.float32
    assert np.isnan(levels[[0, 2]]).all()
    np.testing.assert_allclose(levels[1], first, rtol=1e-6)
    np.testing.assert_allclose(levels[3], second, rtol=1e-6)
    np.testing.assert_allclose(summary.au_series(0)[3], 0.25)  # the probabilities are kept as before
    assert np.isnan(summary.au_series(0)[:3]).all()
    assert summary.au_intensity_series(1).shape == (1, len(AUS)) and np.isnan(summary.au_intensity_series(1)).all()


def test_two_faces_in_one_frame_keep_their_own_rows():
    summary = TrackSummary("clip.mp4", keep_series=True)
    levels = np.stack([np.full(len(AUS), 1.5), np.full(len(AUS), np.nan)])
    summary.add(np.array([3, 7]), 0, 0.0, np.tile(UNIFORM, (2, 1)), np.tile(UNIFORM, (2, 1)), au_intensity=levels)
    np.testing.assert_allclose(summary.au_intensity_series(3), [[1.5] * len(AUS)])
    assert np.isnan(summary.au_intensity_series(7)).all()  # NaN only: not measured, nothing kept
    assert len(summary.tracks[7].intensity) == 0


def test_intensities_cost_68_bytes_per_frame_only_where_measured():
    summary = TrackSummary("clip.mp4", keep_series=True)
    for frame in range(10):
        add(summary, 0, frame, intensity=np.full((1, len(AUS)), 2.0))
        add(summary, 1, frame)
    for track, expected in ((0, 180), (1, 112)):  # (1 + 8) + (2 + 17) [+ 17] float32, as TrackSummary documents
        stats = summary.tracks[track]
        kept = len(stats.series) + len(stats.affect) + len(stats.intensity)
        assert kept * stats.series.itemsize / 10 == expected
    plain = TrackSummary("clip.mp4")  # without keep_series nothing is kept
    add(plain, 0, 0, intensity=np.full((1, len(AUS)), 2.0))
    assert len(plain.tracks[0].intensity) == 0


def test_series_handed_out_do_not_stop_the_summary_from_growing():
    """A caller may keep a series array (live plotting) while frames keep arriving."""
    summary = TrackSummary("clip", keep_series=True)
    summary.add(np.array([0]), 0, 0.0, UNIFORM, UNIFORM, au_intensity=np.zeros((1, len(AUS))))
    kept = (summary.series(0), summary.au_series(0), summary.au_intensity_series(0), summary.valence_arousal(0))
    summary.add(np.array([0]), 1, 0.04, UNIFORM, UNIFORM, au_intensity=np.ones((1, len(AUS))))
    assert [len(a) for a in kept] == [1, 1, 1, 1] and len(summary.times(0)) == 2
    assert summary.au_intensity_series(0)[1].tolist() == [1.0] * len(AUS)
