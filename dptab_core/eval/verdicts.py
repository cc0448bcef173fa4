"""Every evaluation number with a baseline and a plain verdict: good, weak or red flag.

A bare number misleads: "useful for prediction 72 %" sounds fine until one learns that always
guessing the most common value scores 73 %. So each :class:`Verdict` names what a useless release
would score (the *floor*: majority guess, shuffled pairs, columns drawn independently, a flat
histogram) and what the real data scores (the *ceiling*), places the synthetic number between them,
and says in plain words what that means. The Results page, the HTML report and the CLI read the same
verdicts, so they never disagree.

Thresholds are judgement calls, written down here with their reasons, not measured truths.

>>> m = {"table": {"tstr": {"target": "dx", "synthetic": 0.73, "real": 0.85, "majority": 0.73,
...                         "majority_label": "nv"}}}
>>> v = metric_verdicts(m)[0]
>>> v.level, v.headline
('red flag', 'no better than guessing')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

GOOD, WEAK, RED = "good", "weak", "red flag"
LEVELS = (GOOD, WEAK, RED)

GUESSING_MARGIN = 0.01
"""TSTR within 1 point — or one standard error of an accuracy on the held-out rows, if larger — of always
guessing the majority value is no better than guessing."""
JUDGE_MARGIN_SE = 2.0
"""Real rows must beat guessing by two standard errors before a TSTR score can be judged against them."""
TSTR_GOOD_SHARE = 0.7
"""TSTR counts as good when it recovers ≥ 70 % of the real data's gain over guessing."""
TVD_GOOD = 0.05
"""A mean TVD ≤ 0.05 means histograms differ by at most 5 % of their mass: close by eye."""
LINK_GOOD, LINK_RED = 0.5, 0.2
"""Images follow their rows: ≥ 50 % of the real pairs' link is good, < 20 % barely beats shuffled pairs."""
OVERSTATED_LINK = 1.1
"""Above 110 % of the real link, images show their row more plainly than real photos do (averages do this)."""
VARIETY_GOOD, VARIETY_RED, VARIETY_HIGH = 0.5, 0.2, 1.3
"""Image variety (feature spread within a value, synthetic / real): the goal is ≥ 0.5 of real; below
0.2 the images of one value are near-copies of one average image; above 1.3 they differ more than real
photos do, which is more often noise than variety."""
RECALL_GOOD, RECALL_RED = 0.3, 0.1
PRECISION_GOOD, PRECISION_RED = 0.5, 0.2
MEMO_GOOD, MEMO_RED = 0.9, 0.7
"""Nearest-training-image distance / the same for unseen real images: ≈ 1 is normal; below 0.7 the
synthetic images sit much closer to training photos than unseen photos do (possible copies)."""

COLLAPSE_WARNING = (
    "The synthetic images are near-copies of an average: images with the same value look almost "
    "the same (variety {variety:.0%} of real photos'). They show what a typical image of each value "
    "looks like, not the variety of real photos; do not use them where variety matters."
)
"""The red sentence the Summary and the HTML report show when variety is below :data:`VARIETY_RED`."""


