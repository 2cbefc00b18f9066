"""The task overview groups reports of one training task across model versions and links the comparisons of
their models; unreadable compare.json files are skipped with a notice; untrusted names stay text."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.site.overview import find_comparisons

from conftest import write_task

LABELS = ["cat", "dog", "bird"]
HOSTILE_GROUP = "<script>window.__pwned=1</script>"
HOSTILE_MODEL = "</td><img src=x onerror=alert(1)>"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def build(monkeypatch: pytest.MonkeyPatch, manifest: Path, out: Path, day: str) -> None:
    """Build one report dated `day` (YYYY-MM-DD, through SOURCE_DATE_EPOCH)."""
    import datetime as dt

    epoch = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(epoch)))
    result = run("build", manifest, "-o", out, "--quiet", "--lang", "en")
    assert result.exit_code == 0, result.output


def version(folder: Path, name: str, seed: int, group: str = "g", model: str | None = None) -> Path:
    """A version of the task `group`: the same images and labels, the scores of another model (`seed`)."""
    extra = f"group: {json.dumps(group)}\n" + (f"model: {json.dumps(model)}\n" if model else "")
    return write_task(folder / name, LABELS, n_images=36, seed=seed, name=name, extra_yaml=extra)


def article(out: Path) -> str:
    page = (out / "overview" / "index.html").read_text(encoding="utf-8")
    return re.search(r"<article.*?</article>", page, re.S).group(0)


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three versions of task g (v1 and v10 of one day, v2 of a later day), a task without a group, and the
    comparison of v2 with v1."""
    root = tmp_path_factory.mktemp("overview")
    out = root / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        build(monkeypatch, version(root, "g-v1", 0, model="v1"), out, "2024-01-10")
        build(monkeypatch, version(root, "g-v10", 2, model="v10"), out, "2024-01-10")
        build(monkeypatch, version(root, "g-v2", 1, model="v2"), out, "2024-02-01")
        build(monkeypatch, write_task(root / "solo", LABELS, name="solo"), out, "2024-01-05")
    result = run("compare", out / "g-v1", out / "g-v2", "-o", out, "--images", root / "g-v1" / "images",
                 "--quiet", "--lang", "en")
    assert result.exit_code == 0, result.output
    return out


def test_reports_are_grouped_by_task_newest_first(grouped: Path) -> None:
    html = article(grouped)
    # One section per group (task.group, else the task name), in name order.
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", html) == ["g", "solo"]
    section_g = html[html.index(">g</h2>"):html.index(">solo</h2>")]
    # Newest first; on the same day the highest model version first (v10 after v9, not after v1).
    rows = re.findall(r'<tr><td><a href="\.\./([^"]+)/index\.html">([^<]+)</a></td><td>([^<]+)</td>', section_g)
    assert rows == [("g-v2", "g-v2", "v2"), ("g-v10", "g-v10", "v10"), ("g-v1", "g-v1", "v1")]
    assert "2024-02-01" in section_g and "2024-01-10" in section_g
    # A report without a model version shows a dash; each report keeps its own headline metric.
    assert re.search(r'href="\.\./solo/index\.html">solo</a></td><td>–</td>', html)
    for name in ("g-v1", "g-v2", "solo"):
        accuracy = json.loads((grouped / name / "report.json").read_text(encoding="utf-8"))["metrics"]["accuracy"]
        assert f"Accuracy {accuracy * 100:.1f}%" in html


