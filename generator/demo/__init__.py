"""The data and models of `evalsite demo`, made from scratch with nothing to download: one module per task
type (classification: scikit-learn's digits; detection and segmentation: generated scenes of shapes) that
writes a task's inputs and manifest, and the digits model as an `evalsite verify` predictor (predictor.py).

Like formats/ and metrics/, this package knows nothing of reports or sites: `evalsite demo`
(evalsite.commands.demo) evaluates and builds what it writes, as it would any user's task.
"""
