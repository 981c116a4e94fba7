"""Metrics, confidence intervals and the scoring of predictions."""
