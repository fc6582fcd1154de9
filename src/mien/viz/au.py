"""Action-unit figures for papers: an activation map on a face schematic, an AU x condition heat map and
per-track AU time series.

Each figure draws one :class:`AuScale`: AU presence probabilities in [0, 1] with their presence thresholds
(:data:`PROBABILITY`, the default), or AU intensities on OpenFace's 0-5 scale (the ``AUxx_r`` columns,
measured by the mesh AU model ``aus="mesh"``; :data:`INTENSITY`, no thresholds). One value per AU of
:data:`mien.schema.AUS`. NaN means "not measured" (the expression model has no AU head, or no intensity): a
figure whose AUs are all NaN raises a ``ValueError`` saying so instead of drawing an empty face; a partly
measured input draws the measured AUs and marks the others "n/a". Needs matplotlib (``pip install 'mien[plots]'``); figures are drawn with the
object API on an Agg canvas (pyplot's state is untouched) and written atomically.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mien.schema import ACTION_UNITS, AUS
from mien.video.summary import TrackSummary
from mien.viz.timeline import check_plotting

AU_COLORMAP = "YlOrRd"  # sequential: an inactive AU stays pale, an active one stands out
DEFAULT_THRESHOLD = 0.5

# Centre(s) of each AU's marker on the schematic face (x right, y up, face about 1.8 wide and 2.3 high);
# symmetric AUs appear on both sides.
AU_LOCATIONS: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((-0.2, 0.61), (0.2, 0.61)),       # inner brow
    2: ((-0.56, 0.59), (0.56, 0.59)),     # outer brow
    4: ((0.0, 0.52),),                    # between the brows (glabella)
    5: ((-0.38, 0.44), (0.38, 0.44)),     # upper lids
    6: ((-0.52, 0.0), (0.52, 0.0)),       # cheeks
    7: ((-0.38, 0.2), (0.38, 0.2)),       # lower lids
    9: ((0.0, 0.18),),                    # root of the nose
    12: ((-0.38, -0.41), (0.38, -0.41)),  # lip corners, pulled up
    14: ((-0.6, -0.46), (0.6, -0.46)),    # dimples beside the lip corners
    15: ((-0.36, -0.65), (0.36, -0.65)),  # lip corners, pulled down
    17: ((0.0, -0.95),),                  # chin boss
    20: ((-0.46, -0.53), (0.46, -0.53)),  # lips stretched sideways
    23: ((-0.14, -0.41), (0.14, -0.41)),  # upper lip (tightened)
    24: ((-0.14, -0.61), (0.14, -0.61)),  # lower lip (pressed)
    25: ((0.0, -0.51),),                  # between the lips (parted)
    26: ((-0.48, -0.85), (0.48, -0.85)),  # jaw (dropped)
    27: ((0.0, -0.73),),                  # below the mouth (stretched open)
}
MARKER_RADIUS = 0.06  # face units


@dataclass(frozen=True)
class AuScale:
    """What an AU figure draws: ``name`` (``"probability"``), ``plural`` (``"probabilities"``), values from 0
    to ``vmax``, the range written after the name in labels (``span``, may be empty) and whether presence
    thresholds apply (drawn as lines and heavy outlines)."""

    name: str
    plural: str
    vmax: float
    span: str
    thresholds: bool

    def label(self, note: str = "") -> str:
        """Axis or colour-bar text: ``"probability"``, ``"intensity (0-5)"``, ``"intensity (0-5; 0.5 s mean)"``."""
        details = "; ".join(part for part in (self.span, note) if part)
        return f"{self.name} ({details})" if details else self.name


PROBABILITY = AuScale("probability", "probabilities", 1.0, "", thresholds=True)
INTENSITY = AuScale("intensity", "intensities", 5.0, "0-5", thresholds=False)  # OpenFace's AUxx_r scale
AU_SCALES = {scale.name: scale for scale in (PROBABILITY, INTENSITY)}


def au_scale(scale: AuScale | str) -> AuScale:
    """:data:`PROBABILITY` or :data:`INTENSITY`, given as itself or by name (``"intensity"``)."""
    if isinstance(scale, AuScale):
        return scale
    if scale not in AU_SCALES:
        raise ValueError(f"unknown AU scale {scale!r}; known: {', '.join(AU_SCALES)}")
    return AU_SCALES[scale]


def au_label(au: int) -> str:
    """``"AU12 lip corner puller"``."""
    return f"AU{au} {ACTION_UNITS[au]}"


def au_matrix(probabilities, scale: AuScale | str = PROBABILITY) -> np.ndarray:
    """(N, len(AUS)) float values from a Result, a ``(len(AUS),)`` or ``(N, len(AUS))`` array, or a mapping
    ``{12: 0.8, "AU06": 0.4, "AU04_p": 0.1, "AU25_r": 2.5, ...}`` (missing AUs: NaN). From a Result: its
    ``au_probs`` for :data:`PROBABILITY`, its ``AUxx_r`` columns (``Result.au_intensity``) for
    :data:`INTENSITY` (ValueError when it has none)."""
    scale = au_scale(scale)
    if scale is INTENSITY and hasattr(probabilities, "au_intensity"):
        probabilities = probabilities.au_intensity
        if probabilities is None:
            raise ValueError("AU intensity not measured: the Result has no AUxx_r columns (only the mesh AU "
                             "model, aus='mesh', measures intensity)")
    elif hasattr(probabilities, "au_probs"):
        probabilities = probabilities.au_probs
    if isinstance(probabilities, Mapping):
        row = np.full(len(AUS), np.nan)
        for key, value in probabilities.items():
            row[AUS.index(_au_number(key))] = float(value)
        return row[None]
    matrix = np.asarray(probabilities, np.float64)
    if matrix.ndim == 1:
        matrix = matrix[None]
    if matrix.ndim != 2 or matrix.shape[1] != len(AUS):
        raise ValueError(f"expected {len(AUS)} AU {scale.plural} per face (mien.schema.AUS), got shape {matrix.shape}")
    return matrix


def _au_number(key) -> int:
    text = str(key).upper().removeprefix("AU").removesuffix("_P").removesuffix("_R")
    if not text.isdigit() or int(text) not in ACTION_UNITS:
        raise ValueError(f"unknown action unit {key!r}; known: {', '.join(f'AU{au:02d}' for au in AUS)}")
    return int(text)


def mean_probabilities(matrix: np.ndarray, scale: AuScale | str = PROBABILITY) -> np.ndarray:
    """(len(AUS),) mean over the measured faces (of probabilities or, with ``scale``, intensities); raises
    ValueError when no AU was measured at all."""
    scale = au_scale(scale)
    measured = np.isfinite(matrix)
    if not measured.any():
        why = "the expression model has no AU head" if scale.thresholds else "only aus='mesh' measures intensity"
        raise ValueError(f"AU not measured: the {scale.plural} are empty or all NaN ({why})")
    counts = measured.sum(axis=0)
    sums = np.where(measured, matrix, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(len(AUS), np.nan), where=counts > 0)


def threshold_vector(thresholds, source=None) -> np.ndarray:
    """(len(AUS),) presence thresholds: given (scalar, sequence or mapping like probabilities), else the
    Result's ``metadata["au_thresholds"]``, else 0.5."""
    if thresholds is None and source is not None and hasattr(source, "metadata"):
        thresholds = source.metadata.get("au_thresholds")
    if thresholds is None:
        return np.full(len(AUS), DEFAULT_THRESHOLD)
    if np.isscalar(thresholds):
        return np.full(len(AUS), float(thresholds))
    vector = au_matrix(thresholds)[0]
    return np.where(np.isnan(vector), DEFAULT_THRESHOLD, vector)


