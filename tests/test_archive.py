"""Reproducible builds and `evalsite archive` / `build --archive`: the same inputs give byte-identical
files, and the zip of a site unzips to that site, byte for byte, and works offline from file://."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.site import archive as archive_module

from conftest import (
    assert_one_line_error,
    evalsite_command,
    listing,
    write_detection_task,
    write_segmentation_task,
    write_task,
)

EPOCH = "1718000000"  # 2024-06-10 06:13:20 UTC
EPOCH_DATE = (2024, 6, 10, 6, 13, 20)


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_inputs(folder: Path) -> list[Path]:
    """One task of each type; the classification one in Chinese (jieba-segmented search) with a Chinese label."""
    return [write_task(folder / "cls", ["cat", "dog", "麻雀"], n_images=24, name="cls", language="zh"),
            write_detection_task(folder / "det"), write_segmentation_task(folder / "seg")]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same inputs, written into two different folders, built by two processes (different hash seeds,
    working folders and output roots) with --archive."""
    outs = []
    for run_name, seed in (("first", "1"), ("second", "2")):
        base = tmp_path_factory.mktemp(run_name)
        manifests = write_inputs(base / "inputs")
        out = base / "elsewhere" / "reports"
        env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONHASHSEED": seed}
        done = subprocess.run([*evalsite_command(), "build", *map(str, manifests), "-o", str(out), "--archive",
                               "--quiet"], capture_output=True, text=True, env=env, cwd=base)
        assert done.returncode == 0, done.stderr
        zips = [line for line in done.stdout.splitlines() if line.endswith(".zip")]
        assert zips == [str((out / f"{name}.zip").resolve()) for name in ("cls", "det", "seg")]
        outs.append(out)
    return outs[0], outs[1]


def test_two_builds_are_byte_identical(builds: tuple[Path, Path]) -> None:
    first, second = hashes(builds[0]), hashes(builds[1])
    assert set(first) == set(second)
    assert {name for name in first if first[name] != second[name]} == set()
    for name in ("cls", "det", "seg"):  # every task type, its pictures and charts, and the overview
        assert f"{name}.zip" in first and f"{name}/report.json" in first
        assert any(p.startswith(f"{name}/thumbs/") for p in first) and any(
            p.startswith(f"{name}/charts/") for p in first)
    assert "overview/search/search_index.json" in first
    # Nothing of the machine leaks into the files: no input, output or staging folder names.
    for path in builds[0].rglob("*"):
        if path.suffix in (".html", ".json", ".js"):
            text = path.read_text(encoding="utf-8")
            assert str(builds[0].parent.parent) not in text and ".building-" not in text, path
    report = (builds[0] / "cls" / "report.json").read_text(encoding="utf-8")
    assert '"date":"2024-06-10"' in report


def test_png_files_carry_no_metadata(builds: tuple[Path, Path]) -> None:
    """Charts (matplotlib) and pictures (Pillow): no time stamps, no software version, no text chunks."""
    pngs = [p for p in builds[0].rglob("*.png") if "assets" not in p.parts]
    assert len(pngs) > 10
    for png in pngs:
        data, chunks, at = png.read_bytes(), set(), 8
        while at < len(data):
            length = int.from_bytes(data[at:at + 4], "big")
            chunks.add(data[at + 4:at + 8].decode("ascii"))
            at += 12 + length
        assert chunks <= {"IHDR", "PLTE", "tRNS", "pHYs", "IDAT", "IEND"}, (png, chunks)


