"""`evalsite archive`: a built site as one reproducible zip (evalsite.site.archive)."""

from __future__ import annotations

from pathlib import Path

from evalsite.core.progress import Console


def run_archive(site: Path, out: Path | None, console: Console) -> Path:
    """The zip of SITE at `out` (default: SITE.zip beside SITE); returns its path."""
    from evalsite.site.archive import archive_site
    from evalsite.site.budget import zip_over_budget

    target = archive_site(site, out)
    console.step(f"archived {site} ({target.stat().st_size / 1e6:.1f} MB)")
    warning = zip_over_budget(target)
    if warning:
        console.warn(warning)
    return target