def au_face_figure(probabilities, title: str | None = None, thresholds=None, scale: AuScale | str = PROBABILITY):
    """A figure: AU values drawn at their places on a face schematic (fill colour = value; with
    probabilities, heavy outline = at or above threshold) beside a bar chart of the 17 values (with the
    thresholds, for probabilities).

    ``probabilities``: one face (a Result row, a ``(17,)`` array, a mapping) or many faces (a Result, an
    ``(N, 17)`` array), drawn as their mean over the measured faces. ``thresholds``: scalar, 17 values or a
    mapping; default the Result's ``metadata["au_thresholds"]`` or 0.5. ``scale``: :data:`PROBABILITY`
    (0-1) or :data:`INTENSITY` (0-5, a Result's ``AUxx_r``; no thresholds). Raises ValueError when no AU
    was measured."""
    check_plotting()
    scale = au_scale(scale)
    matrix = au_matrix(probabilities, scale)
    mean = mean_probabilities(matrix, scale)
    limits = threshold_vector(thresholds, probabilities) if scale.thresholds else None
    faces = int(np.isfinite(matrix).any(axis=1).sum())
    figure, canvas_axes = agg_figure((11, 5.2), 1, 2, width_ratios=[1, 1.15])
    face_axis, bar_axis = canvas_axes
    colours = _colour_map()
    _draw_face_schematic(face_axis)
    _draw_au_markers(face_axis, mean, limits, colours, scale)
    _add_colorbar(figure, colours, face_axis, f"AU {scale.label()}", scale.vmax)
    _draw_probability_bars(bar_axis, mean, limits, colours, scale)
    subtitle = f"mean of {faces} faces" if faces > 1 else "one face"
    figure.suptitle(f"{title} ({subtitle})" if title else f"Action units ({subtitle})")
    figure.tight_layout()
    return figure


