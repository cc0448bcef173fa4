"""How the Train page shows a background job: attach, preset and table-synthesizer choice, per-stage progress, ε, log.

Everything is read from the job folder through :mod:`dptab_core.jobs`; nothing about a job lives
only in the browser session, so a refresh (``?job=<id>`` in the URL) or an app restart reattaches.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from dptab_core.data.demo import default_demo_dir
from dptab_core.errors import JobError
from dptab_core.image.presets import PRESET_DURATIONS, PRESETS, get_preset
from dptab_core.jobs import refresh
from dptab_core.jobs.store import FINISHED_STATES, Job, JobStatus, JobStore
from dptab_core.pipeline import SynthSpec, make_synth_spec
from dptab_core.pipeline.methods import dp_tabimage
from ui.charts import epsilon_progress
from ui.device import DeviceInfo
from ui.safe_text import md
from ui.state import StudioState

DEFAULT_TABLE_MECHANISM: str = SynthSpec.table_mechanism  # a dataclass default is also the class attribute
"""The engine's default (``SynthSpec.table_mechanism``, also ``synth --mechanism``): the app preselects it."""

STAGE_WORDS = {
    "load": "Reading the data",
    "schema": "Schema (public domains)",
    "semantic_query": "Choosing public images",
    "pretrain": "Pre-training on public images",
    "mean_pairs": "Noisy mean images",
    "warmup": "Warm-up on the means",
    "table": "Synthetic table",
    "dpsgd": "DP-SGD fine-tuning",
    "sample": "Drawing the synthetic rows and images",
    "release": "Writing the release",
    "evaluate": "Comparing with the real data (data owner's view)",
}
STATE_WORDS = {
    "queued": ("info", "Waiting to start."),
    "running": ("info", "Running."),
    "succeeded": (
        "success",
        "Finished: the synthetic dataset is ready. Open the Results page to compare it with "
        "your data before you download it.",
    ),
    "failed": (
        "error",
        "This run stopped with an error, and nothing was released. The message and the log below say why.",
    ),
    "cancelled": ("warning", "You cancelled this run. Nothing was released; the ε it had spent so far is gone."),
}

TABLE_MECHANISM_KEY = "_table_mechanism"
"""Session key (not a widget key) that keeps the table-synthesizer choice when the user leaves the page."""
TABLE_MECHANISMS = {
    "aim": (
        "AIM",
        "Measures pairs of columns round by round, each time the pair its model gets most wrong, so the "
        "budget goes where it helps. Time: about 5–15 s on the demo's 2,000 rows × 8 columns; 1–5 min on "
        "50,000 rows × 15 columns, never more than 9 (its cap). Best for faithful links between columns: "
        "on the demo its two-column tables were 10–15 % closer to the real ones than MST's.",
    ),
    "mst": (
        "MST",
        "Measures every column and, for each column, its strongest link to one other (a tree of pairs), then "
        "draws rows that match them. Time: about 20–50 s on the demo's 2,000 rows × 8 columns; about 0.5–1.5 "
        "min on 50,000 rows × 15 columns. Best for a short, predictable run on a large table; links that are "
        "not on its tree are kept only indirectly.",
    ),
}
"""Table synthesizers offered on the Train page: (name, one plain-words line). Times and the 10–15 % are
measured by benchmarks/bench_table_demo.py (demo, the table's share of ε = 1 (8 seeds) and 10 (3 seeds), 2 shared
cores) and benchmarks/bench_table.py (UCI Adult)."""

FAMILY_WORDS = {
    "cvae": "image model: conditional VAE",
    "diffusion": "image model: diffusion UNet",
    "latent": "image model: public autoencoder + small DP latent model, decoder fine-tuned with DP-SGD",
}
"""Each preset's image-model ``family`` in words (read from the preset, so a preset that changes family shows it)."""


def attach_from_url(state: StudioState) -> None:
    """Follow the job named in ``?job=…`` (after a refresh); keep the URL naming the job we follow."""
    url_job = st.query_params.get("job")
    if url_job and url_job != state.job_id:
        state.job_id = url_job
    elif state.job_id and not url_job:
        st.query_params["job"] = state.job_id


def forget(state: StudioState) -> None:
    """Stop following the current job (it stays on disk) and go back to the launch form."""
    state.job_id = None
    st.query_params.pop("job", None)
    st.rerun()


def load_job(job_id: str) -> Job | None:
    """The job with this id, or None when its folder is gone."""
    try:
        return JobStore().get(job_id)
    except JobError:
        return None


