"""Rendering: charts, thumbnails and Markdown pages from a Report. Computes no metrics."""
