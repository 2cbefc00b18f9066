"""The `evalsite` command end to end: outputs, exit codes, messages, and no half-written output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main

from conftest import evalsite_command, write_task


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def listing(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_writes_report_overview_and_prints_paths(task: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("build", task, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    for page in ("index", "details", "data", "errors/index"):
        assert (out / "task" / f"{page}.html").is_file()
    report = json.loads((out / "task" / "report.json").read_text(encoding="utf-8"))
    assert report["schema"] == "evalsite.report/2"
    assert report["task"]["name"] == "task" and report["dataset"]["images"] == 30
    assert (out / "overview" / "index.html").is_file()
    assert "overview/index.html" in (out / "index.html").read_text(encoding="utf-8")
    printed = result.stdout.split()
    assert str((out / "task" / "index.html").resolve()) in printed
    # No temporary folders are left beside the output.
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "overview", "task"]


def test_real_command_runs_and_exit_codes(task: Path, tmp_path: Path) -> None:
    """The installed script, as users and CI scripts call it."""
    ok = subprocess.run([*evalsite_command(), "evaluate", str(task), "-o", str(tmp_path / "r.json")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    metrics = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["metrics"]
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "top1", "top2", "top3", "top4", "top5"}
    assert metrics["top2"] is not None and metrics["top3"] is None  # 3 labels: k < 3 only
    bad = subprocess.run([*evalsite_command(), "evaluate", str(tmp_path / "nope.yaml"), "-o", "x.json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: manifest not found"
    assert not (tmp_path / "x.json").exists()
    usage = subprocess.run([*evalsite_command(), "build"], capture_output=True, text=True)
    assert usage.returncode == 2 and "Usage" in usage.stderr


def test_success_ends_at_once_with_output_whole_and_exit_handlers_run(task: Path, tmp_path: Path) -> None:
    """After a success the program ends without finalising its modules (evalsite.cli.run: about 0.05 s): what
    it printed arrives whole and exit handlers run; a failure exits the usual way (modules finalised)."""
    def program(*args: str) -> subprocess.CompletedProcess:
        code = ("import atexit, sys\nfrom evalsite.cli import run\n"
                "class Finalised:\n    def __del__(self):\n        print('finalised')\n"
                "kept = Finalised()\natexit.register(lambda: print('handler ran'))\n"
                f"sys.argv = ['evalsite', *{list(args)!r}]\nrun()\n")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)

    ok = program("evaluate", str(task), "-o", "-", "--quiet")
    assert ok.returncode == 0, ok.stderr
    report, handler = ok.stdout[:-len("handler ran\n")], ok.stdout[-len("handler ran\n"):]
    assert handler == "handler ran\n" and json.loads(report)["task"]["type"] == "classification"
    assert "finalised" not in ok.stdout
    bad = program("evaluate", "nope.yaml", "-o", "x.json")
    assert bad.returncode == 2 and bad.stdout == "handler ran\nfinalised\n", bad.stdout
    assert bad.stderr.strip() == "error: nope.yaml: manifest not found"


def test_evaluate_to_stdout(task: Path) -> None:
    result = run("evaluate", task, "-o", "-", "--quiet")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["task"]["type"] == "classification"


def test_every_command_is_in_the_help_test() -> None:
    assert set(main.commands) == set(HELP_COMMANDS) - {None}


HELP_COMMANDS = ["build", "evaluate", "compare", "check", "archive", "overview", "demo", "serve", "verify",
                 None]


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_help_explains_every_option(command: str | None) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = run(*args)
    assert result.exit_code == 0
    assert "Example" in result.output or "Quick start" in result.output
    if command:
        ctx_command = main.commands[command]
        for param in ctx_command.params:
            if param.param_type_name == "option":
                assert param.help, f"{command} {param.opts} has no help"
                assert param.opts[-1] in result.output


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: (d / "gt.csv").write_text("image,label\nimg-000.png,cat,extra\n"), "gt.csv, line 2: expected 2 columns"),
    (lambda d: (d / "task.yaml").write_text("name: task\ntype: [unclosed\n"), "task.yaml, line 3"),
    (lambda d: (d / "task.yaml").write_text((d / "task.yaml").read_text().replace("classification", "regression")),
     "unknown task type 'regression'"),
    (lambda d: (d / "pred.csv").write_text("image,cat,dog,bird\nimg-000.png,0.1,nan,0.3\n"),
     "pred.csv, line 2: column 'dog': score must be finite"),
    (lambda d: (d / "gt.csv").write_text("image,label\n../secret.png,cat\n"), "escapes the images root"),
    (lambda d: (d / "gt.csv").write_text("image,label\n"), "empty evaluation set"),
])
def test_bad_input_is_one_line_exit_2_and_keeps_the_previous_site(task: Path, tmp_path: Path, breakage,
                                                                  expected: str) -> None:
    out = tmp_path / "out"
    assert run("build", task, "-o", out, "--quiet").exit_code == 0
    before = listing(out)
    breakage(task.parent)
    result = run("build", task, "-o", out, "--quiet")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert listing(out) == before  # untouched, and nothing half-written beside it
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "overview", "task"]


def test_failed_first_build_writes_nothing(tmp_path: Path) -> None:
    manifest = write_task(tmp_path / "in", ["a", "b"])
    (manifest.parent / "pred.csv").write_text("image,a,b\nimg-000.png,1,x\n")
    out = tmp_path / "out"
    result = run("build", manifest, "-o", out)
    assert result.exit_code == 2 and "pred.csv, line 2: column 'b': expected a number, found 'x'" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_missing_and_corrupt_images_are_reported_not_fatal(tmp_path: Path) -> None:
    manifest = write_task(tmp_path / "in", ["a", "b"], n_images=12, missing=2)
    images = manifest.parent / "images"
    (images / "img-002.png").write_bytes((images / "img-003.png").read_bytes()[:60])  # truncated PNG
    out = tmp_path / "out"
    result = run("build", manifest, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any("img-000.png" in w and "image_missing" in w for w in warnings)
    assert any("img-002.png" in w and "image_unreadable" in w for w in warnings)
    report = json.loads((out / "task" / "report.json").read_text(encoding="utf-8"))
    status = {r["image"]: r["status"] for r in report["images"]}
    assert status["img-000.png"] == "missing" and status["img-002.png"] == "unreadable"
    assert report["dataset"]["images_missing"] == 2 and report["dataset"]["images_unreadable"] == 1
    data_page = (out / "task" / "data.html").read_text(encoding="utf-8")
    assert "img-000.png" in data_page and "img-002.png" in data_page
    # A wrong prediction on a missing image shows the placeholder, never a broken link.
    galleries = "".join(p.read_text(encoding="utf-8") for p in (out / "task" / "errors").glob("label-*.html"))
    for row in report["images"]:
        if row["status"] != "ok" and not row["correct"]:
            assert "missing.svg" in galleries


def test_prediction_without_ground_truth_warns_and_is_ignored(task: Path) -> None:
    with open(task.parent / "pred.csv", "a", encoding="utf-8") as handle:
        handle.write("stray.png,0.1,0.2,0.3\n")
    result = run("evaluate", task, "-o", "-", "--quiet")
    assert result.exit_code == 0
    assert "prediction_without_ground_truth" in result.stderr and "stray.png" in result.stderr
    assert json.loads(result.stdout)["dataset"]["images"] == 30


def test_quiet_prints_no_progress(task: Path, tmp_path: Path) -> None:
    loud = run("build", task, "-o", tmp_path / "a")
    quiet = run("build", task, "-o", tmp_path / "b", "--quiet")
    assert "evaluating task" in loud.stderr
    assert quiet.stderr == ""


def test_options_instead_of_manifest(task: Path, tmp_path: Path) -> None:
    d = task.parent
    result = run("evaluate", "-o", "-", "--quiet", "--name", "opt", "--images", d / "images",
                 "--ground-truth", d / "gt.csv", "--predictions", d / "pred.csv")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["task"]["name"] == "opt"
    both = run("evaluate", task, "-o", "-", "--name", "x")
    assert both.exit_code == 2


def test_overview_lists_every_task(tmp_path: Path) -> None:
    a = write_task(tmp_path / "a", ["x", "y"], name="alpha")
    b = write_task(tmp_path / "b", ["x", "y", "z"], name="beta", seed=3)
    out = tmp_path / "out"
    result = run("build", a, b, "-o", out, "--quiet", "--lang", "en")
    assert result.exit_code == 0, result.output
    page = (out / "overview" / "index.html").read_text(encoding="utf-8")
    assert 'href="../alpha/index.html"' in page and 'href="../beta/index.html"' in page
    accuracy = json.loads((out / "alpha" / "report.json").read_text(encoding="utf-8"))["metrics"]["accuracy"]
    assert f"{accuracy * 100:.1f}%" in page
    # `overview` alone rebuilds it from the report.json files.
    (out / "overview").rename(tmp_path / "old-overview")
    assert run("overview", out, "--quiet").exit_code == 0
    assert "beta" in (out / "overview" / "index.html").read_text(encoding="utf-8")


def test_same_task_name_twice_is_refused(tmp_path: Path) -> None:
    a = write_task(tmp_path / "a", ["x", "y"], name="same")
    b = write_task(tmp_path / "b", ["x", "y"], name="same")
    result = run("build", a, b, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "same task name" in result.stderr


def test_a_folder_that_is_not_an_evalsite_site_is_never_replaced(task: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "task").mkdir(parents=True)
    (out / "task" / "thesis.tex").write_text("precious")
    (out / "index.html").write_text("<html>my own page</html>")
    result = run("build", task, "-o", out, "--quiet")
    assert result.exit_code == 2 and "is not an evalsite site; refusing to replace it" in result.stderr
    assert (out / "task" / "thesis.tex").read_text() == "precious"
    # The overview does not take over a foreign index.html either.
    (out / "task" / "thesis.tex").unlink()
    assert run("build", task, "-o", out, "--quiet").exit_code == 0
    assert (out / "index.html").read_text() == "<html>my own page</html>"
    assert (out / "overview" / "index.html").is_file()


def test_serve_previews_over_http_on_loopback(task: Path, tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    out = tmp_path / "out"
    assert run("build", task, "-o", out, "--quiet").exit_code == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([*evalsite_command(), "serve", str(out), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/task/details.html", timeout=2) as response:
                    body = response.read().decode("utf-8")
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("serve did not answer")
        assert "cat" in body and response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
