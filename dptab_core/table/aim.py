"""AIM on mbi 2.0: rounds of "pick the worst-approximated marginal, measure it, refit", σ annealed.

The mechanism of McKenna, Mullins, Sheldon & Miklau (2022), written on mbi's estimation engine.
Workload: every 2-way marginal (every 1-way when there is one column); candidates are the workload's
downward closure, each weighted by how many workload attributes it shares.

1. measure every 1-way marginal with the planned σ and fit a model;
2. each round spends ρ_t = 1/(2σ²) + ε²/8: the exponential mechanism (ε, sensitivity = largest
   weight) picks the candidate with the largest weighted ‖x − x̂‖₁ minus the noise it would add,
   among candidates that keep the model under its (growing) size cap; the pick is measured with
   σ and the model refit (warm-started);
3. when a measurement barely moved the model, σ halves and ε doubles (annealing); when the budget
   left would not pay for two more rounds, the last round spends all of it.

Every refit — per round and the final one — runs :func:`dptab_core.table.tree_fit.fit_tree`, a NumPy
mirror descent on the model's junction tree (the same algorithm as mbi's ``MirrorDescent``): mbi
compiles anew for each clique set, which made a round cost 20–40 s on Adult; mbi still samples.

Speed controls (:class:`AIMSettings`): a model-size cap, a round cap and a time cap that covers the
whole run (no round starts after its rounds share, no fit runs into its sampling share). When a cap
nears, the budget left is spread over the rounds that still fit, picking up to
``max_cliques_per_round`` cliques per refit (each its own exponential mechanism) when one per round
would leave budget over, so the run always ends having spent exactly ρ. Every round's ε and σ are in
the returned :class:`BudgetSplit` and the ledger.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import exponential_select
from dptab_core.table.base import BudgetSplit, TableSynthesisResult, TableSynthesizer
from dptab_core.table.compression import Compression
from dptab_core.table.marginals import (
    STAGE,
    Clique,
    ModelMarginals,
    Progress,
    all_pairs,
    load_mbi,
    make_domain,
    marginal_counts,
    measure,
    report,
    sample_codes,
)
from dptab_core.table.settings import AIMSettings, TableSettings
from dptab_core.table.tree_fit import fit_tree


def workload_candidates(columns: list[str]) -> dict[Clique, float]:
    """Downward closure of the all-pairs workload, each clique weighted by its overlap with it.

    >>> workload_candidates(["a", "b", "c"])
    {('a',): 2.0, ('b',): 2.0, ('c',): 2.0, ('a', 'b'): 4.0, ('a', 'c'): 4.0, ('b', 'c'): 4.0}
    """
    workload = all_pairs(columns) or [(c,) for c in columns]
    closure = sorted(
        {sub for w in workload for k in range(1, len(w) + 1) for sub in itertools.combinations(w, k)},
        key=lambda cl: (len(cl), [columns.index(c) for c in cl]),
    )
    return {cl: float(sum(len(set(cl) & set(w)) for w in workload)) for cl in closure}


class AIM(TableSynthesizer):
    """Adaptive-and-iterative synthesizer (see the module docstring)."""

    name = "aim"

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
        cfg = settings.aim
        columns = list(sizes)
        d = len(columns)
        split = BudgetSplit(mechanism="aim", total_rho=rho)
        alpha = cfg.measure_fraction
        # The 1-ways cost d "round units"; AIM plans rounds_per_column·d units in all.
        planned = (
            cfg.rounds_per_column * d if cfg.max_rounds is None else min(cfg.rounds_per_column * d, d + cfg.max_rounds)
        )
        sigma = math.sqrt(planned / (2.0 * alpha * rho))
        epsilon = math.sqrt(8.0 * (1.0 - alpha) * rho / planned)

        report(progress, 0.0, f"AIM: measuring {d} 1-way marginals", spent=0.0, total=rho)
        one_way = [
            measure(
                codes,
                sizes,
                (c,),
                sigma=sigma,
                rng=rng,
                ledger=ledger,
                label=f"aim 1-way {c}",
                details={"mechanism": "aim", "round": 0},
            )
            for c in columns
        ]
        used = d / (2.0 * sigma**2)
        split.add("1-way marginals", rho=used, count=d, sigma=sigma, round=0)

        compression = Compression()
        if cfg.compress_threshold is not None:
            compression = Compression.from_noisy_counts(
                {c: np.asarray(m.noisy_measurement) for c, m in zip(columns, one_way, strict=True)},
                sigma=sigma,
                threshold=cfg.compress_threshold,
            )
        full_domain = make_domain(sizes)
        sizes, codes = compression.sizes(sizes), compression.compress(codes)
        domain = make_domain(sizes)
        measurements = [
            m.compress({c: compression.mapping[c]}, full_domain) if c in compression.mapping else m
            for c, m in zip(columns, one_way, strict=True)
        ]
        deadlines = _Deadlines.of(cfg, started)
        model = fit_tree(sizes, measurements, iters=cfg.round_iters, deadline=deadlines.fit)

        candidates = workload_candidates(columns)
        answers = {cl: marginal_counts(codes, sizes, cl) for cl in candidates}
        rounds_started = time.perf_counter()
        t, final = 0, False
        while not final:
            t += 1
            remaining = rho - used
            per_pick = 1.0 / (2.0 * sigma**2) + epsilon**2 / 8.0
            left = self._rounds_left(cfg, t, rounds_started, deadlines.rounds)
            batch = 1
            if left is not None and remaining / left > per_pick:
                # A cap nears: spend what is left over the rounds that fit, picking several cliques per
                # refit (refits, not selections, cost the time) rather than fewer, finer measurements.
                batch = max(1, min(cfg.max_cliques_per_round, int(remaining / left / per_pick)))
                per_pick = remaining / left / batch
            if remaining < 2.0 * per_pick * batch or left == 1:  # last round: spend everything left
                per_pick, final = remaining / batch, True
            sigma, epsilon = _split_round(per_pick, alpha)
            round_rho = remaining if final else per_pick * batch
            report(progress, min(used / rho, 0.97), f"AIM: round {t} (≤ {planned - d} planned)", spent=used, total=rho)
            used = rho if final else used + round_rho

            picked: list[Clique] = []
            for _ in range(batch):
                allowed = self._small_candidates(
                    candidates, model, domain, cfg.max_model_size_mb * used / rho, picked=picked
                )
                clique = self._worst_approximated(
                    allowed, answers, model, sizes, sigma=sigma, epsilon=epsilon, rng=rng, ledger=ledger, round_no=t
                )
                measurements.append(
                    measure(
                        codes,
                        sizes,
                        clique,
                        sigma=sigma,
                        rng=rng,
                        ledger=ledger,
                        label=f"aim round {t} measure {' × '.join(clique)}",
                        details={"mechanism": "aim", "round": t},
                    )
                )
                picked.append(clique)
            split.add(
                f"round {t}",
                rho=round_rho,
                count=2 * batch,
                sigma=sigma,
                epsilon=epsilon,
                cliques=[list(cl) for cl in picked],
            )
            before = ModelMarginals(model)
            model = fit_tree(sizes, measurements, iters=cfg.round_iters, warm_start=model, deadline=deadlines.fit)
            after = ModelMarginals(model)
            moved = sum(np.abs(after(cl) - before(cl)).sum() for cl in picked)
            expected = sum(sigma * math.sqrt(2.0 / math.pi) * math.prod(sizes[c] for c in cl) for cl in picked)
            if moved <= expected:
                sigma, epsilon = sigma / 2.0, epsilon * 2.0  # the model already knew it: measure finer

        report(progress, 0.97, f"AIM: final fit ({cfg.final_iters} steps)", spent=rho, total=rho)
        model = fit_tree(sizes, measurements, iters=cfg.final_iters, warm_start=model, deadline=deadlines.fit)
        total = float(model.total)
        rows = n_rows if n_rows is not None else max(1, int(round(total)))
        report(progress, 0.99, f"AIM: sampling {rows} rows", spent=rho, total=rho)
        synth = sample_codes(model.to_mbi(), rows=rows, seed=seed, method=settings.sampling_method)
        out = compression.decompress(synth, rng=np.random.default_rng([seed, 1]))
        report(progress, 1.0, f"AIM: done after {t} rounds", spent=rho, total=rho)
        return TableSynthesisResult(
            codes=out,
            budget=split,
            cliques=[m.clique for m in measurements],
            estimated_total=total,
            info={
                "rounds": t,
                "model_size_mb": _model_size(domain, [m.clique for m in measurements]),
                "compressed_sizes": sizes,
                "seconds": time.perf_counter() - started,
            },
        )

    @staticmethod
    def _rounds_left(cfg: AIMSettings, t: int, rounds_started: float, deadline: float | None) -> int | None:
        """How many rounds (this one included) the round and time caps still allow; None: no cap binds."""
        limits = []
        if cfg.max_rounds is not None:
            limits.append(cfg.max_rounds - t + 1)
        if deadline is not None and t > 1:
            now = time.perf_counter()
            per_round = (now - rounds_started) / (t - 1)
            limits.append(int((deadline - now) // per_round))
        return max(1, min(limits)) if limits else None

    @staticmethod
    def _small_candidates(
        candidates: dict[Clique, float], model: object, domain: object, limit_mb: float, *, picked: list[Clique]
    ) -> dict[Clique, float]:
        """Candidates not yet picked this round that keep the model within ``limit_mb`` (or it covers)."""
        cliques = list(model.cliques) + picked  # type: ignore[attr-defined]
        covered = {sub for cl in cliques for k in range(1, len(cl) + 1) for sub in itertools.combinations(cl, k)}
        allowed = {
            cl: w for cl, w in candidates.items() if cl in covered or _model_size(domain, cliques + [cl]) <= limit_mb
        }
        # Each pick of a round is a fresh clique while any is left (the 1-ways are always allowed).
        return {cl: w for cl, w in allowed.items() if cl not in picked} or allowed

    @staticmethod
    def _worst_approximated(
        candidates: dict[Clique, float],
        answers: dict[Clique, np.ndarray],
        model: object,
        sizes: Mapping[str, int],
        *,
        sigma: float,
        epsilon: float,
        rng: np.random.Generator,
        ledger: Ledger,
        round_no: int,
    ) -> Clique:
        """The exponential mechanism over weighted errors, less the expected noise of measuring each one."""
        keys = list(candidates)
        estimated = ModelMarginals(model)
        errors = np.array(
            [
                candidates[cl]
                * (
                    np.abs(answers[cl] - estimated(cl)).sum()
                    - math.sqrt(2.0 / math.pi) * sigma * math.prod(sizes[c] for c in cl)
                )
                for cl in keys
            ]
        )
        # One row moves ‖x − x̂‖₁ by at most 1, so a weighted score moves by at most its weight.
        sensitivity = max(candidates.values())
        return keys[
            exponential_select(
                errors,
                sensitivity=sensitivity,
                epsilon=epsilon,
                rng=rng,
                ledger=ledger,
                stage=STAGE,
                label=f"aim round {round_no} select",
                details={"mechanism": "aim", "round": round_no},
            )
        ]


@dataclass(frozen=True)
class _Deadlines:
    """When the rounds must end and when any fit must stop (``time.perf_counter()`` values; None: no cap)."""

    rounds: float | None
    fit: float | None

    @classmethod
    def of(cls, cfg: AIMSettings, started: float) -> _Deadlines:
        if cfg.time_cap_s is None:
            return cls(None, None)
        return cls(
            started + cfg.time_cap_s * cfg.rounds_time_share, started + cfg.time_cap_s * (1.0 - cfg.sampling_time_share)
        )


def _split_round(round_rho: float, alpha: float) -> tuple[float, float]:
    """σ and ε that spend ``round_rho``: a share ``alpha`` measuring, the rest selecting."""
    return math.sqrt(1.0 / (2.0 * alpha * round_rho)), math.sqrt(8.0 * (1.0 - alpha) * round_rho)


def _model_size(domain: object, cliques: list[Clique]) -> float:
    """Junction-tree size in MB of a model over ``cliques`` (mbi's own measure)."""
    return float(load_mbi().junction_tree.hypothetical_model_size(domain, cliques))
