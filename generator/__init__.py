"""evalsite: computer-vision evaluation reports as offline MkDocs Material sites.

The public Python surface is what ``__all__`` lists; everything else is internal and may move.
The package is layered, imports only pointing down (checked by import-linter, see pyproject.toml):
``cli`` | ``api`` → ``commands`` → ``site`` → ``render`` → ``report`` → ``metrics`` | ``formats`` | ``manifest`` |
``demo`` → ``core``.

Errors raised on purpose derive from :class:`EvalsiteError`; bad input is an :class:`InputError` whose
``one_line()`` names the file, the record and the problem (the command line prints it and exits with 2).

The Python API (docs/python-api.md) is handed on lazily (PEP 562): ``import evalsite`` imports no numpy,
scikit-learn or matplotlib; ``evalsite.evaluate`` and the rest import what they need on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from evalsite.core.errors import BuildError, EvalsiteError, ExitCode, InputError, MaskError, Notice, OutputError

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first use
_LAZY = {
    "evaluate": "evalsite.api.functions",
    "load_report": "evalsite.api.functions",
    "build_site": "evalsite.api.functions",
    "compare": "evalsite.api.functions",
    "check": "evalsite.api.functions",
    "CheckResult": "evalsite.api.functions",
    "ClassificationEvaluator": "evalsite.api.classification",
    "DetectionEvaluator": "evalsite.api.detection",
    "Report": "evalsite.report.model",
}

__all__ = [
    "BuildError",
    "CheckResult",
    "ClassificationEvaluator",
    "DetectionEvaluator",
    "EvalsiteError",
    "ExitCode",
    "InputError",
    "MaskError",
    "Notice",
    "OutputError",
    "Report",
    "__version__",
    "build_site",
    "check",
    "compare",
    "evaluate",
    "load_report",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evalsite' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
