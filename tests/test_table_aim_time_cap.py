"""AIM's time cap covers the whole run, the final fit included, and still spends exactly ρ."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from dptab_core.privacy.ledger import Ledger
from dptab_core.table import PRESETS, get_synthesizer

pytestmark = pytest.mark.slow

CAP_S = 12.0


def correlated_codes(n: int = 3000, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, n)
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, 6, n))
    c = np.where(rng.random(n) < 0.7, (a + b) % 4, rng.integers(0, 4, n))
    d = np.where(rng.random(n) < 0.7, c % 3, rng.integers(0, 3, n))
    e = rng.integers(0, 5, n)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}, {"a": 6, "b": 6, "c": 4, "d": 3, "e": 5}


@pytest.fixture(scope="module")
def capped_run():
    """AIM with fits far too long for its cap: only the deadlines can end it in time."""
    codes, sizes = correlated_codes()
    fast = PRESETS["fast"]
    aim = dataclasses.replace(fast.aim, time_cap_s=CAP_S, max_rounds=None, round_iters=2_000, final_iters=10**7)
    events: list[tuple[float, str]] = []
    ledger = Ledger()
    started = time.perf_counter()
    result = get_synthesizer("aim").run(
        codes,
        sizes,
        rho=0.5,
        n_rows=None,
        rng=np.random.default_rng(1),
        seed=2,
        ledger=ledger,
        progress=lambda f, m: events.append((time.perf_counter() - started, m)),
        settings=dataclasses.replace(fast, aim=aim),
    )
    return result, ledger, events, time.perf_counter() - started, aim


def test_the_final_fit_stops_before_the_sampling_share_of_the_cap(capped_run):
    _, _, events, _, aim = capped_run
    sampling_at = next(t for t, m in events if "sampling" in m)
    fit_deadline = CAP_S * (1.0 - aim.sampling_time_share)
    assert sampling_at <= fit_deadline + 2.0, (
        f"sampling began {sampling_at:.1f}s in: the fits ran past their {fit_deadline:.1f}s deadline"
    )


def test_no_round_starts_after_the_rounds_share_of_the_cap(capped_run):
    _, _, events, _, aim = capped_run
    last_round = max(t for t, m in events if "round" in m and "done" not in m)
    assert last_round <= CAP_S * aim.rounds_time_share + 2.0, f"a round began {last_round:.1f}s in"


def test_a_capped_run_ends_near_its_cap_and_spends_exactly_rho(capped_run):
    result, ledger, _, seconds, _ = capped_run
    assert seconds <= CAP_S + 20.0, f"the run took {seconds:.0f}s under a {CAP_S:.0f}s cap"
    spent = sum(e.rho if e.mechanism == "zcdp" else e.sensitivity**2 / (2 * e.sigma**2) for e in ledger.entries)
    assert spent == pytest.approx(0.5, rel=1e-9), f"ledger spent ρ={spent}, the plan gave 0.5"
    assert result.budget.spent == pytest.approx(0.5, rel=1e-9), "the budget split does not add up to ρ"
