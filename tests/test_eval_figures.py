"""The plotly figure builders return figures with the traces the Results page relies on."""

import numpy as np
import plotly.graph_objects as go

from dptab_core.eval import figures


def _images(n: int, value: int) -> np.ndarray:
    return np.full((n, 4, 4, 3), value, dtype=np.uint8)


def test_one_way_marginal_has_a_real_and_a_synthetic_bar_per_value():
    fig = figures.marginal_1way_figure(np.array([0, 0, 1]), np.array([1, 2, 2]), ["a", "b", "c"], column="x")
    assert isinstance(fig, go.Figure)
    assert [type(t).__name__ for t in fig.data] == ["Bar", "Bar"]
    np.testing.assert_allclose(fig.data[0].y, [2 / 3, 1 / 3, 0.0])
    assert list(fig.data[1].x) == ["a", "b", "c"]


def test_two_way_marginal_draws_two_heatmaps_on_one_colour_scale():
    real = (np.array([0, 1]), np.array([0, 1]))
    fig = figures.marginal_2way_figure(real, real, (["a", "b"], ["u", "v"]), columns=("x", "y"))
    assert [type(t).__name__ for t in fig.data] == ["Heatmap", "Heatmap"]
    assert fig.data[0].coloraxis == fig.data[1].coloraxis
    np.testing.assert_allclose(np.array(fig.data[0].z), [[0.5, 0.0], [0.0, 0.5]])


def test_association_figure_has_real_and_synthetic_heatmaps():
    fig = figures.association_figure(np.eye(2), np.eye(2), ["x", "y"])
    assert [t.name for t in fig.data] == ["real", "synthetic"]


def test_sample_grid_shows_one_row_per_value_on_both_sides():
    codes = np.array([0, 0, 1, 1])
    fig = figures.sample_grid_figure(
        _images(4, 50), codes, _images(4, 200), codes, ["a", "b", "c"], column="x", per_value=2
    )
    assert [type(t).__name__ for t in fig.data] == ["Image", "Image"]
    assert list(fig.layout.yaxis.ticktext) == ["a", "b"], "values with no image on either side are left out"
    assert np.array(fig.data[0].z).shape == (4 + 2 + 4, 4 + 2 + 4, 3)


def test_conditioned_means_and_closest_pairs_are_image_traces():
    means = np.zeros((3, 4, 4, 3))
    assert type(figures.conditioned_means_figure(means, means, ["a", "b", "c"], column="x").data[0]).__name__ == "Image"
    fig = figures.closest_pairs_figure(_images(3, 10), _images(5, 20), [[0, 4, 0.1], [2, 1, 0.3]])
    assert list(fig.layout.xaxis.ticktext) == ["d=0.10", "d=0.30"]


def test_mosaic_turns_grayscale_into_rgb_with_gaps():
    tiles = np.zeros((2, 3, 4, 4, 1), dtype=np.uint8)
    out = figures.mosaic(tiles)
    assert out.shape == (2 * 4 + figures.PAD, 3 * 4 + 2 * figures.PAD, 3)
    assert out[4, 0, 0] == 255, "the gap between rows must be white"


def test_metric_vs_epsilon_has_one_line_per_method_sorted_by_epsilon():
    rows = [
        {"method": m, "epsilon": e, "tvd": v}
        for m, e, v in [("ours", 10, 0.1), ("ours", 1, 0.3), ("independent", 1, 0.5), ("independent", 10, 0.4)]
    ]
    fig = figures.metric_vs_epsilon_figure(rows, metric="tvd")
    assert [t.name for t in fig.data] == ["ours", "independent"]
    assert list(fig.data[0].x) == [1, 10] and list(fig.data[0].y) == [0.3, 0.1]
    assert len(fig.layout.shapes) == 0, "no current-plan line unless asked"
