"""Build a MkDocs Material site from a folder of Markdown, atomically.

The site is built in a temporary folder beside the output and moved into place only when the build
succeeded, so a failed build leaves the previous site untouched (docs/reliability.md). One writer per output
root: a build holds a lock on the root folder while it writes, so a second build into the same root waits for it
(LOCK_WAIT seconds, then an InputError), and the staging folders a killed build left behind are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import jinja2

from evalsite import __version__
from evalsite.core.errors import BuildError, InputError, OutputError
from evalsite.core.resources import site_src_dir, templates_dir
from evalsite.render.i18n import catalogue
from evalsite.site.budget import Budget, measure, over_budget

# Every site evalsite builds has this file; a folder without it is not ours to replace.
SITE_MARKER = "assets/javascripts/evalsite.js"
LOCK_WAIT = 60.0  # seconds a build waits for another one writing into the same output root
# What a build leaves beside a site while it runs (staging) and for a moment while it publishes (old site).
_LEFTOVERS = (".*.building-*", ".*.old-*")
# Catalogue messages the site's script shows (long tables), handed to it as window.ES_TEXT.
BROWSER_TEXTS = ("table_filter", "table_previous", "table_next", "table_rows", "table_none", "table_sort")


@contextlib.contextmanager
def output_lock(root: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the lock of the output root `root` (one writer at a time; waits up to `wait` seconds, default
    LOCK_WAIT, then an InputError); under it, the staging folders of killed builds are removed."""
    import fcntl

    wait = LOCK_WAIT if wait is None else wait
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)  # the folder itself is locked: no lock file to leave behind
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise InputError(f"another evalsite is writing into this folder; waited {wait:g} s for it "
                                     "(try again when it has finished)", root) from None
                time.sleep(0.1)
        for pattern in _LEFTOVERS:  # no other evalsite writes here now: these are a killed build's
            for leftover in root.glob(pattern):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that holds something other than an evalsite site."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SITE_MARKER).is_file())):
        raise InputError("exists and is not an evalsite site; refusing to replace it (choose another output "
                         "folder or task name, or remove it)", out)


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out`; on success its content replaces `out` in one move."""
    out = out.resolve()
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        yield tmp
        publish(tmp / "site", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(built: Path, out: Path) -> None:
    """Replace `out` with `built`: the old site moves aside, the new one in, then the old one goes."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
    try:
        os.replace(built, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_config(project: Path, site_name: str, language: str, nav: list[tuple[str, str]],
                 not_in_nav: list[str]) -> Path:
    """mkdocs.yml and the theme assets (site_src/) into a build project folder whose docs/ is written."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # The texts evalsite.js shows (placeholders filled in the browser), from the one message catalogue.
    browser_texts = {key: catalogue()[key][language] for key in BROWSER_TEXTS}
    text = env.get_template("mkdocs.yml.j2").render(
        site_name=site_name, language=language, nav=nav, not_in_nav=not_in_nav, version=__version__,
        browser_texts=browser_texts)
    config = project / "mkdocs.yml"
    config.write_text(text, encoding="utf-8")
    src = site_src_dir()
    shutil.copytree(src / "assets", project / "docs" / "assets", dirs_exist_ok=True)
    shutil.copytree(src / "overrides", project / "overrides", dirs_exist_ok=True)
    return config


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_mkdocs(config: Path) -> None:
    """`mkdocs build --strict` in-process; any warning is a BuildError with the warnings."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logging.getLogger("jieba").setLevel(logging.WARNING)
    mkdocs_log = logging.getLogger("mkdocs")
    collect = _Collect()
    mkdocs_log.addHandler(collect)
    propagate = mkdocs_log.propagate
    mkdocs_log.propagate = False  # our CLI reports the problems itself, once
    try:
        import jieba  # Material segments Chinese text for search with it; its start-up chatter is noise

        jieba.setLogLevel(logging.WARNING)
        cfg = load_config(str(config), strict=True)
        build(cfg)
    except MkDocsException as exc:
        raise BuildError("; ".join(collect.messages) or str(exc)) from None
    finally:
        mkdocs_log.removeHandler(collect)
        mkdocs_log.propagate = propagate


def _output_error(exc: OSError, root: Path) -> OutputError:
    """The OutputError of an OSError met while building into `root`: it names the destination file when the
    error names one (a copy's error names its source first), else what it names, else the root."""
    named = [str(f) for f in (exc.filename2, exc.filename) if f]
    inside = [f for f in named if Path(f).resolve().is_relative_to(root)]
    problem = exc.strerror or str(exc)
    if inside or not named:
        return OutputError(f"cannot write the site: {problem}", (inside or [str(root)])[0])
    return OutputError(problem, named[0])


def build_site(out: Path, site_name: str, language: str, write_docs: Callable[[Path], tuple[list, list]],
               budget: Budget | None = None, warn: Callable[[str], None] | None = None) -> Path:
    """Write docs with `write_docs(docs) -> (nav, not_in_nav)`, build, and move the site to `out`. A file
    that cannot be written (a read-only folder, a full disk, a file-size limit) is an OutputError naming it.
    The built site is measured against `budget` (default: evalsite.site.budget.Budget()); each budget it is
    over is one `warn` line naming what is big (None: a Python UserWarning). The site is published anyway."""
    out = out.resolve()
    try:
        with output_lock(out.parent):
            _build_site(out, site_name, language, write_docs)
    except OSError as exc:
        raise _output_error(exc, out.parent) from None
    for line in over_budget(measure(out), budget or Budget()):
        text = f"{out.name}: {line}"
        if warn is None:
            warnings.warn(text, UserWarning, stacklevel=2)
        else:
            warn(text)
    return out


def _build_site(out: Path, site_name: str, language: str, write_docs: Callable[[Path], tuple[list, list]]) -> None:
    with staging(out) as tmp:
        project = tmp / "project"
        docs = project / "docs"
        docs.mkdir(parents=True)
        nav, not_in_nav = write_docs(docs)
        config = write_config(project, site_name, language, nav, not_in_nav)
        run_mkdocs(config)
        # Without a site_url these only work at a web server's root (404.html uses root-absolute asset
        # URLs, the sitemap has no addresses): useless from file:// and wrong under a sub-path, so dropped.
        for unusable in ("404.html", "sitemap.xml", "sitemap.xml.gz"):
            (project / "site" / unusable).unlink(missing_ok=True)
        os.replace(project / "site", tmp / "site")