def au_heatmap_figure(matrix, row_labels: Sequence[str], title: str | None = None,
                      scale: AuScale | str = PROBABILITY):
    """A figure: an AU x condition (or track) heat map. ``matrix``: (rows, 17) probabilities in [0, 1] (or,
    with ``scale=INTENSITY``, intensities on the 0-5 scale), one row per label in ``row_labels`` (e.g. the
    mean per condition); NaN cells are grey ("n/a"). Raises ValueError on a shape mismatch or when nothing
    was measured."""
    check_plotting()
    scale = au_scale(scale)
    matrix = au_matrix(matrix, scale)
    if len(row_labels) != len(matrix):
        raise ValueError(f"{len(row_labels)} row labels for {len(matrix)} rows")
    mean_probabilities(matrix, scale)  # raises when nothing was measured
    rows = len(matrix)
    figure, (axis,) = agg_figure((11, 1.6 + 0.38 * rows), 1, 1)
    colours = _colour_map()
    image = axis.imshow(np.ma.masked_invalid(matrix), cmap=colours, vmin=0, vmax=scale.vmax, aspect="auto")
    if rows * len(AUS) <= 600:  # values stay legible up to ~35 rows
        for (row, column), value in np.ndenumerate(matrix):
            text = "n/a" if np.isnan(value) else f"{value:.2f}"
            axis.text(column, row, text, ha="center", va="center", fontsize=7,
                      color="white" if value > 0.6 * scale.vmax else "black")
    axis.set_xticks(range(len(AUS)), [f"AU{au}\n{_short_name(au)}" for au in AUS], fontsize=7)
    axis.set_yticks(range(rows), list(row_labels), fontsize=8)
    axis.set_facecolor("0.85")
    figure.colorbar(image, ax=axis, fraction=0.03, pad=0.01, label=f"AU {scale.label()}")
    axis.set_title(title or f"Action unit {scale.name}")
    figure.tight_layout()
    return figure


def track_au_series_figure(summary: TrackSummary, track: int, aus: Sequence[int] | None = None,
                           thresholds=None, title: str | None = None, smooth: float = 0.0,
                           scale: AuScale | str = PROBABILITY):
    """A figure of one track's AU values over time (x = seconds): a heat strip of all 17 AUs (as kept in
    the summary), then one line per AU in ``aus`` (default: the 5 with the highest mean), averaged over a
    centred window of ``smooth`` seconds (0: as kept). ``scale``: :data:`PROBABILITY` (the summary's
    ``au_series``, 0-1, thresholds dashed) or :data:`INTENSITY` (its ``au_intensity_series``, 0-5, no
    thresholds). Needs a summary built with ``keep_series=True``; raises ValueError when the track's AUs
    were not measured."""
    check_plotting()
    scale = au_scale(scale)
    times = summary.times(track)
    if not len(times):
        raise ValueError(f"track {track} has no series: build the TrackSummary with keep_series=True")
    series = summary.au_series(track) if scale.thresholds else summary.au_intensity_series(track)
    matrix = series.astype(np.float64)
    mean = mean_probabilities(matrix, scale)
    limits = threshold_vector(thresholds)
    chosen = list(aus) if aus is not None else _most_active(mean, 5)
    for au in chosen:
        _au_number(au)
    figure, (strip, lines) = agg_figure((11, 6.2), 2, 1, height_ratios=[1.25, 1], sharex=True)
    colours = _colour_map()
    edges = _time_edges(times)
    image = strip.pcolormesh(edges, np.arange(len(AUS) + 1) - 0.5, np.ma.masked_invalid(matrix.T), cmap=colours,
                             vmin=0, vmax=scale.vmax, shading="flat")
    strip.set_yticks(range(len(AUS)), [f"AU{au}" for au in AUS], fontsize=7)
    strip.invert_yaxis()
    strip.set_facecolor("0.85")
    # an inset colour bar keeps the strip as wide as the line panel below it, so their time axes align
    figure.colorbar(image, cax=strip.inset_axes([1.01, 0.0, 0.015, 1.0]), label=scale.label())
    curves = moving_average(times, matrix, smooth)
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
    for k, au in enumerate(chosen):
        index = AUS.index(_au_number(au))
        colour = palette[k % len(palette)]
        lines.plot(times, curves[:, index], color=colour, linewidth=1.5, label=au_label(AUS[index]))
        if scale.thresholds:
            lines.axhline(limits[index], color=colour, linestyle="--", linewidth=0.8, alpha=0.7)
    lines.set_ylim(0, scale.vmax)
    lines.set_ylabel(scale.label(f"{smooth:g} s mean" if smooth > 0 else ""))
    lines.set_xlabel("time (s)")
    lines.grid(alpha=0.3)
    lines.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                 title="dashed: threshold" if scale.thresholds else None, title_fontsize=7)
    strip.set_xlim(edges[0], edges[-1])
    strip.set_title(title or f"{Path(summary.source).name}, track {track}: action units over {len(times)} frames")
    figure.tight_layout()
    return figure


