"""`evalsite verify`: a Verification page from a predictions file or the user's predictor, failures per image."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main

PAGES = ["index.html", "details.html", "errors/index.html", "data.html", "report.json"]


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _new_images(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (64, 48), (40 * i, 120, 90)).save(folder / f"new{i}.png")
    return folder


def _copy_site(det_site: Path, tmp_path: Path) -> Path:
    import shutil

    site = tmp_path / "out" / "det"
    shutil.copytree(det_site / "out" / "det", site)
    return site


def test_predictions_file_adds_the_page(det_site: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(det_site)  # the report's images root is recorded relative to its manifest
    site = _copy_site(det_site, tmp_path)
    new = _new_images(tmp_path / "new")
    threshold = json.loads((site / "report.json").read_text())["metrics"]["threshold"]
    lines = [
        {"image": "new0.png", "predictions": [{"label": "cat", "score": 0.99, "bbox": [4, 4, 20, 20]},
                                              {"label": "dog", "score": threshold / 2, "bbox": [30, 5, 10, 10]}]},
        {"image": "sub/new1.png", "predictions": []},  # matched by file name
        {"image": "new2.png", "predictions": [{"label": "horse", "score": 0.9, "bbox": [1, 1, 5, 5]}]},
        {"image": "other.png", "predictions": []},  # no such image: ignored with a warning
    ]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    before = (site / "report.json").read_bytes()
    result = run("verify", site, "--images", new, "--predictions", preds)  # the recorded images root
    assert result.exit_code == 0, result.output
    assert (site / "report.json").read_bytes() == before  # the report itself is unchanged
    assert "1 line(s) name no image" in result.output
    for page in PAGES + ["verification.html", "verification.json"]:
        assert (site / page).is_file(), page
    data = json.loads((site / "verification.json").read_text())
    status = {r["image"]: (r["status"], r["problem"]) for r in data["results"]}
    assert status["new0.png"][0] == status["new1.png"][0] == "ok"
    assert status["new2.png"][0] == "error" and "unknown label 'horse'" in status["new2.png"][1]
    assert status["new3.png"] == ("error", "no line for this image in preds.jsonl")
    assert data["summary"]["ok"] == 2 and data["summary"]["error"] == 2
    cat = next(row for row in data["summary"]["per_label"] if row["label"] == "cat")
    dog = next(row for row in data["summary"]["per_label"] if row["label"] == "dog")
    assert (cat["predictions"], dog["predictions"]) == (1, 0)  # the dog box is below t*
    html = (site / "verification.html").read_text(encoding="utf-8")
    assert "Verification" in html and "cat 0.990" in html and "horse" in html
    assert 'href="verification.html"' in (site / "index.html").read_text(encoding="utf-8")
    assert len(list((site / "verify" / "full").glob("*.[jp][pn]g"))) == 4


def test_bad_input_exits_2(det_site: Path, tmp_path: Path) -> None:
    site = det_site / "out" / "det"
    new = _new_images(tmp_path / "new", 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    cases = [
        (("verify", tmp_path / "nowhere", "--images", new, "--predictions", bad), "not a report folder"),
        (("verify", site, "--images", new, "--predictions", bad), "malformed JSON"),
        (("verify", site, "--images", new), "give either --predictions"),
        (("verify", site, "--images", new, "--predictor", "no_such_module_xyz:predict",
          "--report-images", det_site / "images"), "No module named"),
        (("verify", site, "--images", new, "--predictor", "not a target"), "package.module:function"),
    ]
    for args, expected in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)


PREDICTOR = '''
import json, time
from pathlib import Path

def predict(path):
    name = Path(path).name
    print("predictor output on stdout must not break anything")
    if name == "new1.png":
        raise RuntimeError("cannot read this one")
    if name == "new2.png":
        time.sleep(30)
    if name == "new3.png":
        return {"predictions": [{"label": "cat", "score": "high", "bbox": [0, 0, 1, 1]}]}
    if name == "new4.png":
        return json.dumps({"predictions": [{"label": "dog", "score": 0.97, "bbox": [10, 10, 20, 20]}]})
    return {"predictions": [{"label": "cat", "score": 0.95, "bbox": [4, 4, 20, 20]}]}
'''


def test_predictor_failures_are_reported_per_image(det_site: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "mypredictor.py").write_text(PREDICTOR, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    site = _copy_site(det_site, tmp_path)
    new = _new_images(tmp_path / "new", 6)
    result = run("verify", site, "--images", new, "--predictor", "mypredictor:predict", "--timeout", 1,
                 "--report-images", det_site / "images", "--lang", "zh")
    assert result.exit_code == 0, result.output
    data = json.loads((site / "verification.json").read_text())
    status = {r["image"]: (r["status"], r["problem"]) for r in data["results"]}
    assert status["new0.png"] == ("ok", None) and status["new5.png"] == ("ok", None)
    assert status["new4.png"] == ("ok", None)  # a JSON string is accepted, after a timeout restarted the worker
    assert status["new1.png"] == ("error", "RuntimeError: cannot read this one")
    assert status["new2.png"][0] == "timeout"
    assert status["new3.png"][0] == "error" and "expected a finite number" in status["new3.png"][1]
    html = (site / "verification.html").read_text(encoding="utf-8")
    assert "校验" in html and "RuntimeError" in html and "dog 0.970" in html
    for page in PAGES:
        assert (site / page).is_file(), page


SHADOW = 'open(__file__ + ".ran", "w").close()\nraise SystemExit("the evalsite of the current folder ran")\n'
LOCAL_PREDICTOR = """
def predict(path):
    return {"predictions": [{"label": "cat", "score": 0.9, "bbox": [1, 1, 5, 5]}]}
