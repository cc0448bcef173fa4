"""The privacy report: ``privacy_report.json`` (documented below) and its markdown rendering.

What was *spent* is composed from the ledger, never copied from the plan; the plan is shown next
to it so a reader can check one against the other.

``privacy_report.json`` schema (``format_version`` 1):

* ``target``: ``{epsilon, delta}`` the user chose.
* ``spent``: ``{epsilon, delta, partition_delta}``: the ledger composed in RDP on the plan's orders plus
  a wide grid, converted at ``delta``; ``partition_delta`` is the part of δ spent by partition selection.
* ``planned``: ``{composed_epsilon, stages: {name: {enabled, share, standalone_epsilon, params,
  plain_words}}}``.
* ``ledger``: one item per group of identical mechanism calls: ``stage, mechanism, calls, labels``
  (up to 5), ``parameters`` (sigma, rho, sampling_rate, noise_multiplier, steps as applicable),
  ``sensitivity`` and ``standalone_epsilon`` (the group alone, at ``delta``).
* ``assumptions``: plain sentences (one individual = one row and its image; what was public).
* ``domains``: ``{public: [...], paid: [...]}`` column names from the schema.
* ``accounting``: method, neighbouring relation (:data:`NEIGHBOURING`), orders.

Nothing in the report states the exact row count n or a number computed from it (plain words
included): the release is shared, and n is the data owner's to disclose.
* ``epsilon_in_words``, ``versions`` {dptab_core, dp_accounting, python}, ``extra`` (caller's dict).
"""

from __future__ import annotations

import platform
import re
from importlib import metadata
from typing import Any

from dptab_core.privacy.accountant import compose_entries, partition_delta_of, report_orders
from dptab_core.privacy.explain import describe_epsilon, stage_plain_words
from dptab_core.privacy.ledger import Ledger, LedgerEntry

FORMAT_VERSION = 1
DEFAULT_ASSUMPTIONS = (
    "One individual is one row of the table together with its image; adding or removing one individual "
    "is the change the guarantee protects against.",
)
NEIGHBOURING = (
    "add or remove one individual (their row and their image); the number of individuals n is treated "
    "as public, as Opacus does: the DP-SGD sampling rate is computed from it. This report does not "
    "state n, nor any number computed from it beyond that rate"
)
"""The neighbouring relation, in the one wording the report uses (``accounting.neighbouring``)."""


