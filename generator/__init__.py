"""evalsite: computer-vision evaluation reports as offline MkDocs Material sites.

Pipeline, one sub-package per stage:
``formats`` (read inputs) → ``metrics`` (pure numpy / scikit-learn) → ``report`` (dataclasses, report.json)
→ ``render`` (charts, thumbnails, Markdown) → ``site`` (mkdocs.yml and the MkDocs build).
"""

__version__ = "0.1.0"