def test_comparisons_are_linked_under_their_group(grouped: Path) -> None:
    html = article(grouped)
    compare = json.loads((grouped / "g v2 vs v1" / "compare.json").read_text(encoding="utf-8"))
    accuracy = compare["headline"][0]
    assert accuracy["metric"] == "accuracy"
    section_g = html[html.index(">g</h2>"):html.index(">solo</h2>")]
    (item,) = re.findall(r"<li>.*?</li>", section_g, re.S)
    assert '<a href="../g%20v2%20vs%20v1/index.html">v2 vs v1</a>' in item
    points = accuracy["difference"] * 100
    expected_change = "±0.0 pp" if round(points, 1) == 0 else f"{points:+.1f} pp".replace("-", "−")
    assert (f"Accuracy {accuracy['base'] * 100:.1f}% → {accuracy['candidate'] * 100:.1f}%, {expected_change}"
            in item)
    verdict = {"better": "better", "worse": "worse", "within_noise": "within noise"}[accuracy["verdict"]]
    assert f'<span class="es-verdict es-verdict--{accuracy["verdict"]}">{verdict}</span>' in item
    assert "(95% interval " in item
    assert f"{len(compare['fixed'])} images fixed, {len(compare['broken'])} broken" in item
    # The link leads to the comparison site; the solo group has no comparison.
    assert (grouped / "overview" / "../g v2 vs v1/index.html").resolve().is_file()
    assert "<li>" not in html[html.index(">solo</h2>"):]


