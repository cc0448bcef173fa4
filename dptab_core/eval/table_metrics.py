"""Table fidelity: how close the synthetic rows' statistics are to the real rows'.

Everything works on the shared public-domain integer codes (:func:`dptab_core.data.encoding.encode_table`),
one ``{column: codes}`` dict per side plus the domain sizes, so numeric columns are compared in the
same bins the table model used and a missing value is a category like any other.

* total-variation distance (TVD) of every 1-way and 2-way marginal — 0 when the histograms match,
  1 when they share no cell;
* an association matrix (Cramér's V between every pair of columns) and its mean absolute difference,
  which reads like a correlation heatmap but works for categorical and binned columns alike;
* train-on-synthetic / test-on-real accuracy of a categorical naive Bayes classifier for one target
  column, next to the same classifier trained on real rows (the ceiling).

>>> real = {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 1, 0, 1])}
>>> sizes = {"a": 2, "b": 2}
>>> tvd_1way(real, real, sizes)["mean"]
0.0
>>> tvd_1way(real, {"a": np.array([1, 1, 1, 1]), "b": real["b"]}, sizes)["per_column"]["a"]
0.5
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

Codes = dict[str, np.ndarray]


def histogram(codes: np.ndarray, size: int) -> np.ndarray:
    """Normalised histogram (sums to 1) of integer codes ``0 … size-1``; all zeros when empty."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=size).astype(float)
    total = counts.sum()
    return counts / total if total else counts


def joint_histogram(codes_a: np.ndarray, codes_b: np.ndarray, size_a: int, size_b: int) -> np.ndarray:
    """Normalised 2-way histogram, shape ``(size_a, size_b)``."""
    flat = np.asarray(codes_a, dtype=np.int64) * size_b + np.asarray(codes_b, dtype=np.int64)
    return histogram(flat, size_a * size_b).reshape(size_a, size_b)


