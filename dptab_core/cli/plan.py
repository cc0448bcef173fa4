"""``python -m dptab_core plan``: turn a total (ε, δ) into every stage's noise, and say what it means.

Prints the per-stage parameters and the composed ε (``--json``: the plan's ``to_dict()``). Imports
neither torch nor jax: it is the same call the budget page makes on every slider move.
"""

from __future__ import annotations

import argparse
import json

from dptab_core.errors import PlanError


def parse_shares(text: str) -> dict[str, float]:
    """``"table=0.3,dpsgd=0.5"`` → ``{"table": 0.3, "dpsgd": 0.5}`` (a PlanError naming the bad item).

    >>> parse_shares("table=0.3, dpsgd=0.5")
    {'table': 0.3, 'dpsgd': 0.5}
    """
    shares = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            shares[name.strip()] = float(value)
        except ValueError:
            raise PlanError(
                f"cannot read the share {item!r}",
                where="--shares",
                hint="Write stage=fraction pairs separated by commas, e.g. table=0.3,dpsgd=0.5.",
            ) from None
    return shares


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``plan`` arguments to ``parser``."""
    from dptab_core.privacy.settings import STAGES, DPSGDSettings, MeanPairSettings

    parser.add_argument("--epsilon", type=float, required=True, help="total ε of the whole pipeline")
    parser.add_argument("--delta", type=float, required=True, help="total δ (well below 1/rows)")
    parser.add_argument("--rows", type=int, required=True, help="number of rows (individuals) in the table")
    parser.add_argument("--shares", default="", help=f"stage=fraction pairs, stages: {', '.join(STAGES)}")
    parser.add_argument("--epochs", type=int, default=DPSGDSettings.epochs, help="DP-SGD epochs (0 turns DP-SGD off)")
    parser.add_argument("--batch-size", type=int, default=DPSGDSettings.batch_size, help="DP-SGD expected batch size")
    parser.add_argument("--max-grad-norm", type=float, default=DPSGDSettings.max_grad_norm, help="DP-SGD clipping norm")
    parser.add_argument(
        "--mean-pair-rounds", type=int, default=MeanPairSettings.rounds, help="DP mean-pair releases (0 turns them off)"
    )
    parser.add_argument("--no-semantic-query", action="store_true", help="turn the semantic query stage off")
    parser.add_argument(
        "--paid-columns",
        type=int,
        default=0,
        help="synthesized columns whose domain is not declared public (the schema stage pays for them)",
    )
    parser.add_argument("--columns", type=int, default=None, help="synthesized columns (sharpens the plain words)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Plan and print; PlanError propagates to the CLI's exit code 2."""
    from dptab_core.privacy.plan import plan_budget
    from dptab_core.privacy.settings import DPSGDSettings, MeanPairSettings, SemanticQuerySettings

    plan = plan_budget(
        epsilon=args.epsilon,
        delta=args.delta,
        n_rows=args.rows,
        shares=parse_shares(args.shares),
        dpsgd=DPSGDSettings(epochs=args.epochs, batch_size=args.batch_size, max_grad_norm=args.max_grad_norm),
        mean_pairs=MeanPairSettings(rounds=args.mean_pair_rounds),
        semantic_query=SemanticQuerySettings(enabled=not args.no_semantic_query),
        n_paid_columns=args.paid_columns,
        n_columns=args.columns,
    )
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    print(
        f"Composed ε = {plan.composed_epsilon:.4f} at δ = {plan.delta:g} (target ε = {plan.epsilon:g}, n = {plan.n_rows})"
    )
    for stage in plan.stages.values():
        if not stage.enabled:
            print(f"\n{stage.name}: off")
            continue
        params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in stage.params.items())
        print(f"\n{stage.name}: share {stage.share:.0%}, standalone ε = {stage.standalone_epsilon:.3f}\n  {params}")
        for sentence in stage.plain_words:
            print(f"  - {sentence}")
    for warning in plan.warnings:
        print(f"\nwarning: {warning}")
    return 0