def moving_average(times: np.ndarray, values: np.ndarray, window: float) -> np.ndarray:
    """Mean of the finite ``values`` (rows = samples at sorted ``times``, seconds) within ``window / 2``
    seconds either side of each sample; NaN where there is none. ``window <= 0`` returns ``values``."""
    values = np.asarray(values, np.float64)
    if window <= 0:
        return values
    times = np.asarray(times, np.float64)
    low = np.searchsorted(times, times - window / 2, "left")
    high = np.searchsorted(times, times + window / 2, "right")
    finite = np.isfinite(values)
    zero = np.zeros((1,) + values.shape[1:])
    sums = np.concatenate([zero, np.cumsum(np.where(finite, values, 0.0), axis=0)])
    counts = np.concatenate([zero, np.cumsum(finite, axis=0)])
    total, count = sums[high] - sums[low], counts[high] - counts[low]
    return np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)


# ----------------------------------------------------------------- drawing helpers
def agg_figure(size: tuple[float, float], rows: int, columns: int, **grid):
    """A Figure on its own Agg canvas and its axes (rows x columns, flattened); ``grid``: gridspec options
    and ``sharex``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    sharex = grid.pop("sharex", False)
    axes = figure.subplots(rows, columns, squeeze=False, sharex=sharex, gridspec_kw=grid or None)
    return figure, list(axes.ravel())


def _colour_map():
    import matplotlib

    return matplotlib.colormaps[AU_COLORMAP]


def _add_colorbar(figure, colours, axis, label: str, vmax: float = 1.0) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    figure.colorbar(ScalarMappable(Normalize(0, vmax), colours), ax=axis, fraction=0.04, pad=0.02, label=label)


def _short_name(au: int) -> str:
    """The AU's name wrapped to fit under a heat-map column ("lip corner\npuller")."""
    return textwrap.fill(ACTION_UNITS[au], 10)


def _most_active(mean: np.ndarray, count: int) -> list[int]:
    order = np.argsort(np.where(np.isnan(mean), -1, mean))[::-1]
    return [AUS[i] for i in order[:count] if not np.isnan(mean[i])]


def _time_edges(times: np.ndarray) -> np.ndarray:
    """Cell edges around each sample time (half-way between neighbours) for a heat strip."""
    times = np.asarray(times, np.float64)
    if len(times) == 1:
        return np.array([times[0] - 0.5, times[0] + 0.5])
    middle = (times[:-1] + times[1:]) / 2
    return np.concatenate([[2 * times[0] - middle[0]], middle, [2 * times[-1] - middle[-1]]])


