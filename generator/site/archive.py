"""One reproducible .zip of a built site, to keep with a release review and open offline after unzipping.

What is archived:
  * a report folder (OUT/<task>/): its files, under a top-level folder of the same name, so that unzipping
    gives `<task>/index.html`. A report never links outside its folder, so the unzipped copy works alone.
  * an output root (OUT/, with OUT/overview/): OUT/index.html, the overview and every report folder in
    it, under a top-level folder named like OUT. Nothing else in OUT goes in (inputs, earlier .zip files,
    hidden temporary folders).
  * the overview folder alone is refused: its links lead to the report folders beside it, which would be
    missing from the archive. Archive the output root instead.

The same files give the same bytes: entries sorted by path (directories as entries of their own, before
their content), every entry dated SOURCE_DATE_EPOCH when set (as UTC, clamped to what zip can store:
1980 to 2107, in its 2-second steps), else 1980-01-01 00:00:00; permissions 0644 for files and 0755 for
folders, made on "Unix"; deflate at level 9 (folders stored); no extra fields, no comments. The file is
written beside the target and moved into place, so an interrupted run leaves no half-written archive.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import zipfile
from pathlib import Path

from evalsite.core.errors import InputError
from evalsite.site.build import SITE_MARKER

OVERVIEW_DIR = "overview"  # as in evalsite.site.overview (not imported: that pulls in matplotlib)
ROOT_INDEX_MARK = 'content="evalsite"'  # the redirect OUT/index.html that the overview writes
COMPRESS_LEVEL = 9
DEFAULT_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_FILE_MODE = stat.S_IFREG | 0o644
_DIR_MODE = stat.S_IFDIR | 0o755
_UNIX = 3  # "made on" system: readers apply the Unix permissions only for this one
_MSDOS_DIRECTORY = 0x10


def zip_date() -> tuple[int, int, int, int, int, int]:
    """The time stamp of every entry: SOURCE_DATE_EPOCH (UTC) when set, else 1980-01-01 00:00:00."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return DEFAULT_DATE
    try:
        seconds = int(epoch)
    except ValueError:
        raise InputError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in seconds") from None
    low = int(dt.datetime(*DEFAULT_DATE, tzinfo=dt.UTC).timestamp())
    high = int(dt.datetime(2107, 12, 31, 23, 59, 58, tzinfo=dt.UTC).timestamp())
    when = dt.datetime.fromtimestamp(min(max(seconds, low), high), dt.UTC)
    return (*when.timetuple()[:5], when.second - when.second % 2)  # what zip stores


def _is_site(folder: Path) -> bool:
    return (folder / SITE_MARKER).is_file()


def _members(site: Path) -> list[Path]:
    """The folders and files to archive, relative to `site` (checked first: see the module's docstring)."""
    if not site.is_dir():
        raise InputError("folder not found" if not site.exists() else "is not a folder", site)
    if _is_site(site):
        if site.name == OVERVIEW_DIR and not (site / "report.json").exists():
            raise InputError("is the task overview, whose links lead to the report folders beside it; archive "
                             f"the output root instead (evalsite archive {site.parent}) or a single report", site)
        tops = [site]
    elif _is_site(site / OVERVIEW_DIR):
        tops = [p for p in sorted(site.iterdir())
                if not p.name.startswith(".") and p.is_dir() and not p.is_symlink() and _is_site(p)]
        index = site / "index.html"
        if index.is_file() and ROOT_INDEX_MARK in index.read_text(encoding="utf-8", errors="replace"):
            tops.append(index)
    else:
        raise InputError(f"is not an evalsite site (no {SITE_MARKER}); give a report folder (OUT/<task>) or "
                         "an output root (OUT, with OUT/overview)", site)
    members: list[Path] = []
    for top in tops:
        if top.is_file():
            members.append(top.relative_to(site))
            continue
        if top != site:
            members.append(top.relative_to(site))
        for folder, dirs, files in os.walk(top):
            here = Path(folder)
            for name in dirs + files:
                path = here / name
                if path.is_symlink():
                    raise InputError("is a symbolic link; an archive holds only the site's own files", path)
                members.append(path.relative_to(site))
    return members


def _entry(name: str, is_dir: bool, date: tuple[int, ...]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=date)
    info.create_system = _UNIX
    info.extra = b""
    info.comment = b""
    if is_dir:
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = (_DIR_MODE << 16) | _MSDOS_DIRECTORY
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = _FILE_MODE << 16
    return info


def check_target(site: Path, target: Path) -> None:
    """Refuse a target inside the folder it archives, or one that exists and is not a zip archive."""
    site, resolved = site.resolve(), target.resolve()
    if resolved == site or site in resolved.parents:
        raise InputError("the archive cannot be written inside the folder it archives", target)
    if target.is_dir() or (target.exists() and not zipfile.is_zipfile(target)):
        raise InputError("exists and is not a zip archive; refusing to replace it", target)


def archive_site(site: Path, target: Path | None = None) -> Path:
    """Write `site` (a report folder or an output root) as a reproducible zip; returns the zip's path.

    `target` defaults to `<site>.zip` beside the folder. It may not lie inside the folder, and an existing
    file there is replaced only if it is a zip archive.
    """
    site = site.resolve()
    members = _members(site)
    target = (target if target is not None else site.with_name(f"{site.name}.zip")).absolute()
    check_target(site, target)
    date = zip_date()
    entries = sorted([(f"{site.name}/", None)] + [
        (f"{site.name}/{rel.as_posix()}" + ("/" if (site / rel).is_dir() else ""), site / rel) for rel in members])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name, path in entries:
                is_dir = name.endswith("/")
                data = b"" if is_dir else path.read_bytes()
                archive.writestr(_entry(name, is_dir, date), data,
                                 compresslevel=None if is_dir else COMPRESS_LEVEL)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