def tvd(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance ½·Σ|p − q| between two normalised histograms."""
    return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())


def tvd_1way(real: Codes, synthetic: Codes, sizes: dict[str, int]) -> dict:
    """TVD of each column's histogram: ``{"mean", "max", "per_column": {col: tvd}}``."""
    per = {c: tvd(histogram(real[c], sizes[c]), histogram(synthetic[c], sizes[c])) for c in sizes}
    return {"mean": _mean(per.values()), "max": max(per.values(), default=0.0), "per_column": per}


def tvd_2way(real: Codes, synthetic: Codes, sizes: dict[str, int], *, n_worst: int = 5) -> dict:
    """TVD of every pair's joint histogram: ``{"mean", "max", "worst_pairs": [(a, b, tvd), …]}``.

    The worst pairs are what a data owner looks at first: a link the table model lost.
    """
    per = {
        (a, b): tvd(
            joint_histogram(real[a], real[b], sizes[a], sizes[b]),
            joint_histogram(synthetic[a], synthetic[b], sizes[a], sizes[b]),
        )
        for a, b in combinations(sizes, 2)
    }
    worst = sorted(per.items(), key=lambda item: -item[1])[:n_worst]
    return {
        "mean": _mean(per.values()),
        "max": max(per.values(), default=0.0),
        "worst_pairs": [[a, b, v] for (a, b), v in worst],
    }


def cramers_v(codes_a: np.ndarray, codes_b: np.ndarray, size_a: int, size_b: int) -> float:
    """Cramér's V (0 = independent, 1 = one column determines the other) from the contingency table.

    Rows and columns of the table that are empty are dropped so that unused domain values do not
    shrink the statistic.

    >>> x = np.array([0, 1, 0, 1, 2, 2])
    >>> round(cramers_v(x, x, 3, 3), 6)
    1.0
    """
    joint = joint_histogram(codes_a, codes_b, size_a, size_b)
    joint = joint[joint.sum(axis=1) > 0][:, joint.sum(axis=0) > 0]
    k = min(joint.shape) - 1
    if k < 1:
        return 0.0
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    chi2_over_n = float(((joint - expected) ** 2 / expected).sum())
    return float(np.sqrt(min(chi2_over_n / k, 1.0)))


def association_matrix(codes: Codes, sizes: dict[str, int]) -> np.ndarray:
    """Symmetric matrix of Cramér's V between all columns (in ``sizes`` order), 1 on the diagonal."""
    names = list(sizes)
    out = np.eye(len(names))
    for i, j in combinations(range(len(names)), 2):
        a, b = names[i], names[j]
        out[i, j] = out[j, i] = cramers_v(codes[a], codes[b], sizes[a], sizes[b])
    return out


def association_difference(real: Codes, synthetic: Codes, sizes: dict[str, int]) -> float:
    """Mean absolute difference of the off-diagonal association entries, real vs synthetic."""
    n = len(sizes)
    if n < 2:
        return 0.0
    diff = np.abs(association_matrix(real, sizes) - association_matrix(synthetic, sizes))
    return float(diff[np.triu_indices(n, k=1)].mean())


def naive_bayes_fit(codes: Codes, sizes: dict[str, int], target: str, *, smoothing: float = 1.0) -> dict:
    """Categorical naive Bayes log-probabilities, Laplace-smoothed: a small, deterministic classifier.

    Chosen for TSTR because it needs no tuning, trains in milliseconds and only reads the marginals
    that a table synthesizer is meant to preserve (target × each feature).
    """
    y = codes[target]
    prior = np.bincount(y, minlength=sizes[target]) + smoothing
    model = {"prior": np.log(prior / prior.sum()), "likelihood": {}}
    for col in sizes:
        if col == target:
            continue
        counts = np.zeros((sizes[target], sizes[col])) + smoothing
        np.add.at(counts, (y, codes[col]), 1.0)
        model["likelihood"][col] = np.log(counts / counts.sum(axis=1, keepdims=True))
    return model


def naive_bayes_predict(model: dict, codes: Codes) -> np.ndarray:
    """Most probable target code for each row."""
    n = len(next(iter(codes.values())))
    scores = np.tile(model["prior"], (n, 1))
    for col, loglik in model["likelihood"].items():
        scores += loglik[:, codes[col]].T
    return scores.argmax(axis=1)


def tstr_table(real_train: Codes, real_test: Codes, synthetic: Codes, sizes: dict[str, int], *, target: str) -> dict:
    """Accuracy on held-out real rows of a classifier trained on synthetic rows vs on real rows.

    ``{"target", "synthetic", "real", "majority", "majority_code"}``: ``real`` is the ceiling (train on
    the other real rows), ``majority`` the floor (always predict ``majority_code``, the most common
    real training value).
    """
    y_test = real_test[target]
    on_syn = naive_bayes_predict(naive_bayes_fit(synthetic, sizes, target), real_test)
    on_real = naive_bayes_predict(naive_bayes_fit(real_train, sizes, target), real_test)
    majority = np.bincount(real_train[target], minlength=sizes[target]).argmax()
    return {
        "target": target,
        "synthetic": float(np.mean(on_syn == y_test)),
        "real": float(np.mean(on_real == y_test)),
        "majority": float(np.mean(y_test == majority)),
        "majority_code": int(majority),
    }


def baselines(real: Codes, sizes: dict[str, int]) -> dict[str, float]:
    """What a useless table would score, so a TVD can be read against it.

    ``tvd_1way_uniform``: mean 1-way TVD of flat histograms (every value equally likely) against the
    real ones. ``tvd_2way_independent``: mean 2-way TVD of the real columns drawn independently (each
    pair's joint = product of its real 1-way histograms) — a release that lost every link between
    columns but kept each column perfectly scores this.

    >>> real = {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 0, 1, 1])}
    >>> baselines(real, {"a": 2, "b": 2})
    {'tvd_1way_uniform': 0.0, 'tvd_2way_independent': 0.5}
    """
    hist = {c: histogram(real[c], sizes[c]) for c in sizes}
    uniform = _mean(tvd(h, np.full(len(h), 1.0 / len(h))) for h in hist.values())
    pairs = [
        tvd(joint_histogram(real[a], real[b], sizes[a], sizes[b]), np.outer(hist[a], hist[b]))
        for a, b in combinations(sizes, 2)
    ]
    return {"tvd_1way_uniform": uniform, "tvd_2way_independent": _mean(pairs)}


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else 0.0
