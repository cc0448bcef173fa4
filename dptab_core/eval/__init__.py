"""Evaluation: how close a synthetic table + image dataset is to the real one, and whether it leaks.

This is the data owner's view — it reads the real data, so nothing here is part of the DP release.
Modules: :mod:`.table_metrics` (marginal TVD, associations, TSTR), :mod:`.features` (the attribute CNN
the project trains; no downloaded weights), :mod:`.image_metrics` (Fréchet distance, k-NN
precision/recall, image TSTR), :mod:`.cross_modal` (does each image still show its row),
:mod:`.privacy_checks` (memorisation, one-run canary audit), :mod:`.figures` (plotly builders),
:mod:`.evaluate` (everything in one call), :mod:`.report_html` (one self-contained HTML report),
:mod:`.verdicts` (each metric's verdict in words), :mod:`.attribute_reader`.
Only :mod:`.features` imports torch at module level; the others load it lazily or never.

Not yet moved out (issue 17's pipeline package): :mod:`.sweep` (the ε explorer), the baselines
:mod:`.image_first` and :mod:`.non_private`, and :mod:`.audit_run` run the pipeline itself — they
train models on the real data (the private ones spend budget), unlike the metrics above.
"""
