"""Plotly figure builders for the Results page and the HTML report: real vs synthetic, side by side.

Each builder takes plain arrays (codes, uint8 images, metric rows) and returns a ``go.Figure``; none
reads files or computes metrics, so the page stays a storyboard and the report reuses the same
pictures. Real data appears in these figures: they are the data owner's view, never part of the
release. Colours: real is always blue, synthetic always orange.

>>> fig = marginal_1way_figure(np.array([0, 1, 1]), np.array([1, 1, 1]), ["a", "b"], column="x")
>>> [t.name for t in fig.data]
['real', 'synthetic']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dptab_core.eval.table_metrics import histogram, joint_histogram

REAL_COLOUR, SYNTHETIC_COLOUR = "#1f77b4", "#ff7f0e"
PAD = 2
"""Pixels of white between tiles of an image mosaic."""


def marginal_1way_figure(real: np.ndarray, synthetic: np.ndarray, labels: Sequence[str], *, column: str) -> go.Figure:
    """Grouped bars: share of rows per value of one column, real vs synthetic."""
    size = len(labels)
    fig = go.Figure(
        [
            go.Bar(name="real", x=list(labels), y=histogram(real, size), marker_color=REAL_COLOUR),
            go.Bar(name="synthetic", x=list(labels), y=histogram(synthetic, size), marker_color=SYNTHETIC_COLOUR),
        ]
    )
    fig.update_layout(
        barmode="group", title=f"{column}: share of rows per value", yaxis_title="share of rows", xaxis_title=column
    )
    return fig


def marginal_2way_figure(
    real: tuple[np.ndarray, np.ndarray],
    synthetic: tuple[np.ndarray, np.ndarray],
    labels: tuple[Sequence[str], Sequence[str]],
    *,
    columns: tuple[str, str],
) -> go.Figure:
    """Two heatmaps (real, synthetic) of the joint share of rows of two columns, on one colour scale."""
    (la, lb), (ca, cb) = labels, columns
    joints = [joint_histogram(a, b, len(la), len(lb)) for a, b in (real, synthetic)]
    top = max(float(j.max()) for j in joints) or 1.0
    fig = make_subplots(rows=1, cols=2, subplot_titles=("real", "synthetic"), shared_yaxes=True)
    for col, (name, joint) in enumerate(zip(("real", "synthetic"), joints, strict=True), start=1):
        fig.add_trace(
            go.Heatmap(z=joint, x=list(lb), y=list(la), zmin=0, zmax=top, name=name, coloraxis="coloraxis"),
            row=1,
            col=col,
        )
    fig.update_layout(title=f"{ca} × {cb}: joint share of rows", coloraxis={"colorscale": "Viridis"})
    fig.update_xaxes(title_text=cb)
    fig.update_yaxes(title_text=ca, col=1)
    return fig


def association_figure(real: np.ndarray, synthetic: np.ndarray, names: Sequence[str]) -> go.Figure:
    """Two heatmaps of the column association matrices (Cramér's V), real vs synthetic."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("real", "synthetic"), shared_yaxes=True)
    for col, (name, matrix) in enumerate(zip(("real", "synthetic"), (real, synthetic), strict=True), start=1):
        fig.add_trace(
            go.Heatmap(z=matrix, x=list(names), y=list(names), zmin=0, zmax=1, name=name, coloraxis="coloraxis"),
            row=1,
            col=col,
        )
    fig.update_layout(title="Association between columns (Cramér's V)", coloraxis={"colorscale": "Blues"})
    return fig


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """Tile a ``(rows, cols, H, W, C)`` array of images into one RGB uint8 picture with white gaps."""
    rows, cols, h, w, c = tiles.shape
    tiles = np.repeat(tiles, 3, axis=-1) if c == 1 else tiles
    out = np.full((rows * (h + PAD) - PAD, cols * (w + PAD) - PAD, 3), 255, dtype=np.uint8)
    for i in range(rows):
        for j in range(cols):
            out[i * (h + PAD) : i * (h + PAD) + h, j * (w + PAD) : j * (w + PAD) + w] = tiles[i, j]
    return out


def _grid_by_value(
    images: np.ndarray, codes: np.ndarray, values: Sequence[int], per_value: int, rng: np.random.Generator
) -> np.ndarray:
    blank = np.full(images.shape[1:], 255, dtype=np.uint8)
    rows = []
    for value in values:
        idx = np.flatnonzero(codes == value)
        chosen = rng.choice(idx, size=min(per_value, len(idx)), replace=False) if len(idx) else idx
        rows.append([images[i] for i in chosen] + [blank] * (per_value - len(chosen)))
    return np.array(rows, dtype=np.uint8)


def _side_by_side_images(
    pictures: Sequence[np.ndarray], titles: Sequence[str], row_labels: Sequence[str], tile_height: int, title: str
) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(pictures), subplot_titles=list(titles), horizontal_spacing=0.04)
    for col, (name, picture) in enumerate(zip(titles, pictures, strict=True), start=1):
        fig.add_trace(go.Image(z=picture, name=name, hoverinfo="skip"), row=1, col=col)
    centres = [i * (tile_height + PAD) + tile_height / 2 for i in range(len(row_labels))]
    fig.update_yaxes(tickvals=centres, ticktext=list(row_labels), col=1)
    fig.update_yaxes(showticklabels=False, col=2)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, height=max(250, 60 * len(row_labels) + 120))
    return fig


