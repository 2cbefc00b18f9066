"""The report model: plain dataclasses, written as report.json, the one contract between computing and
rendering. Everything a page shows is in it, or derived from it when the site is built (derived.py)."""
