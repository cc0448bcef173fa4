"""Shared helpers of the marginal-based table synthesizers: mbi set-up, noisy marginals, fitting, TVD.

The synthesizers work on integer codes (one array per column, values ``0 … size-1``) and a public
domain (``{column: size}``). Everything here that reads the sensitive codes and influences an
output goes through :func:`measure`, i.e. through :func:`dptab_core.privacy.mechanisms.gaussian_release`,
which records the spend in the ledger where the noise is drawn.

**Neighbouring relation.** Two tables are neighbours when one is the other plus or minus one
individual (one row), the relation the whole product uses ("differ by one individual", add/remove).
Adding or removing a row changes exactly one cell of every marginal count vector by 1, so each
marginal has L2 sensitivity :data:`MARGINAL_SENSITIVITY` = 1 and the number of rows itself is *not*
public (the synthesizers estimate it from the noisy marginals). Under replace-one it would be √2.

Cliques are always kept in the domain's column order (:func:`canonical`), so that a flattened
count vector here and mbi's ``Factor.datavector()`` of the same clique agree cell by cell.

>>> codes = {"a": np.array([0, 1, 1]), "b": np.array([2, 0, 2])}
>>> marginal_counts(codes, {"a": 2, "b": 3}, ("a", "b")).tolist()
[0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
>>> round(total_variation(np.array([3.0, 1.0]), np.array([1.0, 1.0])), 3)
0.25
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import gaussian_release

MARGINAL_SENSITIVITY = 1.0
"""L2 sensitivity of one marginal count vector under add/remove-one-individual neighbours."""

STAGE = "table"
"""The ledger stage of every table-synthesis release."""

Clique = tuple[str, ...]
Progress = Callable[[float, str], None]


def load_mbi() -> Any:
    """Import mbi with the JAX settings it wants (float64, no persistent compile cache).

    Both must be set before ``import mbi`` or it warns, and float32 makes estimation stall on tens
    of thousands of rows. Done lazily so that importing :mod:`dptab_core.table` needs no JAX.
    """
    # The pinned jaxlib is a CPU build; without this JAX probes for TPUs and prints
    # "Unable to initialize backend 'tpu'" into every job log. A user's own setting wins.
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    import mbi

    return mbi


def canonical(clique: Sequence[str], order: Sequence[str]) -> Clique:
    """``clique`` sorted by the columns' position in ``order``."""
    position = {name: i for i, name in enumerate(order)}
    return tuple(sorted(clique, key=position.__getitem__))


def marginal_counts(codes: Mapping[str, np.ndarray], sizes: Mapping[str, int], clique: Clique) -> np.ndarray:
    """The flattened (C order) count vector of ``clique``: the exact, sensitive marginal."""
    shape = tuple(int(sizes[c]) for c in clique)
    if not clique:
        return np.array([float(len(next(iter(codes.values()))))])
    flat = np.ravel_multi_index(tuple(np.asarray(codes[c]) for c in clique), shape)
    return np.bincount(flat, minlength=math.prod(shape)).astype(float)


def measure(
    codes: Mapping[str, np.ndarray],
    sizes: Mapping[str, int],
    clique: Clique,
    *,
    sigma: float,
    rng: np.random.Generator,
    ledger: Ledger,
    label: str,
    details: dict | None = None,
) -> Any:
    """One Gaussian release of ``clique``'s marginal, as an mbi ``LinearMeasurement``."""
    mbi = load_mbi()
    noisy = gaussian_release(
        marginal_counts(codes, sizes, clique),
        sensitivity=MARGINAL_SENSITIVITY,
        sigma=sigma,
        rng=rng,
        ledger=ledger,
        stage=STAGE,
        label=label,
        details={"clique": list(clique), "cells": math.prod(sizes[c] for c in clique), **(details or {})},
    )
    return mbi.LinearMeasurement(noisy, clique, stddev=sigma)


def gaussian_rho(sigma: float) -> float:
    """zCDP cost ρ = Δ²/(2σ²) of one Gaussian release of a marginal."""
    return MARGINAL_SENSITIVITY**2 / (2.0 * sigma**2)


def sigma_for_rho(rho: float) -> float:
    """Noise std σ that makes one marginal release cost exactly ``rho``."""
    return MARGINAL_SENSITIVITY / math.sqrt(2.0 * rho)


def make_domain(sizes: Mapping[str, int]) -> Any:
    """The mbi ``Domain`` of ``sizes`` (column order kept)."""
    mbi = load_mbi()
    return mbi.Domain(list(sizes), [int(s) for s in sizes.values()])


def estimate(domain: Any, measurements: list, *, iters: int, warm_start: Any = None) -> Any:
    """Fit a graphical model to noisy measurements with mbi's mirror descent (Armijo steps)."""
    mbi = load_mbi()
    return mbi.estimation.MirrorDescent().estimate(domain, measurements, iters=iters, warm_start=warm_start)


def sample_codes(model: Any, *, rows: int, seed: int, method: str = "sample") -> dict[str, np.ndarray]:
    """Draw ``rows`` synthetic records from a fitted model, reproducibly.

    mbi's ``synthetic_data`` draws from the *global* ``np.random``; we seed it from ``seed`` and put
    the previous global state back afterwards, so callers' own use of ``np.random`` is undisturbed.
    """
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        data = model.synthetic_data(rows=rows, method=method)
    finally:
        np.random.set_state(state)
    return {col: np.asarray(data.data[col], dtype=np.int64) for col in model.domain.attributes}


