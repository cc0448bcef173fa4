"""Every tunable number of the table synthesizers, in named presets, each with its reason.

The privacy-relevant split fractions live here too, so the budget page, the report and the tests
read the same values the mechanisms use.

>>> PRESETS["fast"].aim.time_cap_s < PRESETS["default"].aim.time_cap_s
True
>>> sum(MSTSettings().budget_fractions)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MSTSettings:
    """MST (McKenna, Miklau & Sheldon 2021): 1-way marginals, a private max-spanning tree, 2-way marginals."""

    budget_fractions: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    """ρ shares of (1-way measurements, tree selection, 2-way measurements): the published thirds."""
    compress_threshold: float = 3.0
    """Codes with a noisy count below this many σ are merged: at 3σ a kept code is almost surely real."""
    select_iters: int = 200
    """Mirror-descent steps of the 1-way-only model that scores the tree edges; a product of
    independent marginals converges in far fewer than the final fit needs."""
    final_iters: int = 2500
    """Mirror-descent steps of the final tree model (private-pgm's reference runs 5,000 at mbi 1.x
    speed; with mbi 2.0's line search 2,500 reaches the same 2-way TVD on Adult)."""


@dataclass(frozen=True)
class AIMSettings:
    """AIM (McKenna et al. 2022): rounds of select-the-worst-marginal then measure it, σ annealed."""

    max_model_size_mb: float = 10.0
    """Cap on the junction-tree size: larger models fit better but each round's estimate slows
    with model size; 10 MB is the size the reference benchmark (and the README figures) use."""
    max_rounds: int | None = None
    """Cap on selection rounds; ``None`` means AIM's own planned count, 16 × number of columns.
    When the cap nears, the remaining budget is spread over the rounds left."""
    time_cap_s: float | None = 540.0
    """Wall-clock budget for the *whole* run — 1-ways, rounds, final fit and sampling — so that a run
    ends inside ten minutes on 2 CPU cores with a minute to spare for loading and writing; the
    remaining ρ is spread over the rounds that still fit, and a fit that reaches its deadline stops."""
    rounds_time_share: float = 0.6
    """Share of ``time_cap_s`` after which no new round starts: the rest is the final fit's and the sampler's."""
    sampling_time_share: float = 0.1
    """Share of ``time_cap_s`` kept for sampling rows (no fit may run into it)."""
    max_cliques_per_round: int = 8
    """When a cap binds, up to this many cliques are picked (each by its own exponential mechanism)
    before one refit: when a slow machine fits few rounds in the cap, more, coarser measurements beat
    fewer, finer ones (1 = the published one-per-round)."""
    measure_fraction: float = 0.9
    """Share of each round's ρ spent measuring (the rest selects), as in the published AIM."""
    rounds_per_column: int = 16
    """AIM's planned rounds per column: sets the initial σ and ε; annealing then halves σ when a
    measurement stops improving the model, so the realised number of rounds is usually smaller."""
    round_iters: int = 100
    """Mirror-descent steps per round, warm-started from the previous model: each round adds one
    clique, so a short refit suffices; the reference's 1,000 dominated its run time."""
    final_iters: int = 2500
    """Mirror-descent steps of the final model before sampling (fewer when the time cap's fit deadline
    comes first: the NumPy fit measured ~30 ms a step on a 4 MB Adult model, 2 cores shared)."""
    compress_threshold: float | None = None
    """AIM measures 1-ways with a large σ (its budget is spread over many rounds), so compressing at
    3σ would merge values the later, less noisy rounds can resolve: off unless a threshold is set."""


@dataclass(frozen=True)
class TableSettings:
    """One preset: the settings of each mechanism plus how rows are drawn from the fitted model."""

    name: str
    mst: MSTSettings = field(default_factory=MSTSettings)
    aim: AIMSettings = field(default_factory=AIMSettings)
    sampling_method: str = "round"
    """mbi 2.0's ``round`` (randomized rounding, shuffled within parent groups) matches the model's
    marginals with less sampling noise than i.i.d. ``sample`` (see tests/test_table_sampling.py)."""


PRESETS: dict[str, TableSettings] = {
    "default": TableSettings(name="default"),
    "fast": TableSettings(
        name="fast",
        mst=MSTSettings(select_iters=50, final_iters=300),
        aim=AIMSettings(max_model_size_mb=2.0, max_rounds=24, time_cap_s=60.0, round_iters=50, final_iters=300),
    ),
}
"""``default``: the benchmark settings. ``fast``: demos and tests (smaller model, few rounds,
short fits: seconds on small tables, coarser marginals)."""
