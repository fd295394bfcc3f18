"""Metrics and statistics across a suite."""