GRID_PER_VALUE = 8
"""Images per value and side in the sample grids: with 8 a person can see by eye whether images of one
value vary or repeat one average (issue 13)."""


def sample_grid_figure(
    real_images: np.ndarray,
    real_codes: np.ndarray,
    synthetic_images: np.ndarray,
    synthetic_codes: np.ndarray,
    labels: Sequence[str],
    *,
    column: str,
    per_value: int = GRID_PER_VALUE,
    seed: int = 0,
) -> go.Figure:
    """Real and synthetic images side by side, one row per value of ``column`` (rows with no image: blank)."""
    values = [v for v in range(len(labels)) if np.any(real_codes == v) or np.any(synthetic_codes == v)]
    rng = np.random.default_rng(seed)
    pictures = [
        mosaic(_grid_by_value(imgs, codes, values, per_value, rng))
        for imgs, codes in ((real_images, real_codes), (synthetic_images, synthetic_codes))
    ]
    return _side_by_side_images(
        pictures, ("real", "synthetic"), [labels[v] for v in values], real_images.shape[1], f"Images by {column}"
    )


def conditioned_means_figure(
    real_means: np.ndarray, synthetic_means: np.ndarray, labels: Sequence[str], *, column: str
) -> go.Figure:
    """Mean image per value of ``column``: real means on the top row, synthetic means below."""
    tiles = np.stack([real_means, synthetic_means]).clip(0, 255).round().astype(np.uint8)
    fig = go.Figure(go.Image(z=mosaic(tiles), name="means", hoverinfo="skip"))
    h, w = real_means.shape[1:3]
    fig.update_xaxes(tickvals=[j * (w + PAD) + w / 2 for j in range(len(labels))], ticktext=list(labels))
    fig.update_yaxes(tickvals=[h / 2, h + PAD + h / 2], ticktext=["real", "synthetic"])
    fig.update_layout(title=f"Mean image for each value of {column}", height=320)
    return fig


def closest_pairs_figure(
    synthetic_images: np.ndarray, real_images: np.ndarray, pairs: Sequence[Sequence[float]]
) -> go.Figure:
    """The synthetic images nearest to a real training image (top) above that real image (bottom)."""
    syn = np.array([synthetic_images[int(i)] for i, _, _ in pairs])
    real = np.array([real_images[int(j)] for _, j, _ in pairs])
    fig = go.Figure(go.Image(z=mosaic(np.stack([syn, real])), name="closest pairs", hoverinfo="skip"))
    h, w = syn.shape[1:3]
    fig.update_xaxes(
        tickvals=[j * (w + PAD) + w / 2 for j in range(len(pairs))], ticktext=[f"d={d:.2f}" for _, _, d in pairs]
    )
    fig.update_yaxes(tickvals=[h / 2, h + PAD + h / 2], ticktext=["synthetic", "nearest real"])
    fig.update_layout(title="Closest synthetic–real pairs (memorisation check)", height=320)
    return fig


def metric_vs_epsilon_figure(
    rows: Sequence[dict], *, metric: str, current_epsilon: float | None = None, metric_label: str | None = None
) -> go.Figure:
    """One line per method of ``metric`` against ε (log axis); the current plan's ε as a dashed line.

    ``rows``: ``{"method", "epsilon", metric: value}`` dicts, e.g. from an ε sweep. A row whose ε is
    ``None`` is a non-private reference (ε = ∞): it has no place on the ε axis, so it is drawn as a
    dotted horizontal line labelled NOT PRIVATE, the ceiling the private methods approach.

    >>> rows = [{"method": "dp-tabimage", "epsilon": e, "tvd": 1 / e} for e in (1, 10)]
    >>> rows.append({"method": "non-private", "epsilon": None, "tvd": 0.01})
    >>> fig = metric_vs_epsilon_figure(rows, metric="tvd", current_epsilon=3.0)
    >>> [t.name for t in fig.data], len(fig.layout.shapes)
    (['dp-tabimage'], 2)
    """
    fig = go.Figure()
    private = [r for r in rows if r.get("epsilon") is not None]
    for method in dict.fromkeys(r["method"] for r in private):
        points = sorted(
            (r["epsilon"], r[metric]) for r in private if r["method"] == method and r.get(metric) is not None
        )
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=method))
    for reference in (r for r in rows if r.get("epsilon") is None and r.get(metric) is not None):
        fig.add_hline(
            y=reference[metric],
            line_dash="dot",
            line_color="black",
            annotation_text=f"{reference['method']} (NOT PRIVATE, ε = ∞)",
            annotation_position="top left",
        )
    if current_epsilon is not None:
        # no annotation_text: annotations on a log axis take log10 positions, shapes take data values
        fig.add_vline(x=current_epsilon, line_dash="dash", line_color="grey")
    note = " (dashed: current plan)" if current_epsilon is not None else ""
    fig.update_layout(
        title=f"{metric_label or metric} vs ε{note}",
        xaxis_title="ε",
        yaxis_title=metric_label or metric,
        xaxis_type="log",
    )
    return fig