def _draw_face_schematic(axis) -> None:
    from matplotlib.patches import Circle, Ellipse

    line = {"color": "0.35", "linewidth": 1.6, "solid_capstyle": "round"}
    axis.add_patch(Ellipse((0, -0.05), 1.8, 2.3, facecolor="#f7f3ee", edgecolor="0.35", linewidth=2))
    for side in (-1, 1):
        brow_x = np.linspace(0.14, 0.62, 20)
        axis.plot(side * brow_x, 0.62 - 1.0 * (brow_x - 0.38) ** 2, **line)
        axis.add_patch(Ellipse((side * 0.38, 0.33), 0.3, 0.13, facecolor="white", edgecolor="0.35", linewidth=1.4))
        axis.add_patch(Circle((side * 0.38, 0.33), 0.035, color="0.3"))
        axis.plot([side * 0.05, side * 0.09], [0.27, -0.06], **line)  # nose bridge
    axis.plot([-0.09, -0.15, -0.06, 0, 0.06, 0.15, 0.09], [-0.06, -0.16, -0.2, -0.17, -0.2, -0.16, -0.06], **line)
    lip_x = np.linspace(-0.3, 0.3, 40)
    axis.plot(lip_x, -0.5 + 0.07 * (1 - (lip_x / 0.3) ** 2) * (1 - 0.6 * np.cos(np.pi * lip_x / 0.15) ** 2), **line)
    axis.plot(lip_x, -0.5 - 0.1 * (1 - (lip_x / 0.3) ** 2), **line)
    axis.plot(lip_x, -0.5 - 0.01 * (1 - (lip_x / 0.3) ** 2), color="0.35", linewidth=1)
    axis.set_xlim(-1.05, 1.05)
    axis.set_ylim(-1.3, 1.15)
    axis.set_aspect("equal")
    axis.axis("off")


def _draw_au_markers(axis, mean: np.ndarray, limits: np.ndarray | None, colours, scale: AuScale) -> None:
    """``limits``: presence thresholds (heavy outlines), or None for a scale without them."""
    from matplotlib.patches import Circle

    for index, au in enumerate(AUS):
        value = mean[index]
        active = limits is not None and not np.isnan(value) and value >= limits[index]
        fill = "0.8" if np.isnan(value) else colours(value / scale.vmax)
        for x, y in AU_LOCATIONS[au]:
            axis.add_patch(Circle((x, y), MARKER_RADIUS, facecolor=fill, zorder=3,
                                  edgecolor="black" if active else "0.45", linewidth=2.2 if active else 0.7))
            axis.text(x, y, "n/a" if np.isnan(value) else str(au), ha="center", va="center", zorder=4,
                      fontsize=6.5 if np.isnan(value) else 7.5, fontweight="bold" if active else "normal",
                      color="white" if not np.isnan(value) and value > 0.65 * scale.vmax else "black")
    legend = "heavy outline = at or above threshold" if limits is not None else f"colour = {scale.label()}"
    axis.text(0, -1.28, f"number = AU; {legend}", ha="center", va="bottom", fontsize=8, color="0.3")


def _draw_probability_bars(axis, mean: np.ndarray, limits: np.ndarray | None, colours, scale: AuScale) -> None:
    """Bars of the 17 values; with ``limits`` (probabilities), the thresholds in black and the values at or
    above them written; without (intensities), every measured value written."""
    rows = np.arange(len(AUS))
    values = np.nan_to_num(mean, nan=0.0)
    axis.barh(rows, values, color=[colours(v / scale.vmax) for v in values], edgecolor="0.4", linewidth=0.5)
    uniform = limits is not None and np.all(limits == limits[0])
    if uniform:
        axis.axvline(limits[0], color="black", linestyle="--", linewidth=1.2)
    for row, value in enumerate(mean):
        limit = None if limits is None else limits[row]
        if limit is not None and not uniform:
            axis.plot([limit, limit], [row - 0.42, row + 0.42], color="black", linewidth=1.4)
        if np.isnan(value):
            axis.text(0.01 * scale.vmax, row, "n/a (not measured)", va="center", fontsize=7, color="0.4")
        elif limit is None or value >= limit:
            axis.text(value + 0.01 * scale.vmax, row, f"{value:.2f}", va="center", fontsize=7,
                      fontweight="normal" if limit is None else "bold")
    axis.set_yticks(rows, [au_label(au) for au in AUS], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1.08 * scale.vmax)
    axis.set_xticks(np.linspace(0, scale.vmax, 6))
    axis.set_xlabel(scale.label("black: presence threshold" if limits is not None else ""))
    axis.grid(axis="x", alpha=0.3)