def test_archive_unzips_to_the_site_byte_for_byte(builds: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    site = builds[0] / "det"
    target = tmp_path / "somewhere" / "else" / "review.zip"
    result = run("archive", site, "-o", target, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(target)
    with zipfile.ZipFile(target) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) and names[0] == "det/" and "det/index.html" in names
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3 and info.extra == b"" and info.comment == b""
            if info.is_dir():
                assert info.external_attr >> 16 == 0o40755 and info.compress_type == zipfile.ZIP_STORED
            else:
                assert info.external_attr >> 16 == 0o100644 and info.compress_type == zipfile.ZIP_DEFLATED
        zf.extractall(tmp_path / "unzipped")
    assert listing(tmp_path / "unzipped" / "det") == listing(site)
    assert [p.name for p in target.parent.iterdir()] == ["review.zip"]  # no temporary file left
    # Made again without -o: beside the site, replacing the one --archive wrote, with the fixed date.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert run("archive", site).exit_code == 0
    assert (builds[0] / "det.zip").read_bytes() == (builds[1] / "det.zip").read_bytes()
    with zipfile.ZipFile(builds[0] / "det.zip") as zf:
        assert {i.date_time for i in zf.infolist()} == {EPOCH_DATE}


def _local_links(html: Path) -> list[str]:
    text = html.read_text(encoding="utf-8")
    links = re.findall(r'(?:href|src)="([^"#?]+)', text)
    return [unquote(u) for u in links if not urlsplit(u).scheme and not u.startswith("//")]


def test_unzipped_report_references_nothing_outside_it(builds: tuple[Path, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(builds[0] / "seg.zip") as zf:
        zf.extractall(tmp_path)
    site = (tmp_path / "seg").resolve()
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        for link in _local_links(page):
            target = (page.parent / link).resolve()
            assert site in target.parents and target.exists(), (page, link)


def test_archive_of_the_output_root_holds_every_report_and_the_overview(builds: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    target = tmp_path / "all.zip"
    assert run("archive", builds[0], "-o", target, "-q").exit_code == 0
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "unzipped")
    tops = sorted({n.split("/")[1] for n in names if n.count("/") >= 1 and n.split("/")[1]})
    assert tops == ["cls", "det", "index.html", "overview", "seg"]  # not the zips beside the reports
    root = tmp_path / "unzipped" / "reports"
    assert listing(root / "overview") == listing(builds[0] / "overview")
    for link in _local_links(root / "overview" / "index.html"):
        assert (root / "overview" / link).resolve().exists(), link


def test_archive_refuses_what_it_cannot_archive(builds: tuple[Path, Path], tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "index.html").write_text("<p>mine</p>", encoding="utf-8")
    assert_one_line_error(run("archive", plain), "is not an evalsite site")
    assert_one_line_error(run("archive", tmp_path / "missing"), "folder not found")
    assert_one_line_error(run("archive", builds[0] / "overview"), "is the task overview")
    assert_one_line_error(run("archive", builds[0] / "cls", "-o", builds[0] / "cls" / "x.zip"),
                          "inside the folder it archives")
    precious = tmp_path / "notes.zip"
    precious.write_text("not a zip", encoding="utf-8")
    assert_one_line_error(run("archive", builds[0] / "cls", "-o", precious), "is not a zip archive")
    assert precious.read_text(encoding="utf-8") == "not a zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.zip", "plain"]


def test_build_archive_checks_its_target_before_building(tmp_path: Path) -> None:
    manifest = write_task(tmp_path / "inputs", ["a", "b"], n_images=6, name="small")
    out = tmp_path / "out"
    out.mkdir()
    (out / "small.zip").write_text("a file of the user's", encoding="utf-8")
    assert_one_line_error(run("build", manifest, "-o", out, "--archive", "-q"), "is not a zip archive")
    assert sorted(p.name for p in out.iterdir()) == ["small.zip"]


def test_zip_date_follows_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert archive_module.zip_date() == EPOCH_DATE
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1718000001")  # zip keeps even seconds
    assert archive_module.zip_date() == EPOCH_DATE
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # before 1980: the earliest time a zip holds
    assert archive_module.zip_date() == (1980, 1, 1, 0, 0, 0)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert archive_module.zip_date() == (1980, 1, 1, 0, 0, 0)


def test_unzipped_report_works_offline_in_the_browser(builds: tuple[Path, Path], tmp_path: Path, browser) -> None:
    from browser import audit_site, open_page, search

    with zipfile.ZipFile(builds[0] / "cls.zip") as zf:
        zf.extractall(tmp_path)
    audits = audit_site(browser, tmp_path / "cls")
    assert len(audits) >= 5
    assert {page: a.problems() for page, a in audits.items() if not a.ok} == {}
    page, audit = open_page(browser, tmp_path / "cls" / "index.html")
    results = search(page, "麻雀")  # Chinese search (jieba) from the unzipped copy
    assert any("details.html" in r for r in results), results
    assert audit.ok, audit.problems()
    audit.close()