def build_privacy_report(
    *,
    plan: Any,
    ledger: Ledger,
    schema_dict: dict[str, Any] | None,
    assumptions: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report dict (see the module docstring for its schema)."""
    entries = ledger.entries
    orders = report_orders(plan.orders)
    spent = compose_entries(entries, delta=plan.delta, orders=orders)
    columns = (schema_dict or {}).get("columns", [])
    synthesized = [c for c in columns if c.get("kind") in ("categorical", "numeric")]
    n_columns = len(synthesized) or None
    return {
        "format_version": FORMAT_VERSION,
        "target": {"epsilon": plan.epsilon, "delta": plan.delta},
        "spent": {"epsilon": spent, "delta": plan.delta, "partition_delta": partition_delta_of(entries)},
        "planned": {
            "composed_epsilon": plan.composed_epsilon,
            "stages": {
                name: {
                    "enabled": s.enabled,
                    "share": s.share,
                    "standalone_epsilon": s.standalone_epsilon,
                    "params": s.params,
                    "plain_words": _release_words(name, s, n_columns),
                }
                for name, s in plan.stages.items()
            },
        },
        "ledger": ledger_groups(entries, delta=plan.delta, orders=orders),
        "assumptions": [*DEFAULT_ASSUMPTIONS, *assumptions],
        "domains": {
            "public": [c["name"] for c in synthesized if c.get("public")],
            "paid": [c["name"] for c in synthesized if not c.get("public")],
        },
        "accounting": {
            "method": "Rényi DP composition of every release (Google dp-accounting RdpAccountant), "
            "converted once to (ε, δ); partition selection adds its δ",
            "neighbouring": NEIGHBOURING,
            "orders": list(orders),
        },
        "epsilon_in_words": describe_epsilon(spent),
        "versions": {
            "dptab_core": _version("dptab-studio"),
            "dp_accounting": _version("dp-accounting"),
            "python": platform.python_version(),
        },
        "extra": dict(extra or {}),
    }


def _release_words(name: str, stage: Any, n_columns: int | None) -> list[str]:
    """The stage's plain words as the release may state them: written without the exact row count.

    The plan's own words (for the data owner's Budget page) quote n and n // 2; in ``bundle.zip``
    they would give n away, so the report writes them again with ``n_rows=None``.
    """
    if not stage.enabled:
        return []
    return stage_plain_words(
        name, stage.params, n_rows=None, standalone_epsilon=stage.standalone_epsilon, n_columns=n_columns
    )


def ledger_groups(entries: list[LedgerEntry], *, delta: float, orders: tuple[float, ...]) -> list[dict[str, Any]]:
    """Entries grouped by (stage, mechanism, parameters), in first-recorded order."""
    groups: dict[tuple[Any, ...], list[LedgerEntry]] = {}
    for e in entries:
        key = (e.stage, e.mechanism, e.sensitivity, e.sigma, e.rho, e.sampling_rate, e.noise_multiplier, e.steps)
        groups.setdefault(key, []).append(e)
    items = []
    for group in groups.values():
        first = group[0]
        params = {
            k: v
            for k, v in (
                ("sigma", first.sigma),
                ("rho", first.rho),
                ("sampling_rate", first.sampling_rate),
                ("noise_multiplier", first.noise_multiplier),
                ("steps", first.steps),
            )
            if v is not None and not (k == "steps" and first.mechanism != "subsampled_gaussian")
        }
        items.append(
            {
                "stage": first.stage,
                "mechanism": first.mechanism,
                "calls": len(group),
                "labels": [e.label for e in group[:5]],
                "parameters": params,
                "sensitivity": first.sensitivity,
                "standalone_epsilon": compose_entries(group, delta=delta, orders=orders),
            }
        )
    return items


def render_privacy_report_markdown(report: dict[str, Any]) -> str:
    """The report as markdown for people (the JSON stays the record)."""
    t, s = report["target"], report["spent"]
    lines = [
        "# Privacy report",
        "",
        f"**Spent ε = {s['epsilon']:.4g} at δ = {s['delta']:.3g}** (target ε = {t['epsilon']:g}, δ = {t['delta']:.3g}).",
        "",
        report["epsilon_in_words"],
        "",
        "## Stages",
        "",
        "| stage | share | standalone ε | what the noise means |",
        "|---|---|---|---|",
    ]
    for name, st in report["planned"]["stages"].items():
        if st["enabled"]:
            lines.append(
                f"| {name} | {st['share']:.0%} | {st['standalone_epsilon']:.3g} | {' '.join(st['plain_words'])} |"
            )
        else:
            lines.append(f"| {name} | off | – | not run |")
    lines += [
        "",
        "## Ledger",
        "",
        "| stage | mechanism | calls | parameters | sensitivity | standalone ε |",
        "|---|---|---|---|---|---|",
    ]
    for item in report["ledger"]:
        params = ", ".join(f"{k} = {v:.4g}" for k, v in item["parameters"].items())
        sens = "–" if item["sensitivity"] is None else f"{item['sensitivity']:.4g}"
        lines.append(
            f"| {item['stage']} | {item['mechanism']} | {item['calls']} | {params} | {sens} | "
            f"{item['standalone_epsilon']:.3g} |"
        )
    lines += ["", "## Assumptions", "", *[f"- {_md_text(a)}" for a in report["assumptions"]], ""]
    doms = report["domains"]
    lines += [
        f"- Public domains (declared by the user): {_md_text(', '.join(doms['public'])) or 'none'}.",
        f"- Domains paid from the budget: {_md_text(', '.join(doms['paid'])) or 'none'}.",
        "",
        f"_Accounting: {report['accounting']['method']}; versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items())
        + "._",
        "",
    ]
    return "\n".join(lines)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()<>!|#$:])")


def _md_text(text: str) -> str:
    r"""Text that may hold column names, escaped so markdown shows it as written (no links, images or HTML).

    >>> print(_md_text("![x](https://evil.example/p.png)"))
    \!\[x\]\(https\://evil.example/p.png\)
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
