"""evalsite: computer-vision evaluation reports as offline MkDocs Material sites.

The public Python surface is what ``__all__`` lists; everything else is internal and may move.
The package is layered, imports only pointing down (checked by import-linter, see pyproject.toml):
``cli`` → ``commands`` → ``site`` → ``render`` → ``report`` → ``metrics`` | ``formats`` | ``manifest`` |
``demo`` → ``core``.

Errors raised on purpose derive from :class:`EvalsiteError`; bad input is an :class:`InputError` whose
``one_line()`` names the file, the record and the problem (the command line prints it and exits with 2).
"""

from evalsite.core.errors import BuildError, EvalsiteError, ExitCode, InputError, MaskError, Notice

__version__ = "0.1.0"

__all__ = [
    "BuildError",
    "EvalsiteError",
    "ExitCode",
    "InputError",
    "MaskError",
    "Notice",
    "__version__",
]