@dataclass(frozen=True)
class Verdict:
    """One metric card: the number as shown, its baselines, the verdict and what it means."""

    key: str
    title: str
    shown: str
    value: float
    baseline: str
    level: str
    headline: str
    meaning: str
    scale: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(metrics: dict[str, Any], *path: str) -> Any:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def tstr_verdict(tstr: dict[str, Any], n_test: float | None = None) -> Verdict | None:
    """Train on synthetic, test on real, against always guessing the majority value and training on real.

    ``n_test``: held-out real rows the accuracies were measured on; their standard error widens the
    margins, so a 2-point difference on 60 rows is not called a difference.
    """
    syn, real, floor = _num(tstr.get("synthetic")), _num(tstr.get("real")), _num(tstr.get("majority"))
    if syn is None:
        return None
    se = (max(floor or 0.5, 0.01) * (1 - min(floor or 0.5, 0.99)) / n_test) ** 0.5 if n_test else 0.0
    margin = max(GUESSING_MARGIN, se)
    target, label = tstr.get("target", "the target"), tstr.get("majority_label")
    guess = f"always guessing {label!r}" if label is not None else "always guessing the most common value"
    baseline = " · ".join(
        p
        for p in (
            f"{guess}: {_pct(floor)}" if floor is not None else "",
            f"trained on real rows: {_pct(real)}" if real is not None else "",
        )
        if p
    )
    scale = f"Share of real rows whose {target} a model trained on synthetic rows predicts right."
    judgeable = floor is None or real is None or real - floor > max(GUESSING_MARGIN, JUDGE_MARGIN_SE * se)
    if floor is not None and judgeable and syn <= floor + margin:
        level, headline = RED, "no better than guessing"
        meaning = (
            f"A model trained on the synthetic rows predicts {target} no better than {guess} "
            f"({_pct(syn)} vs {_pct(floor)}): the synthetic table teaches nothing about {target}."
        )
    elif floor is not None and real is not None and judgeable:
        share = (syn - floor) / (real - floor)
        level = GOOD if share >= TSTR_GOOD_SHARE else WEAK
        headline = "useful" if level == GOOD else "somewhat useful"
        meaning = (
            f"It recovers {min(share, 1.0):.0%} of what real rows gain over guessing "
            f"({_pct(syn)} vs {_pct(floor)} guessing, {_pct(real)} with real rows)."
        )
    elif floor is None:
        level, headline = WEAK, "no baseline recorded"
        meaning = (
            "This run's evaluation did not record what always guessing scores (an older evaluation), so the "
            "number cannot be judged; evaluate the run again to get the verdict."
        )
    else:
        level, headline = WEAK, "cannot judge"
        meaning = (
            f"Even real rows barely beat guessing at {target} ({_pct(real or 0)} vs {_pct(floor)}"
            f"{f' on {n_test} held-out rows' if n_test else ''}), so this score cannot tell a useful table "
            "from a useless one."
        )
    return Verdict("tstr", f"Useful for predicting {target}", _pct(syn), syn, baseline, level, headline, meaning, scale)


def tvd_verdict(key: str, value: float | None, floor: float | None) -> Verdict | None:
    """1-way or 2-way TVD against its useless-release baseline (flat histograms / independent columns)."""
    if value is None:
        return None
    one = key == "tvd_1way"
    title = "Column histograms (1-way TVD)" if one else "Column pairs (2-way TVD)"
    useless = "flat histograms" if one else "columns drawn independently (every link lost)"
    baseline = f"{useless}: {floor:.3f} · real: 0" if floor is not None else "real: 0"
    scale = "How far synthetic histograms are from the real ones: 0 = identical, 1 = nothing in common " + (
        "(one column at a time)." if one else "(every pair of columns)."
    )
    if value <= TVD_GOOD:
        level, headline = GOOD, "close to the real data"
        meaning = f"On average the {'histograms' if one else 'pair tables'} differ by {_pct(value)} of their mass."
    elif floor is not None and value >= floor:
        level, headline = RED, "no better than a useless table"
        meaning = f"{'Histograms' if one else 'Links between columns'} are as far off as {useless} ({value:.3f} vs {floor:.3f})."
    else:
        level, headline = WEAK, "recognisable but off"
        meaning = (
            f"Closer than {useless} ({floor:.3f}) but {_pct(value)} of the mass is misplaced."
            if floor is not None
            else f"{_pct(value)} of the mass is misplaced."
        )
    return Verdict(key, title, f"{value:.3f}", value, baseline, level, headline, meaning, scale)


def link_verdict(value: float | None) -> Verdict | None:
    """Images follow their rows: 0 = shuffled pairs, 100 % = as strongly as real pairs."""
    if value is None:
        return None
    scale = (
        "How strongly each synthetic image shows what its row says, as a share of the real pairs' link: "
        "0 % = images paired with random rows, 100 % = as strongly as real photos."
    )
    baseline = "shuffled pairs: 0% · real pairs: 100%"
    if value < LINK_RED:
        level, headline, meaning = RED, "images ignore their rows", "The images barely follow their rows' values."
    elif value < LINK_GOOD:
        level, headline, meaning = WEAK, "a weak link", "The images follow their rows, but much less than real photos."
    elif value > OVERSTATED_LINK:
        level, headline = GOOD, "overstated link"
        meaning = (
            "Above 100 %: the images show their row's value more plainly than real photos do, as average "
            "images of each value would. Check the variety card next to it."
        )
    else:
        level, headline, meaning = (
            GOOD,
            "images match their rows",
            "The images show their rows about as real photos do.",
        )
    return Verdict("link", "Images match their rows", _pct(value), value, baseline, level, headline, meaning, scale)