class ModelMarginals:
    """Any 1-way or 2-way marginal of a fitted model (or one inside a model clique), in NumPy.

    Takes an mbi model or a :class:`dptab_core.table.tree_fit.TreeModel` (whose calibrated node
    marginals are used as they are).

    mbi's ``model.project`` runs JAX variable elimination, which traces and compiles anew for every
    clique a model does not hold (about a second each), and AIM scores ~100 candidates per round;
    a single ``einsum`` over all potentials explodes once the model has cycles. Instead we
    calibrate the model's junction tree once (mbi's own message passing) and walk the tree path
    between the two attributes, multiplying conditionals P(clique | separator): exact, and never
    larger than one tree clique times one attribute.
    """

    def __init__(self, model: Any) -> None:
        import networkx as nx

        self.total = float(model.total)
        self._tables: dict[Clique, tuple[list[str], np.ndarray]] = {}
        if hasattr(model, "tree"):  # a NumPy TreeModel (dptab_core.table.tree_fit): already calibrated
            self._tree = nx.Graph()
            self._tree.add_nodes_from(model.tree.nodes)
            self._tree.add_edges_from((n, p) for n, p in model.tree.parent.items() if p is not None)
            self._tables = {node: (list(node), model.marginals[node]) for node in model.tree.nodes}
            return
        mbi = load_mbi()
        self._tree, _ = mbi.junction_tree.make_junction_tree(model.domain, [tuple(cl) for cl in model.cliques])
        calibrated = mbi.marginal_oracles.message_passing_stable(
            model.potentials.expand(list(self._tree.nodes)), model.total
        )
        for node in self._tree.nodes:
            factor = calibrated[node]
            self._tables[node] = (list(factor.domain.attributes), np.asarray(factor.values, dtype=float))

    def __call__(self, clique: Clique) -> np.ndarray:
        """The marginal of ``clique`` (canonical order), flattened like :func:`marginal_counts`, summing to N."""
        for attrs, table in self._tables.values():
            if set(clique) <= set(attrs):
                return _sum_to(table, attrs, list(clique)).ravel()
        if len(clique) != 2:
            raise ValueError(f"{clique}: only 1-way, 2-way or in-clique marginals are supported")
        import networkx as nx

        a, b = clique
        start = next(node for node in self._tables if a in self._tables[node][0])
        end = next(node for node in self._tables if b in self._tables[node][0])
        if not nx.has_path(self._tree, start, end):  # separate components of the model: independent
            return np.outer(self((a,)), self((b,))).ravel() / self.total
        path = nx.shortest_path(self._tree, start, end)
        attrs, table = self._tables[path[0]]
        keep = [a] + [v for v in attrs if v in self._tables[path[1]][0] and v != a]
        factor, factor_attrs = _sum_to(table, attrs, keep), keep
        for i, node in enumerate(path[1:], start=1):
            attrs, table = self._tables[node]
            separator = [v for v in factor_attrs if v != a or a in attrs]
            conditional = _divide(table, _expand(_sum_to(table, attrs, separator), separator, attrs))
            nxt = self._tables[path[i + 1]][0] if i + 1 < len(path) else [b]
            out = [a] + [v for v in attrs if v in nxt and v != a]
            labels = {v: k for k, v in enumerate(dict.fromkeys(factor_attrs + attrs))}
            factor = np.einsum(
                factor,
                [labels[v] for v in factor_attrs],
                conditional,
                [labels[v] for v in attrs],
                [labels[v] for v in out],
            )
            factor_attrs = out
        return _sum_to(factor, factor_attrs, [a, b]).ravel()


def _sum_to(table: np.ndarray, attrs: list[str], keep: list[str]) -> np.ndarray:
    """``table`` (axes ``attrs``) summed over the other axes, axes in the order of ``keep``."""
    summed = table.sum(axis=tuple(i for i, v in enumerate(attrs) if v not in keep))
    remaining = [v for v in attrs if v in keep]
    return np.transpose(summed, [remaining.index(v) for v in keep])


def _expand(table: np.ndarray, attrs: list[str], target: list[str]) -> np.ndarray:
    """``table`` over ``attrs`` broadcastable against an array over ``target``."""
    ordered = np.transpose(table, [attrs.index(v) for v in target if v in attrs])
    return ordered.reshape(
        [ordered.shape[[v for v in target if v in attrs].index(v)] if v in attrs else 1 for v in target]
    )


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def model_marginal(model: Any, clique: Clique) -> np.ndarray:
    """A fitted model's marginal of ``clique``, flattened like :func:`marginal_counts`."""
    return ModelMarginals(model)(clique)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance ½‖p/Σp − q/Σq‖₁ between two count vectors (0 when both are empty)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    p = p / p.sum() if p.sum() > 0 else p
    q = q / q.sum() if q.sum() > 0 else q
    return 0.5 * float(np.abs(p - q).sum())


def all_pairs(columns: Sequence[str]) -> list[Clique]:
    """Every 2-way clique of ``columns``, in column order."""
    return [tuple(pair) for pair in itertools.combinations(columns, 2)]


def average_tvd(
    real: Mapping[str, np.ndarray], synth: Mapping[str, np.ndarray], sizes: Mapping[str, int], cliques: Sequence[Clique]
) -> float:
    """Average TVD between real and synthetic marginals over ``cliques`` (evaluation, not DP)."""
    return float(
        np.mean(
            [total_variation(marginal_counts(real, sizes, cl), marginal_counts(synth, sizes, cl)) for cl in cliques]
        )
    )


def report(progress: Progress | None, fraction: float, message: str, *, spent: float, total: float) -> None:
    """Tell the job system how far a run is: ``fraction`` done, and ρ spent so far in the message."""
    if progress is not None:
        progress(fraction, f"{message} (ρ spent {spent:.4g} of {total:.4g})")
