"""One output root, one writer: a lock per root (a second build waits, or fails with exit 2 and a clear
message), a killed build's staging folders removed by the next build, and a file that cannot be written (here
a file-size limit, as `ulimit -f` sets) an exit 2 naming the destination, with the previous site untouched."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.site import build as site_build

from conftest import evalsite_command, write_task


def _build(manifest: Path, out: Path):
    return CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet", "--no-overview"])


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    leftovers = [out / ".task.building-k2j3h4", out / ".task.old-4242", out / ".other.building-x"]
    for folder in leftovers:
        (folder / "project" / "docs").mkdir(parents=True)
        (folder / "project" / "docs" / "index.md").write_text("half a site", encoding="utf-8")
    (out / ".keep.txt").write_text("a user's file", encoding="utf-8")
    result = _build(write_task(tmp_path / "in", ["cat", "dog"]), out)
    assert result.exit_code == 0, result.output
    assert not any(folder.exists() for folder in leftovers)
    assert (out / ".keep.txt").read_text(encoding="utf-8") == "a user's file"
    assert (out / "task" / "index.html").is_file()


def test_a_build_into_a_root_another_build_holds_waits_then_fails_clearly(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    manifest = write_task(tmp_path / "in", ["cat", "dog"])
    monkeypatch.setattr(site_build, "LOCK_WAIT", 0.5)
    with site_build.output_lock(out):
        result = _build(manifest, out)
    assert result.exit_code == 2
    assert f"error: {out}: another evalsite is writing into this folder; waited 0.5 s" in result.stderr
    assert not (out / "task").exists()
    assert _build(manifest, out).exit_code == 0  # released


def test_two_builds_into_one_root_at_once_both_land(tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifests = [write_task(tmp_path / name, ["cat", "dog"], name=name) for name in ("one", "two")]
    runs = [subprocess.Popen([*evalsite_command(), "build", str(m), "-o", str(out), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for m in manifests]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    assert (out / "one" / "index.html").is_file() and (out / "two" / "index.html").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no staging folder, no lock file


def test_a_file_size_limit_is_an_exit_2_naming_the_destination(tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = write_task(tmp_path / "in", ["cat", "dog"])
    assert _build(manifest, out).exit_code == 0
    before = (out / "task" / "report.json").read_bytes()

    def limit() -> None:  # Python ignores SIGXFSZ, so an over-limit write is an OSError (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    run = subprocess.run([*evalsite_command(), "build", str(manifest), "-o", str(out), "--quiet"],
                         preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith(f"error: {out}") and "File too large" in lines[0], lines[0]
    assert (out / "task" / "report.json").read_bytes() == before  # the previous site stands
    assert not list(out.glob(".task.building-*"))

