"""Screenshots of the demo report for the README, made with the browser test harness.

Usage: python tests/screenshot.py [OUT_FOLDER]   (default: docs/)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from browser import launch_browser, screenshot

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, launch_browser() as browser:
        for lang in ("zh", "en"):
            subprocess.run([sys.executable, "-m", "evalsite", "demo", "-o", f"{tmp}/{lang}", "--lang", lang,
                            "--quiet"], check=True, cwd=ROOT)
            site = Path(tmp) / lang / "digits"
            screenshot(browser, site / "index.html", out / f"demo-overview-{lang}.png", height=1000)
            screenshot(browser, site / "details.html", out / f"demo-details-{lang}.png", height=1000)
            gallery = sorted((site / "errors").glob("label-*.html"))[-2]
            screenshot(browser, gallery, out / f"demo-errors-{lang}.png", height=800)
            shapes = Path(tmp) / lang / "shapes"
            screenshot(browser, shapes / "index.html", out / f"demo-shapes-overview-{lang}.png", height=1000)
            screenshot(browser, shapes / "errors" / "label-001.html", out / f"demo-shapes-errors-{lang}.png",
                       height=1100)
            comparison = Path(tmp) / lang / "digits v2 vs v1"
            screenshot(browser, comparison / "index.html", out / f"demo-compare-{lang}.png", height=1100)
            screenshot(browser, Path(tmp) / lang / "overview" / "index.html", out / f"demo-tasks-{lang}.png",
                       height=900)
            masks = Path(tmp) / lang / "shapes-masks"
            ring = sorted((masks / "errors").glob("label-*.html"))[-1]
            screenshot(browser, ring, out / f"demo-masks-errors-{lang}.png", height=1100)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