def is_active(job: Job) -> bool:
    return job.status().state not in FINISHED_STATES


def preset_picker(state: StudioState, device: DeviceInfo) -> str:
    """Radio of presets with what each one costs in time; the GPU preset is offered only with a GPU."""
    names = [n for n in PRESETS if n != "gpu" or device.kind == "cuda"]
    default = "gpu" if device.kind == "cuda" else "quick"
    current = state.preset if state.preset in names else default
    has_public = state.public_dir is not None
    state.preset = st.radio(
        "Preset",
        names,
        index=names.index(current),
        key="preset",
        format_func=lambda n: preset_words(n, has_public=has_public),
        horizontal=True,
    )
    if not has_public:
        st.warning(
            "No public image folder is set, so the image model falls back to the conditional VAE, whose "
            "images are near-copies of one average per record value. Add a public folder on the Data page "
            "for varied images.",
            icon=":material/image_not_supported:",
        )
    return state.preset


def gpus_picker(device: DeviceInfo) -> int:
    """How many GPUs DP-SGD runs on (under torchrun): asked only when more than one is visible, else 1."""
    if device.gpus <= 1:
        return 1
    return int(
        st.number_input(
            "GPUs for DP-SGD",
            min_value=1,
            max_value=device.gpus,
            value=1,
            step=1,
            key="dpsgd_gpus",
            help="Above 1, the DP-SGD stage runs on that many GPUs at once (torchrun, one "
            "process each), under the same plan: the same ε, one ledger entry.",
        )
    )


def preset_words(name: str, *, has_public: bool = True) -> str:
    """A preset's radio label: its name, expected duration and image-model family (the fallback without public images)."""
    family = get_preset(name, has_public=has_public).family
    return f"{name} — {PRESET_DURATIONS.get(name, 'duration unknown')}, {FAMILY_WORDS.get(family, family)}"


def table_mechanism_picker(*, key: str = "table_mechanism", captions: bool = True) -> str:
    """Radio of table synthesizers, each with its plain-words line; the engine's default is preselected.

    The choice is kept under one session key, so the Budget page (noise pictures) and the Train page
    (the job) always show and use the same synthesizer.
    """
    names = list(TABLE_MECHANISMS)
    current = st.session_state.get(TABLE_MECHANISM_KEY, DEFAULT_TABLE_MECHANISM)
    choice = st.radio(
        "Table synthesizer",
        names,
        index=names.index(current if current in names else DEFAULT_TABLE_MECHANISM),
        key=key,
        format_func=lambda n: TABLE_MECHANISMS[n][0],
        horizontal=not captions,
        captions=[TABLE_MECHANISMS[n][1] for n in names] if captions else None,
    )
    st.session_state[TABLE_MECHANISM_KEY] = choice
    return choice


def synth_spec(
    state: StudioState, *, preset: str, device: str, table_mechanism: str = DEFAULT_TABLE_MECHANISM, gpus: int = 1
) -> dict[str, Any]:
    """The pipeline job spec for the current state; it names the dataset, so job views can say whose data it is."""
    spec = make_synth_spec(
        csv_path=state.csv_path,
        images_path=state.images_path,
        schema=state.schema,
        plan_options=state.plan_options,
        preset=preset,
        public_dir=state.public_dir,
        seed=0,
        device=device,
        policy=dict(state.ingest_policy),
        table_mechanism=table_mechanism,
        gpus=gpus,
    )
    return {**spec, "dataset_name": state.dataset_name, "public_label": state.public_label}


def job_dataset(spec: dict[str, Any]) -> str:
    """The name of the dataset a job ran on: the one the app recorded, else its CSV's file name."""
    name = spec.get("dataset_name")
    if name:
        return str(name)
    csv = str(
        spec.get("csv_path") or (spec.get("synth") or {}).get("csv_path") or ""
    )  # a sweep names its data in synth
    if csv and Path(csv).parent == default_demo_dir():
        from ui.demo import DEMO_NAME

        return DEMO_NAME
    return Path(csv).name if csv else "unknown data"


