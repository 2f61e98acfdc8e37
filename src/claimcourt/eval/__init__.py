"""Evaluation and active learning: metrics, calibration, selective prediction, reports and plots, and
uncertainty sampling of the claims that deserve a debate."""
