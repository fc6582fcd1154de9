"""AU and valence/arousal figures: synthetic inputs with known answers and the per-track series they are drawn from."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from mien.result import Result
from mien.schema import AUS
from mien.video.summary import TrackSummary
from mien.viz.affect import RUSSELL_ANCHORS, track_figures
from mien.viz.au import (AU_LOCATIONS, INTENSITY, MARKER_RADIUS, PROBABILITY, au_face_figure, au_heatmap_figure,
                         au_matrix, au_scale, mean_probabilities, moving_average, threshold_vector,
                         track_au_series_figure)
from mien.workflows.plots import (plot_au_face, plot_au_heatmap, plot_circumplex, plot_track_au_series,
                                  plot_track_figures)


def smiling_probabilities() -> np.ndarray:
    probabilities = np.full(len(AUS), 0.1)
    probabilities[[AUS.index(6), AUS.index(12), AUS.index(25)]] = [0.8, 0.95, 0.6]
    return probabilities


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def synthetic_summary(frames: int = 40, tracks: int = 2, with_aus: bool = True) -> TrackSummary:
    summary = TrackSummary("synthetic.mp4", keep_series=True)
    uniform = np.full((tracks, 8), 1 / 8)
    for frame in range(frames):
        time = frame / 10
        aus = np.clip(0.5 + 0.5 * np.sin(time * np.arange(1, len(AUS) + 1) / 3), 0, 1)
        summary.add(np.arange(tracks), frame, time, uniform, uniform, np.tile(aus, (tracks, 1)) if with_aus else None,
                    np.full(tracks, np.cos(time)), np.full(tracks, 0.5 * np.sin(time)))
    return summary


# ----------------------------------------------------------------- inputs
def test_au_inputs_accept_arrays_rows_mappings_and_results():
    probabilities = smiling_probabilities()
    assert au_matrix(probabilities).shape == (1, len(AUS))
    mapping = au_matrix({12: 0.9, "AU06": 0.7, "AU25_p": 0.4, "au1": 0.2})[0]
    assert mapping[AUS.index(12)] == 0.9 and mapping[AUS.index(6)] == 0.7 and mapping[AUS.index(25)] == 0.4
    assert mapping[AUS.index(1)] == 0.2 and np.isnan(mapping[AUS.index(4)])
    result = Result(face_id=np.arange(2), au_probs=np.stack([probabilities, probabilities / 2]).astype(np.float32),
                    metadata={"au_thresholds": [0.3] * len(AUS)})
    np.testing.assert_allclose(mean_probabilities(au_matrix(result)), probabilities * 0.75, rtol=1e-6)
    np.testing.assert_allclose(threshold_vector(None, result), 0.3)
    assert threshold_vector(None)[0] == 0.5 and threshold_vector({"AU12": 0.7})[AUS.index(12)] == 0.7


def test_mean_skips_unmeasured_faces_and_refuses_when_nothing_was_measured():
    matrix = np.array([smiling_probabilities(), np.full(len(AUS), np.nan)])
    np.testing.assert_allclose(mean_probabilities(matrix), smiling_probabilities())
    for nothing in (np.full((3, len(AUS)), np.nan), np.empty((0, len(AUS)))):
        with pytest.raises(ValueError, match="AU not measured"):
            mean_probabilities(nothing)
    with pytest.raises(ValueError, match="17 AU probabilities"):
        au_matrix(np.zeros(5))
    with pytest.raises(ValueError, match="unknown action unit"):
        au_matrix({"AU03": 0.5})


def test_every_au_has_its_own_place_on_the_face():
    assert set(AU_LOCATIONS) == set(AUS)
    points = [(au, point) for au, places in AU_LOCATIONS.items() for point in places]
    for au, (x, y) in points:  # inside the outline ellipse (centre (0, -0.05), half-axes 0.9 and 1.15)
        assert (x / 0.9) ** 2 + ((y + 0.05) / 1.15) ** 2 < 0.85, au
    for (au1, p1), (au2, p2) in itertools.combinations(points, 2):
        assert np.hypot(p1[0] - p2[0], p1[1] - p2[1]) > 2 * MARKER_RADIUS, (au1, au2)
    upper, lower = [1, 2, 4, 5, 7], [12, 15, 17, 20, 23, 24, 25, 26, 27]  # brows and eyes above the mouth
    assert min(y for au in upper for _, y in AU_LOCATIONS[au]) > max(y for au in lower for _, y in AU_LOCATIONS[au])


def test_moving_average_is_centred_in_seconds_and_skips_nan():
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    values = np.array([0.0, 0.0, 3.0, 0.0, np.nan])
    np.testing.assert_array_equal(moving_average(times, values, 0), values)
    np.testing.assert_allclose(moving_average(times, values, 1.0), values)  # +-0.5 s: each sample alone
    np.testing.assert_allclose(moving_average(times, values, 2.5), [0, 1, 1, 1.5, 0])  # +-1.25 s: neighbours
    columns = moving_average(times, np.stack([values, 2 * values], axis=1), 2.5)
    np.testing.assert_allclose(columns[:, 1], 2 * columns[:, 0])
    assert np.isnan(moving_average(times, np.full(5, np.nan), 2.5)).all()


# ----------------------------------------------------------------- figures
def test_au_face_for_one_face_and_for_many(tmp_path):
    one = plot_au_face(smiling_probabilities(), tmp_path / "one.png", title="smile", thresholds=0.5)
    many = np.stack([smiling_probabilities()] * 5 + [np.full(len(AUS), np.nan)])
    mean = plot_au_face(many, tmp_path / "mean.png", thresholds=[0.4] * len(AUS))
    for path in (one, mean):
        assert png_size(path) == (1100, 520) and path.stat().st_size > 30_000
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(ValueError, match="AU not measured"):
        plot_au_face(np.full(len(AUS), np.nan), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_au_heatmap_grows_with_rows_and_checks_labels(tmp_path):
    rows = np.stack([smiling_probabilities(), np.linspace(0, 1, len(AUS)), np.full(len(AUS), np.nan)])
    small = plot_au_heatmap(rows[:2], ["happy", "ramp"], tmp_path / "small.png")
    large = plot_au_heatmap(np.tile(rows, (4, 1)), [f"condition {i}" for i in range(12)], tmp_path / "large.png")
    assert png_size(small)[0] == png_size(large)[0] == 1100
    assert png_size(large)[1] > png_size(small)[1] + 300
    with pytest.raises(ValueError, match="row labels"):
        plot_au_heatmap(rows, ["only one"], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="AU not measured"):
        plot_au_heatmap(rows[2:], ["nothing"], tmp_path / "nothing.png")


def test_circumplex_skips_nan_samples_and_refuses_none(tmp_path):
    angle = np.linspace(0, 2 * np.pi, 50)
    valence, arousal = 0.8 * np.cos(angle), 0.8 * np.sin(angle)
    valence[10] = np.nan
    path = plot_circumplex(valence, arousal, tmp_path / "va.png", times=angle, title="a loop")
    assert png_size(path) == (820, 620) and path.stat().st_size > 20_000
    assert plot_circumplex([0.5], [0.2], tmp_path / "one.png").exists()  # one sample: start = end
    with pytest.raises(ValueError, match="not measured"):
        plot_circumplex([np.nan, np.nan], [0.1, 0.2], tmp_path / "none.png")
    with pytest.raises(ValueError, match="differ in length"):
        plot_circumplex([0.1, 0.2], [0.1], tmp_path / "bad.png")


def test_russell_anchors_are_his_eight_published_angles():
    assert list(RUSSELL_ANCHORS.values()) == list(range(0, 360, 45))
    assert list(RUSSELL_ANCHORS)[::2] == ["pleasure", "arousal", "displeasure", "sleepiness"]


def test_track_au_series_and_its_choice_of_aus(tmp_path):
    summary = synthetic_summary(tracks=1)
    default = plot_track_au_series(summary, 0, tmp_path / "au.png")
    chosen = plot_track_au_series(summary, 0, tmp_path / "au12.png", aus=[12, "AU06"], thresholds=0.6, smooth=0.5)
    for path in (default, chosen):
        assert png_size(path) == (1100, 620) and path.stat().st_size > 30_000
    with pytest.raises(ValueError, match="unknown action unit"):
        plot_track_au_series(summary, 0, tmp_path / "bad.png", aus=[3])
    with pytest.raises(ValueError, match="AU not measured"):
        plot_track_au_series(synthetic_summary(tracks=1, with_aus=False), 0, tmp_path / "none.png")
    plain = TrackSummary("x.mp4")
    plain.add(np.array([0]), 0, 0.0, np.full((1, 8), 1 / 8), np.full((1, 8), 1 / 8), np.full((1, len(AUS)), 0.5))
    with pytest.raises(ValueError, match="keep_series=True"):
        plot_track_au_series(plain, 0, tmp_path / "plain.png")


def test_track_figures_per_track_and_without_aus(tmp_path):
    written = plot_track_figures(synthetic_summary(tracks=2), tmp_path / "with", stem="clip")
    assert sorted(p.name for p in written) == sorted(
        [f"clip_track{t}_{kind}.png" for t in (0, 1) for kind in ("circumplex", "au", "au_face")]
        + ["clip_au_tracks.png"])
    written = plot_track_figures(synthetic_summary(tracks=1, with_aus=False), tmp_path / "without", stem="clip")
    assert [p.name for p in written] == ["clip_track0_circumplex.png"]


# ----------------------------------------------------------------- the series they are drawn from
def test_track_summary_keeps_affect_series_at_a_flat_documented_cost():
    frames, tracks = 40, 2
    summary = synthetic_summary(frames, tracks)
    for track in range(tracks):
        stats = summary.tracks[track]
        bytes_per_frame = (len(stats.series) + len(stats.affect)) * stats.series.itemsize / frames
        assert bytes_per_frame == 112  # (1 + 8) + (2 + 17) float32, as TrackSummary documents
        assert summary.series(track).shape == (frames, 9)  # the timeline contract is unchanged
        assert summary.au_series(track).shape == (frames, len(AUS))
        np.testing.assert_allclose(summary.times(track), np.arange(frames) / 10, rtol=1e-6)
        np.testing.assert_allclose(summary.valence_arousal(track)[:, 0], np.cos(np.arange(frames) / 10), atol=1e-6)
    assert np.isnan(synthetic_summary(5, 1, with_aus=False).au_series(0)).all()
    plain = TrackSummary("x.mp4")
    plain.add(np.array([0]), 0, 0.0, np.full((1, 8), 1 / 8), np.full((1, 8), 1 / 8), np.full((1, len(AUS)), 0.5))
    assert len(plain.tracks[0].affect) == len(plain.tracks[0].series) == 0  # nothing kept without keep_series


# ----------------------------------------------------------------- intensity (aus="mesh": AUxx_r, 0-5)
def intensity_summary(frames: int = 20, tracks: int = 2, measured: tuple[int, ...] | None = None) -> TrackSummary:
    """Like synthetic_summary, with intensities (0-5) on the ``measured`` tracks (default: all)."""
    summary = TrackSummary("mesh.mp4", keep_series=True)
    uniform = np.full((tracks, 8), 1 / 8)
    for frame in range(frames):
        time = frame / 10
        aus = np.clip(0.5 + 0.5 * np.sin(time * np.arange(1, len(AUS) + 1) / 3), 0, 1)
        levels = np.full((tracks, len(AUS)), np.nan)
        levels[list(range(tracks) if measured is None else measured)] = 5 * aus
        summary.add(np.arange(tracks), frame, time, uniform, uniform, np.tile(aus, (tracks, 1)),
                    np.full(tracks, 0.1), np.full(tracks, 0.2), au_intensity=levels)
    return summary


def au_markers(face_axis) -> list:
    from matplotlib.patches import Circle

    markers = [p for p in face_axis.patches if isinstance(p, Circle) and p.get_radius() == MARKER_RADIUS]
    assert len(markers) == sum(len(places) for places in AU_LOCATIONS.values())
    return markers


def colour_bar_axes(figure, data_axes):
    (bar,) = [axis for axis in figure.axes if axis not in data_axes and axis.get_ylabel()]
    return bar


def test_au_scales_say_their_range_and_whether_thresholds_apply():
    assert (PROBABILITY.vmax, PROBABILITY.thresholds, PROBABILITY.label()) == (1.0, True, "probability")
    assert (INTENSITY.vmax, INTENSITY.thresholds, INTENSITY.label()) == (5.0, False, "intensity (0-5)")
    assert PROBABILITY.label("0.5 s mean") == "probability (0.5 s mean)"
    assert INTENSITY.label("0.5 s mean") == "intensity (0-5; 0.5 s mean)"
    assert au_scale("intensity") is INTENSITY and au_scale(PROBABILITY) is PROBABILITY
    with pytest.raises(ValueError, match="unknown AU scale"):
        au_scale("presence")


def test_au_matrix_takes_intensities_from_a_results_data():
    levels = np.linspace(0, 4.8, len(AUS), dtype=np.float32)
    result = Result(face_id=np.arange(1), au_probs=np.full((1, len(AUS)), 0.5, np.float32),
                    data={f"AU{au:02d}_r": levels[[k]] for k, au in enumerate(AUS)})
    np.testing.assert_allclose(au_matrix(result, INTENSITY), levels[None])
    np.testing.assert_allclose(au_matrix(result), 0.5)  # probabilities stay the default
    mapping = au_matrix({"AU12_r": 3.5, 6: 2.0}, "intensity")[0]
    assert mapping[AUS.index(12)] == 3.5 and mapping[AUS.index(6)] == 2.0 and np.isnan(mapping[AUS.index(1)])
    appearance = Result(face_id=np.arange(1), au_probs=np.full((1, len(AUS)), 0.5, np.float32))
    assert appearance.au_intensity is None
    with pytest.raises(ValueError, match="AU intensity not measured"):
        au_matrix(appearance, INTENSITY)
    with pytest.raises(ValueError, match="17 AU intensities"):
        au_matrix(np.zeros(3), INTENSITY)
    with pytest.raises(ValueError, match="the intensities are empty or all NaN"):
        au_face_figure(np.full(len(AUS), np.nan), scale=INTENSITY)


def test_au_face_in_intensity_has_a_0_to_5_scale_and_no_thresholds():
    levels = 5 * smiling_probabilities()
    figure = au_face_figure(levels, scale=INTENSITY, thresholds=0.2)  # thresholds do not apply to intensity
    face_axis, bar_axis = figure.axes[:2]
    bar = colour_bar_axes(figure, [face_axis, bar_axis])
    assert bar.get_ylabel() == "AU intensity (0-5)" and bar.get_ylim() == (0.0, 5.0)
    assert bar_axis.get_xlabel() == "intensity (0-5)" and bar_axis.get_xlim() == pytest.approx((0, 5.4))
    assert not bar_axis.lines  # no threshold line or tick
    assert sorted(t.get_text() for t in bar_axis.texts) == sorted(f"{v:.2f}" for v in levels)  # every value
    assert {m.get_linewidth() for m in au_markers(face_axis)} == {0.7}  # no heavy outline
    assert any(t.get_text() == "number = AU; colour = intensity (0-5)" for t in face_axis.texts)
    probability = au_face_figure(smiling_probabilities(), thresholds=0.5)  # unchanged: 0-1 with the threshold
    face_axis, bar_axis = probability.axes[:2]
    assert {m.get_linewidth() for m in au_markers(face_axis)} == {0.7, 2.2}  # AU6, AU12, AU25 reach 0.5
    assert colour_bar_axes(probability, probability.axes[:2]).get_ylim() == (0.0, 1.0)
    assert bar_axis.get_xlabel() == "probability (black: presence threshold)" and len(bar_axis.lines) == 1


def test_au_heatmap_in_intensity_has_a_0_to_5_scale():
    figure = au_heatmap_figure(np.stack([5 * smiling_probabilities(), np.full(len(AUS), 2.5)]), ["a", "b"],
                               scale="intensity")
    axis = figure.axes[0]
    assert axis.images[0].norm.vmax == 5 and axis.get_title() == "Action unit intensity"
    assert colour_bar_axes(figure, [axis]).get_ylabel() == "AU intensity (0-5)"
    probability = au_heatmap_figure(smiling_probabilities(), ["a"]).axes[0]
    assert probability.images[0].norm.vmax == 1 and probability.get_title() == "Action unit probability"


def test_track_au_series_in_intensity_draws_the_intensity_series_without_thresholds():
    summary = intensity_summary(tracks=1)
    figure = track_au_series_figure(summary, 0, aus=[12, 6], smooth=0.5, scale=INTENSITY)
    strip, lines = figure.axes[:2]
    assert strip.collections[0].norm.vmax == 5
    np.testing.assert_allclose(strip.collections[0].get_array().T, summary.au_intensity_series(0), rtol=1e-6)
    assert lines.get_ylim() == (0.0, 5.0) and lines.get_ylabel() == "intensity (0-5; 0.5 s mean)"
    assert len(lines.lines) == 2 and lines.get_legend().get_title().get_text() == ""  # two curves, no threshold
    assert [axis.get_ylabel() for axis in strip.child_axes] == ["intensity (0-5)"]  # the inset colour bar
    probability = track_au_series_figure(summary, 0, aus=[12, 6], smooth=0.5)  # the default: probabilities
    strip, lines = probability.axes[:2]
    assert strip.collections[0].norm.vmax == 1 and lines.get_ylim() == (0.0, 1.0)
    assert len(lines.lines) == 4 and lines.get_ylabel() == "probability (0.5 s mean)"  # two curves, two thresholds
    assert [axis.get_ylabel() for axis in strip.child_axes] == ["probability"]
    with pytest.raises(ValueError, match="AU not measured"):
        track_au_series_figure(synthetic_summary(tracks=1), 0, scale=INTENSITY)


def test_track_figures_use_intensity_where_it_was_measured():
    figures = track_figures(intensity_summary(tracks=2))
    assert sorted(figures) == sorted([f"track{t}_{kind}" for t in (0, 1) for kind in ("circumplex", "au", "au_face")]
                                     + ["au_tracks"])
    for track in (0, 1):
        assert figures[f"track{track}_au"].axes[0].collections[0].norm.vmax == 5
        assert figures[f"track{track}_au"].axes[1].get_ylabel() == "intensity (0-5; 0.5 s mean)"
        assert figures[f"track{track}_au_face"].axes[1].get_xlabel() == "intensity (0-5)"
    heat = figures["au_tracks"].axes[0]
    assert heat.images[0].norm.vmax == 5 and heat.get_title() == "mesh.mp4: mean AU intensity per track"
    probability = track_figures(synthetic_summary(tracks=2))  # no intensity: probabilities, as before
    assert probability["track0_au"].axes[0].collections[0].norm.vmax == 1
    heat = probability["au_tracks"].axes[0]
    assert heat.images[0].norm.vmax == 1 and heat.get_title() == "synthetic.mp4: mean AU probability per track"
    mixed = track_figures(intensity_summary(tracks=2, measured=(1,)))  # track 0 has probabilities only
    assert mixed["track0_au"].axes[0].collections[0].norm.vmax == 1
    assert mixed["track1_au"].axes[0].collections[0].norm.vmax == 5
    heat = mixed["au_tracks"].axes[0]
    assert heat.images[0].norm.vmax == 5 and np.isnan(heat.images[0].get_array().filled(np.nan)[0]).all()
