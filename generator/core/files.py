"""Files of an evaluation: the image suffixes, the one walker of image folders, and the one guess of an input
format from its path.

Hidden-file rule (every walk of an image folder): a folder whose name starts with "." is never entered
(``.git``, ``.ipynb_checkpoints``, ``.thumbnails``, ...). Files whose name starts with "." are listed like any
other unless the caller asks to skip them (`hidden_files=False`): the readers of ground truth and
predictions keep them (a name is a name; an evaluation lists its images itself), `evalsite verify`, which
takes every image of a folder it is given, skips them (``._x.jpg`` resource forks, editors' lock files).
Symbolic links to folders are not followed.

Containment rule (every file read through a path taken from the inputs: an image, a mask, a file in a class
folder): the path is resolved, symbolic links included, and must stay inside its root, itself resolved
(`inside`). A link to a file elsewhere in the root is fine; one that leads out of it (``img.jpg ->
/home/me/photo.jpg``, a folder ``sub -> /etc``) is refused, so that no file outside the folders the user named
is read, drawn or published. Readers of ground truth and masks make it an error; the image checks make such
an image unreadable, with a notice naming it (`evalsite.formats.images`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from evalsite.core.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def image_files(root: Path, suffixes: Collection[str] = IMAGE_SUFFIXES, *, hidden_files: bool = True) -> list[str]:
    """Every file under `root` whose suffix (lower case) is in `suffixes`, as relative POSIX paths, sorted.
    Hidden folders are skipped; hidden files too when `hidden_files` is False (see the module's rule)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            if Path(name).suffix.lower() in suffixes and (hidden_files or not name.startswith(".")):
                found.append(name if rel == "." else f"{rel}/{name}")
    return sorted(found)


def inside(root: Path, relative: str | Path, base: Path | None = None) -> Path:
    """`root / relative` resolved (symbolic links followed), checked to stay inside `root` (resolved too);
    InputError naming the file when it leads outside (see the module's containment rule). The check is on
    the resolved paths (Path.is_relative_to), never on the text: ``a/../../x``, an absolute `relative` and
    a link anywhere on the way are all caught. `base`: `root` already resolved (many files of one root)."""
    path = root / relative
    resolved = path.resolve()
    base = base or root.resolve()
    if not resolved.is_relative_to(base):
        raise InputError(f"leads outside its folder {base} (a symbolic link or '..' to {resolved}); files "
                         "are only read inside the folders the inputs name: name the folder the links point "
                         "into instead, or copy the files", path)
    return resolved


def sniff_format(given: str | None, path: Path, allowed: tuple[str, ...], *, what: str, task: str,
                 by_suffix: Mapping[str, str], folder: str | Callable[[Path], str], told_from: str = "path",
                 unknown_guess: str = "cannot tell") -> str:
    """The format of an input: `given` (the manifest's ``format:``) when set, else guessed from `path`:
    `folder` (a name, or a function of the folder) for a folder, else `by_suffix` of its suffix.

    InputError when the format cannot be told ("cannot tell the {what} format from the {told_from}") or is
    not one of `allowed` ("unknown {what} format ... for {task}"). A guess that is not allowed (e.g. a
    folder where only files are) reports as `unknown_guess`: "cannot tell" or "unknown"."""
    fmt = given
    if fmt is None:
        if path.is_dir():
            fmt = folder if isinstance(folder, str) else folder(path)
        else:
            fmt = by_suffix.get(path.suffix.lower(), "")
        if not fmt or (fmt not in allowed and unknown_guess == "cannot tell"):
            raise InputError(f"cannot tell the {what} format from the {told_from}; set format to one of "
                             f"{', '.join(allowed)}", path)
    if fmt not in allowed:
        raise InputError(f"unknown {what} format {fmt!r} for {task}; expected one of {', '.join(allowed)}", path)
    return fmt
