"""The DP-TabImage pipeline: one run from a CSV + images to a released synthetic dataset.

Stages run in the order of DESIGN.md §2, each an accounted mechanism or pure post-processing::

    load → schema → semantic query → public pre-training → mean pairs → table → warm-up → DP-SGD → sample → release

Every noisy read of the sensitive data records a ledger entry where the noise is drawn; before
anything is written to the output folder the ledger is compared with the plan
(:func:`~dptab_core.privacy.verify_ledger_matches_plan`), and a mismatch stops the run.

Each finished stage leaves a checkpoint, so a resumed job (after a crash, a kill or a cancel)
continues from the last finished stage. The ledger entries of an unfinished stage are dropped on
resume: that stage runs again from scratch and nothing it computed the first time was released.

The same spec runs from the CLI (foreground or background) and from the app (background job).

Modules: :mod:`.spec` (what a run is asked to do), :mod:`.planning` (the budget plan a spec runs
under), :mod:`.run` (the run's typed state and the one stage loop), :mod:`.stages` (one function per
stage), :mod:`.checkpoints` (what a stage leaves for a resumed job), :mod:`.methods` (DP-TabImage's
stage list and the baselines, in a registry), :mod:`.sweep` (every method at several ε, evaluated),
:mod:`.audit` (the canary audit around a pipeline run).
"""

from dptab_core.pipeline.methods.dp_tabimage import run_job, run_pipeline
from dptab_core.pipeline.spec import SynthSpec, make_synth_spec

__all__ = ["SynthSpec", "make_synth_spec", "run_job", "run_pipeline"]
