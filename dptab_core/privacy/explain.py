"""Plain words: what each stage's noise means in the user's terms, as data the UI and report show.

Numbers are rounded for reading; the exact parameters are in the plan next to them.

>>> words = stage_plain_words("dpsgd", {"noise_multiplier": 1.2, "sampling_rate": 0.125, "steps": 80,
...     "epochs": 10, "batch_size": 256, "max_grad_norm": 1.0, "sigma": 1.2}, n_rows=2000, standalone_epsilon=0.5)
>>> words[0]
"Each image's gradient is clipped to norm 1, and each step's batch sum gets Gaussian noise of std σ·C = 1.2."
>>> describe_epsilon(1.0).startswith("ε = 1:")
True
"""

from __future__ import annotations

import math
from typing import Any

EPSILON_LEVELS: tuple[tuple[float, str], ...] = (
    (0.5, "very strong privacy: the output barely depends on any one person"),
    (2.0, "strong privacy, the range textbooks recommend"),
    (5.0, "moderate privacy, common for private machine learning in research"),
    (10.0, "weak-to-moderate privacy, in the range of deployed private model training"),
    (math.inf, "a weak formal guarantee: still a bound, but large enough that attacks on unusual people may work"),
)
"""Upper end of each ε band and its description (bands are conventions, not standards)."""

DEPLOYMENTS = (
    "For scale: the US Census Bureau's 2020 redistricting data (P.L. 94-171) used ε = 17.14 for persons and 2.47 "
    "for housing units (19.61 in total, at δ = 10⁻¹⁰), spread over many tables of a whole nation; Apple's on-device "
    "collection uses ε = 2 to 8 per data type per day, under a different (local) model. Comparisons across "
    "deployments are rough: the data, the unit of privacy and δ all differ."
)


def describe_epsilon(epsilon: float) -> str:
    """ε in plain words, with the published deployments for scale.

    >>> describe_epsilon(0.1)[:60]
    'ε = 0.1: any one person changes the chance of any result by '
    """
    factor = math.exp(epsilon)
    factor_text = f"{factor:.3g}" if factor < 1e6 else f"{factor:.1e}"
    band = next(text for limit, text in EPSILON_LEVELS if epsilon <= limit)
    return (
        f"ε = {epsilon:g}: any one person changes the chance of any result by at most a factor "
        f"e^ε ≈ {factor_text} (plus a small probability δ of a larger change), so an observer's odds that a "
        f"given person was in the data can grow by at most that factor. That is {band}. {DEPLOYMENTS}"
    )


def stage_plain_words(
    stage: str,
    params: dict[str, Any],
    *,
    n_rows: int | None,
    standalone_epsilon: float,
    n_columns: int | None = None,
    n_table_cells: int | None = None,
) -> list[str]:
    """Sentences explaining one stage's noise; the last one gives its standalone ε.

    ``n_rows=None`` writes the words for the release (the privacy report in ``bundle.zip``): they
    then state nothing computed from the exact row count, which the release never gives away.
    """
    words = _WRITERS[stage](params, n_rows=n_rows, n_columns=n_columns, n_table_cells=n_table_cells)
    words.append(
        f"On its own this stage would cost ε = {standalone_epsilon:.3g}; composed with the others, "
        "all stages together meet the total."
    )
    return words


def _schema(p: dict[str, Any], **_: Any) -> list[str]:
    words = [
        f"{p['n_paid_columns']} column(s) have no public domain; each gets ρ = {p['rho_per_column']:.3g} "
        "to learn it privately."
    ]
    if "category_threshold" in p:
        words.append(
            f"For a categorical column, each observed category's count gets Gaussian noise with std "
            f"{p['category_noise_std']:.1f}; only categories whose noisy count exceeds "
            f"{p['category_threshold']:.0f} are kept (rarer ones become missing). A category held by a single "
            f"person is released with probability at most {p['partition_delta_per_column']:.1g}."
        )
    words.append(
        f"For a numeric column, a coarse-to-fine histogram over a public grid (0, ±1, 2, 5 × powers of ten) "
        f"gets noise with std {p['histogram_noise_std']:.1f} per count; the bounds are its 1st and 99th "
        f"percentiles and the bins its quantiles, so a stretch of values shows once about "
        f"{p['histogram_threshold']:.0f} rows hold it; values outside the bounds are clipped."
    )
    return words


