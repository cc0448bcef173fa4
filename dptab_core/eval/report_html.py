"""One self-contained HTML comparison report (real vs synthetic) for stakeholders without the app.

A single file that opens offline: plotly.js is inlined once (with the first figure), every other
figure reuses it, and no script or stylesheet is fetched from anywhere. It shows real rows and images,
so its banner marks it as the data owner's view: it must not be shared as part of the DP release.
"""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go

from dptab_core.eval import cross_modal, figures
from dptab_core.eval.evaluate import DATA_OWNER_VIEW, Evaluation
from dptab_core.eval.table_metrics import association_matrix
from dptab_core.eval.verdicts import GOOD, RED, collapse_warning, metric_verdicts

MAX_MARGINAL_COLUMNS = 12
"""1-way bar charts beyond this many columns make the report long without adding a decision."""
MAX_IMAGE_ATTRIBUTES = 4
"""Sample grids and mean images for the first few image-expressed attributes."""
WORST_PAIRS_SHOWN = 3


def standard_figures(ev: Evaluation) -> list[tuple[str, go.Figure]]:
    """The report's figures in order, each with its section name (also usable by the Results page)."""
    out: list[tuple[str, go.Figure]] = []
    for name in list(ev.sizes)[:MAX_MARGINAL_COLUMNS]:
        out.append(
            (
                "Table",
                figures.marginal_1way_figure(
                    ev.real_codes[name], ev.synthetic_codes[name], ev.labels(name), column=name
                ),
            )
        )
    for a, b, _ in ev.metrics["table"]["tvd_2way_worst_pairs"][:WORST_PAIRS_SHOWN]:
        out.append(
            (
                "Table",
                figures.marginal_2way_figure(
                    (ev.real_codes[a], ev.real_codes[b]),
                    (ev.synthetic_codes[a], ev.synthetic_codes[b]),
                    (ev.labels(a), ev.labels(b)),
                    columns=(a, b),
                ),
            )
        )
    out.append(
        (
            "Table",
            figures.association_figure(
                association_matrix(ev.real_codes, ev.sizes),
                association_matrix(ev.synthetic_codes, ev.sizes),
                list(ev.sizes),
            ),
        )
    )
    attributes = ev.metrics["image"]["scored_attributes"][:MAX_IMAGE_ATTRIBUTES]
    for name in attributes:
        out.append(
            (
                "Images",
                figures.sample_grid_figure(
                    ev.real_images,
                    ev.real_codes[name],
                    ev.synthetic_images,
                    ev.synthetic_codes[name],
                    ev.labels(name),
                    column=name,
                ),
            )
        )
    for name in attributes:
        size = ev.sizes[name]
        real_means, _ = cross_modal.conditioned_mean_images(ev.real_images, ev.real_codes[name], size)
        syn_means, _ = cross_modal.conditioned_mean_images(ev.synthetic_images, ev.synthetic_codes[name], size)
        out.append(
            ("Cross-modal", figures.conditioned_means_figure(real_means, syn_means, ev.labels(name), column=name))
        )
    pairs = ev.metrics["privacy"]["closest_pairs"]
    if pairs:
        out.append(
            ("Privacy", figures.closest_pairs_figure(ev.synthetic_images, ev.real_images[ev.reference_index], pairs))
        )
    return out


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _headline_rows(m: dict) -> list[tuple[str, str, str]]:
    t, i, c, p = m["table"], m["image"], m["cross_modal"], m["privacy"]
    return [
        ("Table: 1-way marginal TVD (mean)", _fmt(t["tvd_1way"]), "0 = identical column histograms"),
        ("Table: 2-way marginal TVD (mean)", _fmt(t["tvd_2way"]), "0 = identical pairwise histograms"),
        (
            f"Table: accuracy predicting {t['tstr']['target']} (synthetic-trained / real-trained)",
            f"{_fmt(t['tstr']['synthetic'])} / {_fmt(t['tstr']['real'])}",
            "closer = more useful",
        ),
        ("Images: Fréchet distance", _fmt(i["fd"]), "0 = same feature distribution"),
        ("Images: precision / recall", f"{_fmt(i['precision'])} / {_fmt(i['recall'])}", "realism / coverage"),
        (
            "Images: variety within a value (synthetic / real)",
            _fmt(i.get("variety")),
            "1 = as varied as real photos; 0 = one image per value",
        ),
        (
            "Images: TSTR accuracy (synthetic-trained / real-trained)",
            f"{_fmt(i['tstr_accuracy'])} / {_fmt(i['trtr_accuracy'])}",
            "closer = more useful",
        ),
        (
            "Cross-modal agreement (raw / normalised)",
            f"{_fmt(c['agreement'])} / {_fmt(c['agreement_normalised'])}",
            "normalised: 0 = no link, 1 = real link",
        ),
        ("Memorisation: NN distance ratio", _fmt(p["nn_distance_ratio"]), "≈ 1 or more is normal; ≪ 1 suspicious"),
        (
            "Audit: ε lower bound (claimed ε)",
            f"{_fmt(p['audit_epsilon_lower_bound'])} ({_fmt(p['claimed_epsilon'])})",
            "must stay below the claimed ε",
        ),
    ]


