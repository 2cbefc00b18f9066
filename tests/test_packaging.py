"""`pip install .` gives a working command: templates and site assets are inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_templates_and_site_assets_and_runs_from_them(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("evalsite-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    for tracked in subprocess.run(["git", "ls-files", "templates", "site_src"], cwd=ROOT, capture_output=True,
                                  text=True, check=True).stdout.split():
        packaged = "evalsite/" + tracked
        assert packaged in names, f"{tracked} is missing from the wheel"
    # The import name is evalsite; the source folder's name (generator) must not be installed as a package.
    assert not [n for n in names if n.startswith("generator/")], "the wheel installs a top-level 'generator'"
    assert "evalsite/py.typed" in names  # type checkers read the package's annotations
    for source in (ROOT / "generator").rglob("*.py"):
        packaged = "evalsite/" + source.relative_to(ROOT / "generator").as_posix()
        assert packaged in names, f"{packaged} is missing from the wheel (its package is not listed in pyproject)"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evalsite = evalsite.cli:run" in (tmp_path / "unpacked" / entry_points).read_text()
    # Run from the unpacked wheel alone (not the checkout): it finds its own templates and assets.
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "unpacked")}
    code = "import evalsite.core.resources as r; print(r.templates_dir()); print(r.site_src_dir())"
    where = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "unpacked") for p in where), where
    demo = subprocess.run([sys.executable, "-m", "evalsite", "demo", "-o", str(tmp_path / "demo"), "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo" / "digits" / "index.html").is_file()
    assert (tmp_path / "demo" / "shapes" / "errors" / "index.html").is_file()
    assert demo.stdout.strip() == str(tmp_path / "demo" / "overview" / "index.html")
