"""The methods a run can follow, in an explicit registry: DP-TabImage and the baselines that run on their own.

Each method is a function with the signature of :class:`MethodRun` (a spec in, a release-style
folder out), listed in :data:`METHODS` by the name the sweep and the CLI use:

* ``dp-tabimage`` — the method itself (:mod:`.dp_tabimage`: its stage list and the job entry);
* ``image-first`` — record-free DP images first, then table rows paired with them (:mod:`.image_first`);
* ``non-private`` — NOT PRIVATE: the same model without DP, an upper bound (:mod:`.non_private`).

The sweep's other baselines (:data:`dptab_core.pipeline.sweep.BASELINES`) are DP-TabImage with one
ingredient removed from its spec, so they need no entry here. Importing this package pulls in
neither torch nor jax: each method imports its heavy libraries when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dptab_core.pipeline.methods import dp_tabimage, image_first, non_private
from dptab_core.pipeline.run import ProgressFn
from dptab_core.pipeline.spec import SynthSpec


class MethodRun(Protocol):
    """``run(spec, *, out_dir, work_dir, progress, should_stop) → summary``: one run of a method on ``spec``'s data."""

    def __call__(
        self,
        spec: SynthSpec,
        *,
        out_dir: Path,
        work_dir: Path,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Method:
    """One registered method: its name, what it is, how to run it, and whether its output is private."""

    name: str
    description: str
    run: MethodRun
    private: bool = True
    """False: not differentially private — run once (not per ε) and reported as ε = ∞."""


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("dp-tabimage", "the full method", dp_tabimage.run_pipeline),
        Method(
            "image-first",
            "image → table order: record-free DP images, then rows paired by a DP reader",
            image_first.run_image_first,
        ),
        Method(
            "non-private",
            "NOT PRIVATE (ε = ∞): the conditional model without DP, the real rows as the table",
            non_private.run_non_private,
            private=False,
        ),
    )
}
"""Every method a run can follow, by name."""