def _semantic(p: dict[str, Any], **_: Any) -> list[str]:
    return [
        f"Each person votes for {p['top_k']} of {p['n_public_labels']} public labels; every label's vote count "
        f"gets Gaussian noise with std {p['sigma']:.1f}, so a label needs about {3 * p['sigma']:.0f} more votes "
        "than another to reliably rank above it."
    ]


def _mean_pairs(p: dict[str, Any], *, n_rows: int | None, n_columns: int | None, **_: Any) -> list[str]:
    z = p["noise_multiplier"]
    sens = (
        f"S ≈ {p['clip_norm'] * math.sqrt(n_columns):.3g} × √(1 + κ²) (the clip norm × √{n_columns} columns, "
        f"κ the weight of the count that travels with each sum)"
        if n_columns
        else "S (the clip norm × √(number of columns) × √(1 + κ²), since a person's image and weighted count "
        "enter one cell per column)"
    )
    large = max(1, n_rows // 2) if n_rows else 1000  # the release names a round number, never one from n
    words = [
        f"Each image is clipped to L2 norm {p['clip_norm']:g}; every per-value image sum gets Gaussian noise with "
        f"std {z:.3g} × {sens} on each pixel value.",
        f"Averaged over the rows holding a value, that noise shrinks: {z / 100:.3g} × S for a value held by 100 "
        f"rows, {z / large:.3g} × S for one held by {large}.",
    ]
    if p["rounds"] > 1 or p["sampling_rate"] < 1:
        words.append(f"This repeats {p['rounds']} time(s), each on a random {p['sampling_rate']:.0%} of the rows.")
    return words


def _table(
    p: dict[str, Any], *, n_rows: int | None, n_columns: int | None, n_table_cells: int | None, **_: Any
) -> list[str]:
    one = 1.0 / math.sqrt(2.0 * p["rho"])
    out_of = f" (out of {n_rows} rows)" if n_rows else ""
    words = [
        f"The table synthesizer gets ρ = {p['rho']:.3g}: spent on a single count, that count would get "
        f"Gaussian noise with std {one:.1f}{out_of}."
    ]
    if n_columns:
        k = 2 * n_columns - 1
        per = one * math.sqrt(k)
        cells = f" of ~{n_rows / n_table_cells:.0f} rows" if n_table_cells and n_rows else ""
        words.append(
            f"Spread evenly over ~{k} marginals (one per column and one per linked pair, as MST measures), "
            f"each 2-way count{cells} gets noise with std ≈ {per:.1f}."
        )
    return words


def _dpsgd(p: dict[str, Any], *, n_rows: int | None, **_: Any) -> list[str]:
    # The release states the configured batch size, not rate × n (which would give n away).
    expected_batch = p["sampling_rate"] * n_rows if n_rows else float(p["batch_size"])
    about = "" if n_rows else "at most "
    return [
        f"Each image's gradient is clipped to norm {p['max_grad_norm']:g}, and each step's batch sum gets "
        f"Gaussian noise of std σ·C = {p['sigma']:.3g}.",
        f"Each step uses a random batch (each row with probability {p['sampling_rate']:.3g}, {about}~"
        f"{expected_batch:.0f} rows on average), {p['steps']} steps in all ({p['epochs']} epochs); the noise on the "
        f"averaged gradient is about {p['noise_multiplier'] / max(1.0, expected_batch):.3g} × C per coordinate.",
    ]


_WRITERS = {"schema": _schema, "semantic_query": _semantic, "mean_pairs": _mean_pairs, "table": _table, "dpsgd": _dpsgd}
