"""Step 4 · Results: the synthetic copy next to the real data, then the downloads.

Everything here that shows real rows or images is the data owner's view (it never leaves this
machine); the DP release is the bundle. Figures come from ``dptab_core.eval.figures``.
"""

import streamlit as st

from dptab_core.eval import figures
from dptab_core.eval.cross_modal import conditioned_mean_images
from dptab_core.eval.table_metrics import association_matrix
from ui import job_view
from ui.metric_cards import show_cards, show_collapse_warning
from ui.results_data import (
    comparison_report,
    evaluation_progress,
    latest_release,
    load_comparison,
    only_values,
    owner_view_dir,
    read_optional_json,
    release_dir,
)
from ui.safe_text import md
from ui.state import get_state
from ui.widgets import next_button, plain_errors, summary_line


@st.fragment(run_every=3)
def show_evaluation_progress(job) -> None:
    """The data owner's evaluation, which runs after the release is written, with its own bar."""
    progress = evaluation_progress(job)
    if progress is None or job.status().state != "running":
        st.rerun(scope="app")
    fraction, message = progress
    st.progress(
        min(1.0, fraction), text=f"The release is ready. Comparing it with your data (data owner's view): {message}"
    )


state = get_state()
st.title("4 · Results")
job_view.attach_from_url(state)
job = job_view.load_job(state.job_id) if state.job_id else None
out = release_dir(job) if job is not None else None
if out is None and (job is None or not job_view.is_active(job)):  # e.g. after "Start a new run": the last release
    job = latest_release(state.dataset_name, job_view.job_dataset)
    out = release_dir(job) if job is not None else None
summary_line(state, job_dataset=job_view.job_dataset(job.spec) if job is not None else None)
if out is None:
    if job is not None and job_view.is_active(job):
        st.info("This run is still training: its release appears here as soon as it is written.")
    else:
        st.info("Results appear here once a training run has finished.")
    next_button("Go to training →", "train", ready=True)
    st.stop()
if job.id != state.job_id:
    st.caption(f"Showing your latest finished run, `{job.id}` on **{md(job_view.job_dataset(job.spec))}**.")

owner = owner_view_dir(job)
evaluating = job.status().state == "running"
st.warning(
    "**Data owner's view.** This page shows your real data next to the synthetic copy to help you "
    "judge it. Only the bundle below is the differentially private release."
)
if evaluating:
    show_evaluation_progress(job)

left, right = st.columns(2)
bundle, html_report = out / "bundle.zip", comparison_report(job)
if bundle.is_file():
    left.download_button(
        "Download the release (bundle.zip)",
        bundle.read_bytes(),
        file_name=f"{job.id}-bundle.zip",
        mime="application/zip",
        type="primary",
        key="dl_bundle",
    )
    left.caption("Synthetic table + images, schema, privacy report — safe to share.")
if html_report is not None and not evaluating:
    right.download_button(
        "Download the comparison report (HTML)",
        html_report.read_bytes(),
        file_name=f"{job.id}-comparison.html",
        mime="text/html",
        key="dl_html",
    )
    right.caption(
        "One self-contained page with every plot, for people who will not open the app. "
        "It shows real data: keep it with the data owner."
    )

spec = job.spec
summary, table_tab, image_tab, report_tab = st.tabs(["Summary", "Table", "Images", "Privacy report"])
with plain_errors("loading the data to compare"):
    cmp = load_comparison(job.id, str(out), spec["csv_path"], spec["images_path"], spec["schema"], spec.get("policy"))

    with summary:
        metrics = read_optional_json(owner / "evaluation.json") if owner and not evaluating else None
        shown = len(cmp.real_codes[next(iter(cmp.sizes))])
        st.caption(
            f"{cmp.n_real:,} real rows, {cmp.n_synthetic:,} synthetic rows"
            + (f" (figures use a sample of {shown:,} per side)" if max(cmp.n_real, cmp.n_synthetic) > shown else "")
        )
        if metrics and metrics.get("warning"):
            st.warning(f"No quality numbers for this run: {metrics['warning']}.")
        elif metrics:
            show_collapse_warning(metrics)
            st.subheader("Quality, in numbers — data owner's view")
            st.caption(
                "Each card: the number, a verdict, and what a useless release (the baseline) and the real "
                "data score on the same scale."
            )
            show_cards(metrics)
        elif evaluating:
            st.info("The quality numbers appear when the comparison with your data (above) has finished.")
        else:
            st.info("This run has no evaluation numbers (it was trained without evaluation, or table only).")

    with table_tab:
        names = list(cmp.sizes)
        column = st.selectbox("Column", names, key="res_col")
        st.plotly_chart(
            figures.marginal_1way_figure(
                cmp.real_codes[column], cmp.synthetic_codes[column], cmp.labels[column], column=column
            ),
            key="res_1way",
        )
        a, b = st.columns(2)
        first = a.selectbox("Pair: first column", names, index=0, key="res_pair_a")
        second = b.selectbox("Pair: second column", [n for n in names if n != first], key="res_pair_b")
        st.plotly_chart(
            figures.marginal_2way_figure(
                (cmp.real_codes[first], cmp.real_codes[second]),
                (cmp.synthetic_codes[first], cmp.synthetic_codes[second]),
                (cmp.labels[first], cmp.labels[second]),
                columns=(first, second),
            ),
            key="res_2way",
        )
        st.plotly_chart(
            figures.association_figure(
                association_matrix(cmp.real_codes, cmp.sizes), association_matrix(cmp.synthetic_codes, cmp.sizes), names
            ),
            key="res_assoc",
        )

    with image_tab:
        if cmp.synthetic_images is None:
            st.info("This is a table-only release: it has no synthetic images.")
        else:
            attribute = st.selectbox("Show images by", list(cmp.sizes), key="res_attr")
            labels = cmp.labels[attribute]
            chosen = st.multiselect(
                "Values", labels, default=labels[: min(4, len(labels))], key=f"res_vals_{attribute}"
            )
            codes = [labels.index(v) for v in chosen]
            st.plotly_chart(
                figures.sample_grid_figure(
                    cmp.real_images,
                    only_values(cmp.real_codes[attribute], codes),
                    cmp.synthetic_images,
                    only_values(cmp.synthetic_codes[attribute], codes),
                    labels,
                    column=attribute,
                ),
                key="res_grid",
            )
            size = cmp.sizes[attribute]
            real_means, _ = conditioned_mean_images(cmp.real_images, cmp.real_codes[attribute], size)
            syn_means, _ = conditioned_mean_images(cmp.synthetic_images, cmp.synthetic_codes[attribute], size)
            st.plotly_chart(
                figures.conditioned_means_figure(real_means, syn_means, labels, column=attribute), key="res_means"
            )

    with report_tab:
        report_md = out / "privacy_report.md"
        extra = (read_optional_json(out / "privacy_report.json") or {}).get("extra") or {}
        if extra.get("public_pretraining"):
            labels = extra["public_pretraining"].get("labels") or []
            st.info(
                f"**Public pre-training** on {len(labels)} public label(s) ({md(', '.join(labels))}): "
                + extra["public_pretraining"]["words"]
                + "."
            )
        st.markdown(report_md.read_text(encoding="utf-8") if report_md.is_file() else "No privacy report found.")
