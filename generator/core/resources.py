"""Where the templates and site assets are: inside the package in a wheel, at the repository top otherwise."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent.parent  # the package folder (generator/ in a checkout)


def _find(name: str) -> Path:
    # A wheel installs them as evalsite/<name>; a source checkout keeps them next to generator/.
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"evalsite is incompletely installed: folder '{name}' not found next to {_HERE}")


def templates_dir() -> Path:
    return _find("templates")


def site_src_dir() -> Path:
    return _find("site_src")