def show_status(job: Job, status: JobStatus) -> None:
    """The job's state in words, one progress bar per stage, ε spent vs planned, the log tail."""
    kind, words = STATE_WORDS.get(status.state, ("info", status.state))
    if status.cancel_requested_at and not status.finished:
        kind, words = "warning", "Cancelling: the run stops at its next safe point (a few seconds)."
    getattr(st, kind)(f"**Job `{job.id}`** on **{md(job_dataset(job.spec))}** — {words}")
    if status.state == "failed" and status.error:
        st.error(status.error)
    events = list(job.progress_events())
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        latest[event["stage"]] = event
    left = time_left(events) if status.state == "running" else None
    if left is not None:
        st.markdown(f"**Time left:** {left} (estimated from the progress so far)")
    if status.state == "running" and _release_written(latest):
        st.success(
            "The synthetic release is written. The comparison with your data (data owner's view) runs "
            "now, with its own bar below; you can look at the release already."
        )
        st.page_link("pages/results.py", label="See the release now →", icon=":material/arrow_forward:")
    details = []
    for stage in stages_of(job):
        words = stage_words(stage, job.spec)
        event = latest.get(stage)
        if event is None:
            st.progress(0.0, text=f"{words} — not started")
            continue
        done = float(event.get("stage_fraction", event["fraction"]))
        st.progress(min(1.0, done), text=f"{words} — {'done' if done >= 1.0 else f'{done:.0%}'}")
        if event.get("message"):
            details.append(f"- **{words}:** {event['message']}")
    if details:
        with st.expander("What each stage did (technical details)"):
            st.markdown("\n".join(details))
    planned = status.epsilon_planned or job.spec.get("plan_options", {}).get("epsilon")
    spent = [(datetime.fromisoformat(e["t"]), e["epsilon_spent"]) for e in events if e.get("epsilon_spent") is not None]
    if planned and spent:
        t0 = spent[0][0]
        minutes = [(t - t0).total_seconds() / 60 for t, _ in spent]
        st.plotly_chart(epsilon_progress(minutes, [s for _, s in spent], planned=planned), key=f"eps_{job.id}")
    with st.expander("Log (last lines)", expanded=status.state == "failed"):
        st.code(job.log_tail(40) or "(empty)")


def _release_written(latest: dict[str, dict[str, Any]]) -> bool:
    release = latest.get("release")
    return "evaluate" in latest or (release is not None and float(release.get("stage_fraction", 0.0)) >= 1.0)


MIN_PROGRESS_FOR_ESTIMATE, MIN_SECONDS_FOR_ESTIMATE = 0.03, 20.0
"""Before 3 % of the job and 20 s, the first stages' speed says little about the rest: no estimate yet."""


def time_left(events: list[dict[str, Any]]) -> str | None:
    """Time left in words, from the whole-job fraction reached and the time it took; None when too early."""
    timed = [(datetime.fromisoformat(e["t"]), float(e["fraction"])) for e in events if "t" in e and "fraction" in e]
    if len(timed) < 2:
        return None
    (t0, _), (t1, fraction) = timed[0], timed[-1]
    elapsed = (datetime.now(t1.tzinfo) - t0).total_seconds()
    if fraction < MIN_PROGRESS_FOR_ESTIMATE or elapsed < MIN_SECONDS_FOR_ESTIMATE:
        return None
    seconds = elapsed * (1 - fraction) / fraction
    if seconds < 60:
        return "less than a minute"
    return f"about {round(seconds / 60):,} min"


def stage_words(stage: str, spec: dict[str, Any]) -> str:
    """A stage's name in words; the table stage names the synthesizer this job's spec chose."""
    words = STAGE_WORDS.get(stage, stage)
    if stage == "table":
        mechanism = spec.get("table_mechanism", DEFAULT_TABLE_MECHANISM)
        words += f" ({TABLE_MECHANISMS.get(mechanism, (str(mechanism).upper(),))[0]})"
    return words


def stages_of(job: Job) -> list[str]:
    """The stages this job's spec runs, in order (the pipeline's own list)."""
    return [name for name, _ in dp_tabimage.steps(SynthSpec.from_job_spec(job.spec))]


def past_jobs(state: StudioState) -> None:
    """Earlier runs found on disk, newest first, each one click from being followed again."""
    refresh()
    found = [j for j in JobStore().list() if j.id != state.job_id]
    if not found:
        return
    with st.expander(f"Earlier runs in this workspace ({len(found)})"):
        for job in found[:20]:
            status = job.status()
            left, right = st.columns([4, 1])
            left.markdown(
                f"`{job.id}` · **{md(job_dataset(job.spec))}** — {status.state}"
                + (f", ε = {status.epsilon_spent:.2f}" if status.epsilon_spent else "")
            )
            if right.button("Open", key=f"open_{job.id}"):
                state.job_id = job.id
                st.query_params["job"] = job.id
                st.rerun()
