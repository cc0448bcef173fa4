"""Plotly figures and pictures the app draws from *public* numbers: plans, job progress, noise.

Nothing here reads private data. The noise pictures show what noise of a planned size does to a
public example (a demo column's shape scaled to the user's n, a smooth synthetic image), with a fixed
noise seed and fixed axes, so two ε values can be compared by eye: only the noise *scale* changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

NOISE_SEED = 20_240_601
"""One fixed draw of standard-normal noise, rescaled per plan: moving ε changes only its size."""

CALM = ["#2f6fdf", "#5aa469", "#e0a030", "#b05fc0", "#d0604f", "#3fa7b5"]


def _layout(fig: go.Figure, *, height: int = 260, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title=title,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def split_bar(shares: Mapping[str, float], labels: Mapping[str, str]) -> go.Figure:
    """One horizontal stacked bar: how the budget is split between the enabled stages (in %)."""
    fig = go.Figure()
    for i, (stage, share) in enumerate(shares.items()):
        fig.add_bar(
            y=["budget"],
            x=[100 * share],
            orientation="h",
            name=labels.get(stage, stage),
            marker_color=CALM[i % len(CALM)],
            text=f"{labels.get(stage, stage)} {100 * share:.0f}%",
            textposition="inside",
            hovertemplate="%{x:.1f}%<extra>" + labels.get(stage, stage) + "</extra>",
        )
    fig.update_layout(barmode="stack", showlegend=False)
    fig.update_xaxes(range=[0, 100], ticksuffix="%")
    fig.update_yaxes(visible=False)
    return _layout(fig, height=110)


def noisy_histogram(*, labels: Sequence[str], proportions: Sequence[float], n_rows: int, sigma: float) -> go.Figure:
    """A column's counts for ``n_rows`` rows, without and with Gaussian noise of std ``sigma``.

    The y axis depends only on the true counts, never on the noise, so the same column drawn for two
    plans shows the difference in noise directly.
    """
    counts = np.asarray(proportions, dtype=float) * n_rows
    noise = np.random.default_rng(NOISE_SEED).standard_normal(len(counts))
    noisy = counts + sigma * noise
    top = float(counts.max()) * 1.6 or 1.0
    fig = go.Figure()
    fig.add_bar(x=list(labels), y=counts, name="true counts", marker_color="#9bb7e8")
    fig.add_bar(x=list(labels), y=noisy, name=f"with noise (σ = {sigma:,.1f} rows)", marker_color="#2f6fdf")
    fig.update_yaxes(range=[-0.4 * top, top], title="rows")
    fig.update_layout(barmode="group")
    return _layout(fig, height=280)


def smooth_public_image(size: int = 32) -> np.ndarray:
    """A smooth synthetic RGB picture (a soft face-like shape) in [0, 1]: public by construction."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1

    def blob(cx: float, cy: float, r: float) -> np.ndarray:
        return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r**2))

    face = np.clip(1.6 * blob(0, 0, 0.45), 0, 1)
    features = blob(-0.3, -0.2, 0.09) + blob(0.3, -0.2, 0.09) + 0.8 * blob(0, 0.35, 0.12)
    img = np.stack([0.25 + 0.65 * face, 0.3 + 0.45 * face, 0.45 + 0.25 * face], axis=-1)
    img -= 0.5 * np.clip(features, 0, 1)[..., None] * face[..., None]
    return np.clip(img, 0, 1)


def noisy_image(image: np.ndarray, *, pixel_sigma: float) -> np.ndarray:
    """``image`` plus Gaussian noise of std ``pixel_sigma`` per pixel (fixed seed), clipped to [0, 1]."""
    noise = np.random.default_rng(NOISE_SEED).standard_normal(image.shape)
    return np.clip(image + pixel_sigma * noise, 0, 1)


def epsilon_progress(times: Sequence[float], spent: Sequence[float], *, planned: float) -> go.Figure:
    """ε spent so far (a line over minutes since start) against the planned total (a dashed line)."""
    fig = go.Figure()
    fig.add_scatter(
        x=list(times), y=list(spent), mode="lines+markers", name="ε spent", line_shape="hv", marker_color="#2f6fdf"
    )
    fig.add_hline(y=planned, line_dash="dash", line_color="#d0604f", annotation_text=f"planned ε = {planned:g}")
    fig.update_xaxes(title="minutes since start", rangemode="tozero")
    fig.update_yaxes(title="ε", range=[0, planned * 1.15])
    return _layout(fig, height=240)


def epsilon_sweep(
    points: Sequence[Mapping[str, float]], *, x: str, y: str, current: float | None, y_title: str
) -> go.Figure:
    """A metric against ε on a log axis, with the current plan's ε marked."""
    fig = go.Figure()
    xs = [p[x] for p in points]
    fig.add_scatter(x=xs, y=[p[y] for p in points], mode="lines+markers", marker_color="#2f6fdf", name=y_title)
    if current is not None:
        fig.add_vline(x=current, line_dash="dash", line_color="#d0604f", annotation_text=f"your plan: ε = {current:g}")
    fig.update_xaxes(type="log", title="ε (log scale)")
    fig.update_yaxes(title=y_title)
    return _layout(fig, height=300)
