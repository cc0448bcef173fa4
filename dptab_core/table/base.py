"""The table-synthesizer interface, its result type, the visible budget split, and the registry.

A synthesizer takes integer codes and a public domain (see :mod:`dptab_core.table.marginals`),
spends exactly ``rho`` (zCDP) through the privacy mechanisms, and returns synthetic codes plus a
:class:`BudgetSplit` that names every line item of its spend. Implementations live one per module
and are looked up lazily by name, so importing this module needs no JAX.

>>> split = BudgetSplit(mechanism="mst", total_rho=0.3)
>>> split.add("1-way marginals", rho=0.1, count=3, sigma=3.87)
>>> split.add("tree selection", rho=0.1, count=2, epsilon=0.63)
>>> round(split.spent, 12), split.lines[0].label
(0.2, '1-way marginals')
>>> sorted(SYNTHESIZERS)
['aim', 'mst']
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dptab_core.privacy.ledger import Ledger
from dptab_core.table.marginals import Progress
from dptab_core.table.settings import TableSettings


@dataclass(frozen=True)
class BudgetLine:
    """One line item of a synthesizer's spend: ``count`` releases that together cost ``rho``."""

    label: str
    rho: float
    count: int = 1
    sigma: float | None = None
    epsilon: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class BudgetSplit:
    """How a synthesizer divided its ρ: the planned total and each line item actually spent."""

    mechanism: str
    total_rho: float
    lines: list[BudgetLine] = field(default_factory=list)

    def add(
        self,
        label: str,
        *,
        rho: float,
        count: int = 1,
        sigma: float | None = None,
        epsilon: float | None = None,
        **details: Any,
    ) -> None:
        """Append a line item."""
        self.lines.append(BudgetLine(label, rho, count, sigma, epsilon, details))

    @property
    def spent(self) -> float:
        """Sum of the line items' ρ."""
        return float(sum(line.rho for line in self.lines))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for the report and the job outputs)."""
        return {
            "mechanism": self.mechanism,
            "total_rho": self.total_rho,
            "spent": self.spent,
            "lines": [{k: v for k, v in asdict(line).items() if v is not None and v != {}} for line in self.lines],
        }


@dataclass
class TableSynthesisResult:
    """What one synthesis run produced: synthetic codes (and, from the public API, the decoded table)."""

    codes: dict[str, np.ndarray]
    budget: BudgetSplit
    cliques: list[tuple[str, ...]]
    estimated_total: float
    info: dict[str, Any] = field(default_factory=dict)
    table: Any = None


class TableSynthesizer(ABC):
    """A marginal-based DP table synthesizer over integer codes."""

    name: str

    @abstractmethod
    def run(
        self,
        codes: Mapping[str, np.ndarray],
        sizes: Mapping[str, int],
        *,
        rho: float,
        n_rows: int | None,
        rng: np.random.Generator,
        seed: int,
        ledger: Ledger,
        progress: Progress | None,
        settings: TableSettings,
    ) -> TableSynthesisResult:
        """Spend exactly ``rho`` on ``codes`` and return synthetic codes over the same domain.

        ``n_rows`` None: as many rows as the model's noisy estimate of the total (rounded, ≥ 1).
        ``rng`` draws the privacy noise; ``seed`` drives everything else (sampling, decompression).
        """


SYNTHESIZERS: dict[str, str] = {
    "mst": "dptab_core.table.mst:MST",
    "aim": "dptab_core.table.aim:AIM",
}
"""Registry: mechanism name → ``module:class`` (imported on first use; they pull in JAX and mbi)."""


def get_synthesizer(name: str) -> TableSynthesizer:
    """A new instance of the synthesizer registered as ``name``."""
    from dptab_core.errors import InputError

    if name not in SYNTHESIZERS:
        raise InputError(
            f"unknown table mechanism {name!r}",
            where="mechanism",
            hint=f"Choose one of: {', '.join(sorted(SYNTHESIZERS))}.",
        )
    module, cls = SYNTHESIZERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
