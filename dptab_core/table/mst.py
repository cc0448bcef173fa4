"""MST on mbi 2.0: noisy 1-way marginals, a private maximum-spanning tree of pairs, noisy 2-way marginals.

The mechanism of McKenna, Miklau & Sheldon (2021), written on mbi's estimation engine:

1. measure every 1-way marginal (Gaussian), and merge rare codes using those noisy counts
   (:mod:`dptab_core.table.compression`, post-processing);
2. fit the independent model those measurements imply and, like Kruskal's algorithm, add d − 1
   pairs one at a time, each picked by the exponential mechanism with score ‖x_ab − x̂_ab‖₁ (how
   badly independence explains the pair; sensitivity 1 under add/remove-one);
3. measure the d − 1 chosen 2-way marginals, fit the tree model, sample rows, undo compression.

ρ is split by :attr:`MSTSettings.budget_fractions` (thirds) and each part evenly over its
releases; the split is returned as a :class:`BudgetSplit` and every release is in the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import exponential_select
from dptab_core.table.base import BudgetSplit, TableSynthesisResult, TableSynthesizer
from dptab_core.table.compression import Compression
from dptab_core.table.marginals import (
    STAGE,
    Clique,
    Progress,
    all_pairs,
    estimate,
    make_domain,
    marginal_counts,
    measure,
    model_marginal,
    report,
    sample_codes,
    sigma_for_rho,
)
from dptab_core.table.settings import TableSettings

SCORE_SENSITIVITY = 1.0
"""Sensitivity of an edge score ‖x_ab − x̂_ab‖₁: x̂ comes from released data, and one added or
removed row moves one cell of x_ab by 1."""


class MST(TableSynthesizer):
    """Maximum-spanning-tree synthesizer (see the module docstring)."""

    name = "mst"

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
        started = time.perf_counter()
        cfg = settings.mst
        columns = list(sizes)
        d = len(columns)
        split = BudgetSplit(mechanism="mst", total_rho=rho)
        # One column has no pairs: the whole budget goes to its 1-way marginal.
        f_one, f_select, f_two = cfg.budget_fractions if d > 1 else (1.0, 0.0, 0.0)
        rho_one, rho_select = rho * f_one, rho * f_select
        rho_two = rho - rho_one - rho_select  # the remainder, so the parts sum to rho exactly

        report(progress, 0.0, f"MST: measuring {d} 1-way marginals", spent=0.0, total=rho)
        sigma_one = sigma_for_rho(rho_one / d)
        one_way = [
            measure(
                codes,
                sizes,
                (c,),
                sigma=sigma_one,
                rng=rng,
                ledger=ledger,
                label=f"mst 1-way {c}",
                details={"mechanism": "mst", "step": "1-way"},
            )
            for c in columns
        ]
        split.add("1-way marginals", rho=rho_one, count=d, sigma=sigma_one)

        compression = Compression.from_noisy_counts(
            {c: np.asarray(m.noisy_measurement) for c, m in zip(columns, one_way, strict=True)},
            sigma=sigma_one,
            threshold=cfg.compress_threshold,
        )
        full_domain = make_domain(sizes)
        small_sizes = compression.sizes(sizes)
        small_codes = compression.compress(codes)
        domain = make_domain(small_sizes)
        measurements = [
            m.compress({c: compression.mapping[c]}, full_domain) if c in compression.mapping else m
            for c, m in zip(columns, one_way, strict=True)
        ]

        tree: list[Clique] = []
        if d > 1:
            report(progress, 0.15, "MST: fitting the independent model", spent=rho_one, total=rho)
            independent = estimate(domain, measurements, iters=cfg.select_iters)
            tree = self._select_tree(
                small_codes,
                small_sizes,
                independent,
                rho=rho_select,
                rng=rng,
                ledger=ledger,
                split=split,
                progress=progress,
                spent_before=rho_one,
                total=rho,
            )
            sigma_two = sigma_for_rho(rho_two / len(tree))
            report(progress, 0.5, f"MST: measuring {len(tree)} 2-way marginals", spent=rho_one + rho_select, total=rho)
            measurements += [
                measure(
                    small_codes,
                    small_sizes,
                    pair,
                    sigma=sigma_two,
                    rng=rng,
                    ledger=ledger,
                    label=f"mst 2-way {pair[0]} × {pair[1]}",
                    details={"mechanism": "mst", "step": "2-way"},
                )
                for pair in tree
            ]
            split.add("2-way marginals", rho=rho_two, count=len(tree), sigma=sigma_two)

        report(progress, 0.6, f"MST: fitting the model ({cfg.final_iters} steps)", spent=rho, total=rho)
        model = estimate(domain, measurements, iters=cfg.final_iters)
        total = float(model.total)
        rows = n_rows if n_rows is not None else max(1, int(round(total)))
        report(progress, 0.95, f"MST: sampling {rows} rows", spent=rho, total=rho)
        synth = sample_codes(model, rows=rows, seed=seed, method=settings.sampling_method)
        out = compression.decompress(synth, rng=np.random.default_rng([seed, 1]))
        report(progress, 1.0, "MST: done", spent=rho, total=rho)
        return TableSynthesisResult(
            codes=out,
            budget=split,
            cliques=[(c,) for c in columns] + tree,
            estimated_total=total,
            info={
                "compressed_sizes": small_sizes,
                "compressed_columns": sorted(compression.mapping),
                "seconds": time.perf_counter() - started,
            },
        )

    @staticmethod
    def _select_tree(
        codes: Mapping[str, np.ndarray],
        sizes: Mapping[str, int],
        independent: object,
        *,
        rho: float,
        rng: np.random.Generator,
        ledger: Ledger,
        split: BudgetSplit,
        progress: Progress | None,
        spent_before: float,
        total: float,
    ) -> list[Clique]:
        """Kruskal's algorithm with each edge picked by the exponential mechanism."""
        columns = list(sizes)
        one_way = {c: model_marginal(independent, (c,)) for c in columns}
        n_hat = max(float(one_way[columns[0]].sum()), 1e-12)
        # The fitted model has only 1-way cliques, so its 2-way marginals are exact outer products.
        scores = {
            (a, b): float(
                np.abs(marginal_counts(codes, sizes, (a, b)) - np.outer(one_way[a], one_way[b]).ravel() / n_hat).sum()
            )
            for a, b in all_pairs(columns)
        }
        component = {c: c for c in columns}

        def find(c: str) -> str:
            while component[c] != c:
                component[c] = component[component[c]]
                c = component[c]
            return c

        steps = len(columns) - 1
        epsilon = float(np.sqrt(8.0 * rho / steps))
        tree: list[Clique] = []
        for k in range(steps):
            candidates = [e for e in scores if find(e[0]) != find(e[1])]
            report(
                progress,
                0.2 + 0.3 * k / steps,
                f"MST: selecting tree edge {k + 1} of {steps}",
                spent=spent_before + rho * k / steps,
                total=total,
            )
            pick = candidates[
                exponential_select(
                    np.array([scores[e] for e in candidates]),
                    sensitivity=SCORE_SENSITIVITY,
                    epsilon=epsilon,
                    rng=rng,
                    ledger=ledger,
                    stage=STAGE,
                    label=f"mst select edge {k + 1}",
                    details={"mechanism": "mst", "step": "select"},
                )
            ]
            component[find(pick[0])] = find(pick[1])
            tree.append(pick)
        split.add("tree selection", rho=rho, count=steps, epsilon=epsilon)
        return tree