def test_the_overview_in_chinese(grouped: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(grouped, out)
    assert run("overview", out, "--quiet", "--lang", "zh").exit_code == 0
    html = article(out)
    assert "v2 对比 v1" in html and "已修复" in html and "<th>模型</th>" in html


def test_a_comparison_without_its_reports_still_has_its_group(grouped: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(grouped, out, ignore=shutil.ignore_patterns("g-v*"))
    assert run("overview", out, "--quiet", "--lang", "en").exit_code == 0
    html = article(out)
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", html) == ["g", "solo"]
    assert "No report of this task is in this folder" in html and "v2 vs v1</a>" in html


def test_unreadable_comparisons_are_skipped_with_a_notice(grouped: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(grouped, out)
    good = json.loads((out / "g v2 vs v1" / "compare.json").read_text(encoding="utf-8"))
    bad = {
        "not-json": "{nope",
        "old-schema": json.dumps({**good, "schema": "evalsite.compare/0"}),
        "a-list": "[1, 2]",
        "no-headline": json.dumps({**good, "headline": []}),
        "odd-verdict": json.dumps({**good, "headline": [{**good["headline"][0],
                                                          "verdict": 'better" onmouseover="alert(1)'}]}),
        "odd-number": json.dumps({**good, "headline": [{**good["headline"][0], "base": "<b>1</b>"}]}),
        "no-fixed": json.dumps({k: v for k, v in good.items() if k != "fixed"}),
    }
    for folder, text in bad.items():
        (out / folder).mkdir()
        (out / folder / "compare.json").write_text(text, encoding="utf-8")
    (out / "unreadable").mkdir()
    (out / "unreadable" / "compare.json").write_bytes(b"\xff\xfe not utf-8")
    entries, notices = find_comparisons(out)
    assert [e.folder for e in entries] == ["g v2 vs v1"]
    assert sorted(Path(n.file).parent.name for n in notices) == sorted([*bad, "unreadable"])
    assert {n.code for n in notices} == {"comparison_skipped"}
    result = run("overview", out, "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "comparison_skipped" in result.stderr and "old-schema" in result.stderr
    html = article(out)
    assert html.count("<li>") == 1 and "v2 vs v1</a>" in html
    assert "onmouseover" not in html and "<b>1</b>" not in html
    for folder in [*bad, "unreadable"]:
        assert f"../{folder}/" not in html


def test_damaged_reports_are_skipped_with_a_warning_by_overview_and_by_later_builds(grouped: Path,
                                                                                   tmp_path: Path) -> None:
    # Each of these once gave a traceback in `overview` and in every later `build` into the folder, or (task 5)
    # was dropped without a word.
    out = tmp_path / "out"
    shutil.copytree(grouped, out)
    first = next(p for p in sorted(out.glob("*/report.json")) if p.parent.name != "overview")
    good = json.loads(first.read_text(encoding="utf-8"))
    bad = {
        "headline-text": {**good, "metrics": {**good["metrics"], "accuracy": "x"}},
        "task-number": {**good, "task": 5},
        "type-list": {**good, "task": {**good["task"], "type": ["classification"]}},
        "name-number": {**good, "task": {**good["task"], "name": 7}},
        "images-text": {**good, "dataset": {**good["dataset"], "images": "many"}},
        "a-list": [1, 2],
    }
    for folder, data in bad.items():
        (out / folder).mkdir()
        (out / folder / "report.json").write_text(json.dumps(data), encoding="utf-8")
    listed_before = article(out).count("<tr>")
    for result in (run("overview", out, "--lang", "en"),
                   run("build", write_task(tmp_path / "more", ["cat", "dog"], name="more"), "-o", out, "--quiet")):
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        for folder in bad:
            assert f"{folder}/report.json: report_skipped" in result.stderr, (folder, result.stderr)
    html = article(out)
    assert "more" in html and html.count("<tr>") >= listed_before
    for folder in bad:
        assert f"../{folder}/" not in html


def test_hostile_group_model_and_folder_names_stay_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    build(monkeypatch, version(tmp_path, "h1", 0, group=HOSTILE_GROUP, model=HOSTILE_MODEL), out, "2024-01-10")
    build(monkeypatch, version(tmp_path, "h2", 1, group=HOSTILE_GROUP, model="v2 *bold* [x](javascript:1)"), out,
          "2024-01-11")
    result = run("compare", out / "h1", out / "h2", "-o", out, "--images", tmp_path / "h1" / "images",
                 "--quiet", "--lang", "en", "--name", "cmp")
    assert result.exit_code == 0, result.output
    # A comparison folder of any name (folders are untrusted too): percent-encoded in the URL.
    hostile_folder = 'x"y <z> #?%&'
    shutil.copytree(out / "cmp", out / hostile_folder)
    assert run("overview", out, "--quiet", "--lang", "en").exit_code == 0
    page = (out / "overview" / "index.html").read_text(encoding="utf-8")
    html = article(out)
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    assert 'href="javascript:' not in page and "<strong>bold</strong>" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # the group heading, as text
    assert "&lt;/td&gt;&lt;img src=x onerror=alert(1)&gt;" in html  # the model cell and the comparison link
    (heading,) = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert heading == "&lt;script&gt;window.__pwned=1&lt;/script&gt;"
    links = re.findall(r'<li><a href="([^"]*)">', html)
    assert sorted(links) == ["../cmp/index.html", "../x%22y%20%3Cz%3E%20%23%3F%25%26/index.html"]
    # Every row has its seven cells: the hostile model name did not close one.
    for row in re.findall(r"<tr><td>.*?</tr>", html):
        assert row.count("<td>") == 7, row


def test_the_grouped_overview_in_the_browser(grouped: Path, browser) -> None:
    """From file://: a clean page with no network request, and the comparison link opens the comparison."""
    from browser import audit_site, open_page

    audits = audit_site(browser, grouped / "overview")
    assert {page: a.problems() for page, a in audits.items() if not a.ok} == {}
    page, audit = open_page(browser, grouped / "overview" / "index.html")
    page.locator("article li a", has_text="v2 vs v1").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/g%20v2%20vs%20v1/index.html"), page.url
    assert "v2 vs v1" in page.locator("h1").first.inner_text()
    assert audit.ok, audit.problems()
    audit.close()


def test_overview_shows_the_headline_interval(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from evalsite.cli import main

    from conftest import write_task

    manifest = write_task(tmp_path / "in", ["cat", "dog"], n_images=40)
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet"]).exit_code == 0
    report = json.loads((out / "task" / "report.json").read_text(encoding="utf-8"))
    low, high = report["intervals"]["metrics"]["accuracy"]
    html = (out / "overview" / "index.html").read_text(encoding="utf-8")
    assert f'<small class="es-ci">({low * 100:.1f}–{high * 100:.1f}%)</small>' in html
