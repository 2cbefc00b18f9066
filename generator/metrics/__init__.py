"""Metrics: pure functions over numpy arrays. No files, no HTML, no text for users."""
