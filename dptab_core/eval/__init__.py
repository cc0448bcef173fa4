"""Evaluation: how close a synthetic table + image dataset is to the real one, and whether it leaks.

This is the data owner's view — it reads the real data, so nothing here is part of the DP release.
Modules: :mod:`.table_metrics` (marginal TVD, associations, TSTR), :mod:`.features` (the attribute CNN
the project trains; no downloaded weights), :mod:`.image_metrics` (Fréchet distance, k-NN
precision/recall, image TSTR), :mod:`.cross_modal` (does each image still show its row),
:mod:`.privacy_checks` (memorisation, one-run canary audit), :mod:`.figures` (plotly builders),
:mod:`.evaluate` (everything in one call; the headline metrics), :mod:`.report_html` (one
self-contained HTML report), :mod:`.verdicts` (each metric's verdict in words).
Only :mod:`.features` imports torch at module level; the others load it lazily or never.

This package is a leaf: it takes data and never imports :mod:`dptab_core.pipeline` (a test walks the
imports). What trains on the real data to compare with — the ε sweep, the baselines, the canary
audit around a pipeline run — lives in the pipeline package (:mod:`dptab_core.pipeline.sweep`,
:mod:`dptab_core.pipeline.methods`, :mod:`dptab_core.pipeline.audit`).
"""
