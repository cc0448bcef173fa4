"""Privacy core: the budget plan, one RDP accountant over all stages, the mechanisms, the ledger, the report.

Importing this package pulls in dp-accounting (pure Python, ~1 s) but never torch, jax or streamlit.
"""

from dptab_core.privacy.accountant import compose_entries, verify_ledger_matches_plan
from dptab_core.privacy.domain import pay_for_domains
from dptab_core.privacy.explain import describe_epsilon, stage_plain_words
from dptab_core.privacy.ledger import Ledger, LedgerEntry
from dptab_core.privacy.plan import BudgetPlan, StagePlan, plan_budget
from dptab_core.privacy.report import build_privacy_report, render_privacy_report_markdown
from dptab_core.privacy.settings import (
    DEFAULT_SHARES,
    STAGES,
    DPSGDSettings,
    MeanPairSettings,
    SemanticQuerySettings,
)

__all__ = [
    "BudgetPlan",
    "DEFAULT_SHARES",
    "DPSGDSettings",
    "Ledger",
    "LedgerEntry",
    "MeanPairSettings",
    "STAGES",
    "SemanticQuerySettings",
    "StagePlan",
    "build_privacy_report",
    "compose_entries",
    "describe_epsilon",
    "pay_for_domains",
    "plan_budget",
    "render_privacy_report_markdown",
    "stage_plain_words",
    "verify_ledger_matches_plan",
]