def variety_verdict(value: float | None) -> Verdict | None:
    """Within-value variety of the synthetic images in the evaluation CNN's features, against real photos."""
    if value is None:
        return None
    scale = (
        "How different the synthetic images of one value are from each other, as a share of how different "
        "real photos of that value are (measured in a trained image model's features, not pixels)."
    )
    baseline = "one image per value: 0% · real photos: 100%"
    if value < VARIETY_RED:
        level, headline = RED, "near-copies of an average"
        meaning = COLLAPSE_WARNING.format(variety=value)
    elif value < VARIETY_GOOD:
        level, headline, meaning = (
            WEAK,
            "less varied than real",
            "Images of one value vary, but much less than real photos.",
        )
    elif value > VARIETY_HIGH:
        level, headline = WEAK, "more varied than real"
        meaning = (
            "Images of one value differ more than real photos do: often noise or unrealistic images "
            "rather than real variety. Check the realism card and the image grids."
        )
    else:
        level, headline, meaning = GOOD, "varied", "Images of one value vary about as much as real photos do."
    return Verdict("variety", "Image variety", _pct(value), value, baseline, level, headline, meaning, scale)


def _pr_verdict(key: str, value: float | None, real: float | None) -> Verdict | None:
    if value is None:
        return None
    precision = key == "precision"
    good, red = (PRECISION_GOOD, PRECISION_RED) if precision else (RECALL_GOOD, RECALL_RED)
    title = "Image realism (precision)" if precision else "Real images covered (recall)"
    scale = (
        "Share of synthetic images that fall among real ones in feature space."
        if precision
        else "Share of real images that have some synthetic image close to them in feature space."
    )
    baseline = "nothing alike: 0%" + (
        f" · one half of the real photos against the other: {_pct(real)}" if real is not None else ""
    )
    if value < red:
        level = RED
        headline = "unrealistic" if precision else "most real images have no match"
    elif value < good:
        level, headline = WEAK, "partly realistic" if precision else "covers part of the real variety"
    else:
        level, headline = GOOD, "realistic" if precision else "covers the real variety"
    meaning = f"{_pct(value)} of the {'synthetic' if precision else 'real'} images" + (
        " look like some real image." if precision else " have a synthetic look-alike."
    )
    return Verdict(key, title, _pct(value), value, baseline, level, headline, meaning, scale)


def memorisation_verdict(value: float | None) -> Verdict | None:
    """Distance to the nearest training image, relative to unseen real images' (≈ 1 normal)."""
    if value is None:
        return None
    scale = (
        "Distance from each synthetic image to its nearest training photo, divided by the same distance for "
        "real photos the model never saw: 1 = no closer than unseen photos; far below 1 = possible copies."
    )
    baseline = "unseen real photos: 1.00"
    if value < MEMO_RED:
        level, headline = RED, "closer to training photos than expected"
        meaning = (
            "Synthetic images sit much closer to training photos than unseen photos do. Look at the closest "
            "pairs in the HTML report before sharing; averages of many photos can also do this."
        )
    elif value < MEMO_GOOD:
        level, headline = WEAK, "somewhat close to training photos"
        meaning = "Somewhat closer to training photos than unseen photos are: look at the closest pairs in the report."
    else:
        level, headline, meaning = GOOD, "no sign of copying", "No closer to training photos than unseen photos are."
    return Verdict(
        "memorisation", "Memorisation check", f"{value:.2f}", value, baseline, level, headline, meaning, scale
    )


def metric_verdicts(metrics: dict[str, Any]) -> list[Verdict]:
    """Every card the evaluation's numbers allow, in reading order (absent metrics are skipped)."""
    base = _get(metrics, "table", "baselines") or {}
    image_ref = _get(metrics, "image", "real_reference") or {}
    found = [
        tvd_verdict("tvd_1way", _num(_get(metrics, "table", "tvd_1way")), _num(base.get("tvd_1way_uniform"))),
        tvd_verdict("tvd_2way", _num(_get(metrics, "table", "tvd_2way")), _num(base.get("tvd_2way_independent"))),
        tstr_verdict(_get(metrics, "table", "tstr") or {}, _num(metrics.get("n_real_heldout"))),
        variety_verdict(_num(_get(metrics, "image", "variety"))),
        _pr_verdict("precision", _num(_get(metrics, "image", "precision")), _num(image_ref.get("precision"))),
        _pr_verdict("recall", _num(_get(metrics, "image", "recall")), _num(image_ref.get("recall"))),
        link_verdict(_num(_get(metrics, "cross_modal", "agreement_normalised"))),
        memorisation_verdict(_num(_get(metrics, "privacy", "nn_distance_ratio"))),
    ]
    return [v for v in found if v is not None]


def collapse_warning(metrics: dict[str, Any]) -> str | None:
    """The plain-words red warning when the images are near-copies of an average, else None."""
    verdict = variety_verdict(_num(_get(metrics, "image", "variety")))
    return verdict.meaning if verdict is not None and verdict.level == RED else None
