"""The privacy report composes what was spent from the ledger (not from the plan), lists every mechanism
group, and reads in plain words; the planner stays free of torch, jax and streamlit."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from dptab_core.privacy import Ledger, describe_epsilon, plan_budget
from dptab_core.privacy.report import build_privacy_report, render_privacy_report_markdown


def test_the_report_composes_spent_from_the_ledger_and_groups_identical_calls():
    plan = plan_budget(epsilon=1.0, delta=1e-6, n_rows=3000)
    ledger = Ledger()
    rho = plan.stages["table"].params["rho"]
    for i in range(4):
        ledger.record(
            stage="table", mechanism="gaussian", label=f"m{i}", sensitivity=1.0, sigma=math.sqrt(4 / (2 * rho))
        )
    report = build_privacy_report(
        plan=plan,
        ledger=ledger,
        schema_dict={
            "columns": [
                {"name": "age", "kind": "numeric", "public": True},
                {"name": "site", "kind": "categorical", "public": False},
            ]
        },
        assumptions=["demo"],
        extra={"seed": None},
    )
    assert 0 < report["spent"]["epsilon"] < plan.composed_epsilon, "spent must come from the (partial) ledger"
    assert len(report["ledger"]) == 1 and report["ledger"][0]["calls"] == 4
    assert report["domains"] == {"public": ["age"], "paid": ["site"]}
    json.dumps(report)  # JSON-able
    text = render_privacy_report_markdown(report)
    assert "| table | gaussian | 4 |" in text and "Spent ε" in text


def test_describe_epsilon_gives_the_odds_factor_and_the_census_scale():
    text = describe_epsilon(1.0)
    assert "2.72" in text and "17.14" in text
    assert "weak" in describe_epsilon(20.0) and "strong" in describe_epsilon(1.0)


BLOCKER = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "jax", "streamlit", "opacus", "mbi"):
            raise ImportError(f"{name} is blocked in this test")

sys.meta_path.insert(0, Block())
from dptab_core.cli import main
sys.exit(main(["plan", "--epsilon", "1", "--delta", "1e-5", "--rows", "2000", "--paid-columns", "1", "--json"]))
"""


def test_the_plan_cli_runs_with_torch_jax_and_streamlit_blocked():
    done = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert 0.99 <= plan["composed_epsilon"] <= 1.0, plan["composed_epsilon"]
    assert all(plan["stages"][s]["enabled"] for s in plan["stages"]), "all five stages should run"


def test_the_plan_cli_refuses_a_too_large_delta_with_exit_code_2():
    done = subprocess.run(
        [sys.executable, "-m", "dptab_core", "plan", "--epsilon", "1", "--delta", "0.01", "--rows", "2000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "δ" in done.stderr and "Use δ ≤" in done.stderr, done.stderr


def _numbers_in(text: str, *values: int) -> list[int]:
    """Which of ``values`` appear in ``text`` as a whole number (not inside a longer number or a decimal)."""
    import re

    return [v for v in values if re.search(rf"(?<![\d.]){v}(?![\d])", text)]


def test_the_report_states_neither_n_nor_half_of_n_anywhere():
    n = 1987  # the audit's reproduction: the words said "(out of 1987 rows)" and "one held by 993"
    plan = plan_budget(epsilon=10.0, delta=1e-5, n_rows=n)
    schema = {"columns": [{"name": c, "kind": "categorical", "public": True} for c in ("a", "b", "c")]}
    report = build_privacy_report(plan=plan, ledger=Ledger(), schema_dict=schema, assumptions=[])
    text = json.dumps(report, ensure_ascii=False) + render_privacy_report_markdown(report)
    assert not _numbers_in(text, n, n // 2), f"the report gives n away: {_numbers_in(text, n, n // 2)}"
    assert any("held by 1000" in w for w in report["planned"]["stages"]["mean_pairs"]["plain_words"]), (
        "the mean pairs' words lost their example"
    )


def test_the_report_states_one_neighbouring_relation_with_n_public():
    plan = plan_budget(epsilon=1.0, delta=1e-6, n_rows=3000)
    report = build_privacy_report(plan=plan, ledger=Ledger(), schema_dict=None, assumptions=[])
    relation = report["accounting"]["neighbouring"]
    assert "add or remove one individual" in relation and "n is treated as public" in relation, relation
    assert "sampling rate is computed from it" in relation, relation


def test_column_names_in_the_markdown_report_cannot_load_a_remote_image():
    plan = plan_budget(epsilon=1.0, delta=1e-6, n_rows=3000)
    evil = "![x](https://evil.example/p.png)"
    schema = {"columns": [{"name": evil, "kind": "categorical", "public": True}]}
    text = render_privacy_report_markdown(
        build_privacy_report(
            plan=plan, ledger=Ledger(), schema_dict=schema, assumptions=[f"rows were bounded to one per {evil!r}"]
        )
    )
    assert evil not in text and "](" not in text, "a column name renders as markdown in the report"