LEVEL_COLOURS = {GOOD: "#1b7f3b", RED: "#c62828"}
"""Verdict colours; anything else (weak) is amber."""


def verdict_rows(m: dict) -> str:
    """The verdict table: each metric with its baseline, its verdict (coloured) and what it means."""
    out = []
    for v in metric_verdicts(m):
        colour = LEVEL_COLOURS.get(v.level, "#b26a00")
        out.append(
            f"<tr><td>{html.escape(v.title)}</td><td><b>{html.escape(v.shown)}</b></td>"
            f"<td style='color:{colour}'><b>{html.escape(v.level)}</b>: {html.escape(v.headline)}</td>"
            f"<td class='hint'>{html.escape(v.baseline)}</td><td class='hint'>{html.escape(v.meaning)}</td></tr>"
        )
    return "".join(out)


def sweep_figures(rows: list[dict], *, current_epsilon: float | None) -> list[tuple[str, go.Figure]]:
    """One metric-vs-ε chart per headline metric of a baseline comparison / ε sweep."""
    from dptab_core.eval.evaluate import HEADLINE_METRICS

    return [
        (
            "Baselines and ε",
            figures.metric_vs_epsilon_figure(rows, metric=key, metric_label=label, current_epsilon=current_epsilon),
        )
        for key, label in HEADLINE_METRICS.items()
        if any(r.get(key) is not None for r in rows)
    ]


def render_report(
    ev: Evaluation, *, title: str = "Synthetic vs real: comparison report", sweep_rows: list[dict] | None = None
) -> str:
    """The report as one HTML string (plotly.js inlined once); ``sweep_rows`` adds the baseline charts."""
    m = ev.metrics
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td><b>{b}</b></td><td class='hint'>{html.escape(c)}</td></tr>"
        for a, b, c in _headline_rows(m)
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        ".banner{background:#fff3cd;border:1px solid #e0c36c;padding:.8em;border-radius:4px}"
        "table{border-collapse:collapse}td{padding:.3em .8em;border-bottom:1px solid #ddd}"
        ".hint{color:#666;font-size:.9em}"
        ".red{color:#b71c1c;background:#fdecea;border:1px solid #c62828;padding:.8em;border-radius:4px}"
        "th{text-align:left}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='banner'><b>{html.escape(DATA_OWNER_VIEW[0].upper() + DATA_OWNER_VIEW[1:])}.</b> This report shows real rows and "
        "images: keep it with the real data; do not share it with the synthetic release.</p>",
        f"<p>{m['n_real']} real rows ({m['n_real_heldout']} held out for testing), "
        f"{m['n_synthetic']} synthetic rows.</p>",
    ]
    warning = collapse_warning(m)
    if warning:
        parts.append(
            f"<p class='red' id='variety-warning'><b>Images: near-copies of an average.</b> {html.escape(warning)}</p>"
        )
    parts += [
        f"<h2>Verdicts</h2><table><tr><th>metric</th><th>value</th><th>verdict</th><th>baseline</th>"
        f"<th>what it means</th></tr>{verdict_rows(m)}</table>",
        f"<h2>Summary</h2><table>{rows}</table>",
    ]
    section = None
    extra = sweep_figures(sweep_rows, current_epsilon=m["privacy"]["claimed_epsilon"]) if sweep_rows else []
    for i, (name, fig) in enumerate(standard_figures(ev) + extra):
        if name != section:
            parts.append(f"<h2>{html.escape(name)}</h2>")
            section = name
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(ev: Evaluation, path: Path, *, sweep_rows: list[dict] | None = None) -> Path:
    """Write :func:`render_report` to ``path`` (atomically: a half-written report never appears)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(ev, sweep_rows=sweep_rows), encoding="utf-8")
    tmp.replace(path)
    return path