"""


def test_predictor_in_the_current_folder_cannot_replace_the_worker(det_site: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """The user's predictor module in the current folder is found, but an `evalsite` package there (or any
    file named like a module of ours) never runs: the worker is evalsite's own file."""
    work = tmp_path / "work"
    (work / "evalsite" / "commands").mkdir(parents=True)
    for name in ("evalsite/__init__.py", "evalsite/commands/__init__.py", "evalsite/commands/verify_worker.py"):
        (work / name).write_text(SHADOW, encoding="utf-8")
    (work / "localpredictor.py").write_text(LOCAL_PREDICTOR, encoding="utf-8")
    monkeypatch.chdir(work)
    site = _copy_site(det_site, tmp_path)
    new = _new_images(tmp_path / "new", 2)
    result = run("verify", site, "--images", new, "--predictor", "localpredictor:predict",
                 "--report-images", det_site / "images", "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads((site / "verification.json").read_text())
    assert [(r["status"], r["problem"]) for r in data["results"]] == [("ok", None), ("ok", None)]
    assert [r["predictions"][0]["label"] for r in data["results"]] == ["cat", "cat"]
    assert not list(work.rglob("*.ran"))


def test_demo_digits_predictor(tmp_path: Path, monkeypatch) -> None:
    from sklearn.datasets import load_digits

    from evalsite.commands.build import build_report_site
    from evalsite.commands.evaluate import evaluate
    from evalsite.demo.classification import PIXEL_SCALE, write_inputs
    from evalsite.manifest import load_manifest

    manifest = write_inputs(tmp_path / "inputs" / "digits", "en")
    model = tmp_path / "inputs" / "digits" / "model.pkl"
    assert model.is_file()
    spec = load_manifest(manifest)
    build_report_site(evaluate(spec), spec.images, tmp_path / "out" / "digits")
    digits = load_digits()
    new = tmp_path / "new"
    new.mkdir()
    for i in range(5):  # training images, so the model knows them
        gray = (255 - digits.images[i] * (255 / 16)).round().astype("uint8")
        Image.fromarray(gray, mode="L").resize((8 * PIXEL_SCALE,) * 2, Image.Resampling.NEAREST).save(
            new / f"digit-{i}.png")
    monkeypatch.setenv("EVALSITE_DIGITS_MODEL", str(model))
    result = run("verify", tmp_path / "out" / "digits", "--images", new, "--predictor",
                 "evalsite.demo.predictor:predict_digits", "--report-images", spec.images, "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "digits" / "verification.json").read_text())
    assert [r["status"] for r in data["results"]] == ["ok"] * 5
    top = [r["predictions"][0]["label"] for r in data["results"]]
    assert sum(label == str(digits.target[i]) for i, label in enumerate(top)) >= 4
    assert (tmp_path / "out" / "digits" / "verification.html").is_file()
