"""`evalsite verify`: try the report's model on new images and add a "Verification" page to the report.

The predictions come from a JSONL file in the report's own prediction schema (see "Inputs and formats" in the docs),
matched to the new images by path (relative to the images folder) or by file name, or from the user's predictor, a
Python callable `package.module:function` (image path -> one JSONL record, as a dict or a JSON string). The
predictor runs in a worker process (verify_worker.py) fed one image at a time; an image that takes longer
than the timeout gets the worker killed and a fresh one started for the next image. Every image gets a
status: ok, error (the image is unreadable: missing, corrupt, too large or a link leading outside the folder,
checked as `evaluate` checks images, before any prediction is used; the predictor raised, or its output breaks
the schema: unknown label, score not a finite number, box not 4 finite numbers, missing line in the file) or
timeout; failures are shown on the page, never stop the rest.

The report site is rebuilt (report.json and the report's images, as `evalsite compare` finds them) with one
more page, verification.md, and the results in SITE/verification.json. Detection and segmentation draw the
predicted boxes scoring at least the report's threshold t*; classification shows the top-1 label and score.
"""

from __future__ import annotations

import json
import math
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from evalsite.commands.common import images_root
from evalsite.core.enums import TaskType
from evalsite.core.errors import EvalsiteError, InputError
from evalsite.core.files import IMAGE_SUFFIXES, image_files
from evalsite.core.progress import Console
from evalsite.formats.images import image_path, inspect_images, quiet_images
from evalsite.formats.records import jsonl_records

VERIFICATION_SCHEMA = "evalsite-verification/1"
STARTUP_TIMEOUT = 120.0  # seconds for the predictor's module to import (deep-learning frameworks are slow)
DEFAULT_TIMEOUT = 30.0
PAGE = "verification.md"
WORKER = Path(__file__).with_name("verify_worker.py")  # imports only the standard library


@dataclass
class Checked:
    """One new image: status ok | error | timeout, the problem, and its valid predictions (classification:
    {label, score} best first; detection: {label, score, bbox} as given)."""

    image: str
    status: str
    problem: str | None = None
    predictions: list[dict] = field(default_factory=list)


class PredictorOutputError(EvalsiteError):
    """A prediction (from the predictor or a line of the predictions file) that breaks the report's schema:
    that image's error on the Verification page, never the command's."""


def new_images(folder: Path) -> list[str]:
    """The images below `folder` (hidden folders skipped), relative POSIX paths, sorted."""
    if not folder.is_dir():
        raise InputError("images folder not found or not a folder", folder)
    found = image_files(folder, hidden_files=False)
    if not found:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder", folder)
    return sorted(found)


def _short(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PredictorOutputError(f"{what}: expected a finite number, found {_short(value)}")
    return float(value)


def _label(value: object, labels: list[str], what: str) -> str:
    name = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if name is None or name not in labels:
        shown = ", ".join(labels[:10]) + (", ..." if len(labels) > 10 else "")
        raise PredictorOutputError(f"{what}: unknown label {_short(value)} (the report's labels: {shown})")
    return name


def validate(output: object, task_type: str, labels: list[str]) -> list[dict]:
    """The predictions of one image in the report's schema, or PredictorOutputError naming what is wrong."""
    if not isinstance(output, dict):
        raise PredictorOutputError(f"expected a JSON object, found {_short(output)}")
    if task_type == TaskType.CLASSIFICATION:
        if isinstance(output.get("scores"), dict):
            pairs = [(_label(k, labels, "scores"), _finite(v, f"score of {k!r}")) for k, v in output["scores"].items()]
        elif isinstance(output.get("topk"), list):
            pairs = []
            for i, entry in enumerate(output["topk"], start=1):
                if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                    raise PredictorOutputError(f"topk entry {i} must be [label, score], found {_short(entry)}")
                pairs.append((_label(entry[0], labels, f"topk entry {i}"), _finite(entry[1], f"topk entry {i}")))
        else:
            raise PredictorOutputError(
                "expected 'scores' (an object label -> score) or 'topk' (a list of [label, score])")
        if not pairs:
            raise PredictorOutputError("no scores")
        order = {name: i for i, name in enumerate(labels)}
        pairs.sort(key=lambda p: (-p[1], order[p[0]]))
        return [{"label": name, "score": score} for name, score in pairs]
    found = output.get("predictions")
    if not isinstance(found, list):
        raise PredictorOutputError("missing 'predictions'" if found is None
                                   else f"'predictions' must be a list, found {_short(found)}")
    checked = []
    for k, p in enumerate(found, start=1):
        where = f"prediction {k}"
        if not isinstance(p, dict):
            raise PredictorOutputError(f"{where}: expected an object, found {_short(p)}")
        box = p.get("bbox")
        if not isinstance(box, list) or len(box) != 4:
            raise PredictorOutputError(f"{where}: 'bbox' must be [x, y, width, height], found {_short(box)}")
        xywh = [_finite(v, f"{where} bbox") for v in box]
        if xywh[2] < 0 or xywh[3] < 0:
            raise PredictorOutputError(f"{where}: negative box width or height {_short(box)}")
        checked.append({"label": _label(p.get("label"), labels, where),
                        "score": _finite(p.get("score"), f"{where} score"), "bbox": xywh})
    checked.sort(key=lambda p: -p["score"])
    return checked


def _outcome(image: str, output: object, task_type: str, labels: list[str], where: str = "") -> Checked:
    try:
        return Checked(image, "ok", None, validate(output, task_type, labels))
    except PredictorOutputError as exc:
        return Checked(image, "error", f"{where}{exc}")


def from_file(path: Path, images: list[str], task_type: str, labels: list[str]) -> tuple[list[Checked], int]:
    """Results of `images` from a predictions JSONL file, and how many of its lines matched no image. A file
    that is not JSONL, or a line without an image, is an InputError; a line breaking the schema is that
    image's error."""
    by_path: dict[str, tuple[int, dict]] = {}
    for number, record in jsonl_records(path):
        raw = record.get("image")
        if not isinstance(raw, str) or not raw.strip():
            raise InputError("missing image path ('image')", path, f"line {number}")
        key = raw.strip().replace("\\", "/")
        while key.startswith("./"):
            key = key[2:]
        if key in by_path:
            raise InputError(f"duplicate line for image {raw!r} (first at line {by_path[key][0]})", path,
                             f"line {number}")
        by_path[key] = (number, record)
    if not by_path:
        raise InputError("no predictions: the file has no lines", path)
    names: dict[str, list[str]] = {}
    for key in by_path:
        names.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    used = set()
    results = []
    for image in images:
        key = image if image in by_path else None
        if key is None:
            candidates = names.get(image.rsplit("/", 1)[-1], [])
            key = candidates[0] if len(candidates) == 1 else None
        if key is None or key in used:
            results.append(Checked(image, "error", f"no line for this image in {path.name}"))
            continue
        used.add(key)
        number, record = by_path[key]
        results.append(_outcome(image, record, task_type, labels, f"{path.name} line {number}: "))
    return results, len(by_path) - len(used)


class _Worker:
    """One predictor process (evalsite.commands.verify_worker); `ask` one image at a time."""

    def __init__(self, target: str):
        self.target = target
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()

    def start(self) -> None:
        # The worker is this installation's own file, run by path (not looked up on the worker's sys.path,
        # which PYTHONPATH and the current folder decide: it is always the same evalsite as this one). -P:
        # neither the current folder nor the worker's own folder goes first on its sys.path, so that a file
        # of the user's named like a module the worker imports (json.py...) cannot replace it; the worker
        # appends the current folder itself once its own modules are imported, for the user's predictor.
        self.process = subprocess.Popen(
            [sys.executable, "-P", str(WORKER), self.target], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        message = self._next(STARTUP_TIMEOUT)
        if message == "timeout":
            self.stop()
            raise InputError(f"the predictor {self.target} did not start within {STARTUP_TIMEOUT:.0f} s")
        if not isinstance(message, dict) or "ready" not in message:
            self.stop()
            problem = message.get("import_error") if isinstance(message, dict) else None
            raise InputError(f"cannot use the predictor {self.target}: {problem or 'its process ended'}")

    @staticmethod
    def _read(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _next(self, timeout: float) -> object:
        """The next message, None when the process ended, "timeout" after `timeout` seconds."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return "timeout"
        if line is None:
            return None
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return {"error": f"unreadable answer from the predictor process: {line[:80]!r}"}

    def ask(self, path: Path, timeout: float) -> tuple[str, object]:
        """("result", output) | ("error", message) | ("timeout", None); a dead or late worker is replaced."""
        if self.process is None:
            self.start()
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(str(path)) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            return "error", "the predictor process ended"
        message = self._next(timeout)
        if message == "timeout":
            self.stop()
            return "timeout", None
        if message is None:
            status = self.stop()
            return "error", f"the predictor process ended (exit status {status})"
        if isinstance(message, dict) and "result" in message:
            return "result", message["result"]
        return "error", str(message.get("error") if isinstance(message, dict) else message)

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            try:
                process.stdin.close()  # type: ignore[union-attr]
                process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        return process.returncode


def check_predictor(target: str) -> None:
    """An InputError unless `target` looks like package.module:function."""
    module, _, function = target.partition(":")
    if not module or not function or not all(part.isidentifier() for part in module.split(".") + function.split(".")):
        raise InputError(f"--predictor must be package.module:function, found {target!r}")


def from_predictor(target: str, folder: Path, images: list[str], task_type: str, labels: list[str],
                   timeout: float, progress: Callable[[int], None] | None = None) -> list[Checked]:
    """Results of `images` from the predictor, one worker process at a time, `timeout` seconds per image. A
    predictor that cannot be imported is an InputError."""
    check_predictor(target)
    worker = _Worker(target)
    worker.start()
    results = []
    try:
        for image in images:
            path = image_path(folder, image)
            if path is None:  # unreadable() has already refused it; never handed to the predictor
                results.append(Checked(image, "error", "unreadable image: outside the images folder"))
                continue
            kind, value = worker.ask(path, timeout)
            if kind == "result":
                results.append(_outcome(image, value, task_type, labels))
            elif kind == "timeout":
                results.append(Checked(image, "timeout", f"no answer within {timeout:g} s"))
            else:
                results.append(Checked(image, "error", str(value)))
            if progress:
                progress(1)
    finally:
        worker.stop()
    return results


# The page.

@dataclass
class Shown:
    """A result with its pictures (site paths from the docs root; None: unreadable image)."""

    result: Checked
    thumb: str | None
    full: str | None
    drawn: list[dict]  # the predictions shown: classification the top-1, detection those at t* or above


def _pictures(folder: Path, results: list[Checked], docs: Path, task_type: str, threshold: float | None) -> list[Shown]:
    from evalsite.render.overlays import draw_full, to_rgb
    from evalsite.render.thumbnails import THUMB_SIZE, asset_name, make_assets, save_picture
    from evalsite.report.detection_model import DrawnBoxes

    if task_type == TaskType.CLASSIFICATION:
        assets = make_assets(folder, [r.image for r in results], docs / "verify")
        return [Shown(r, f"verify/{a.thumb}" if a else None, f"verify/{a.full}" if a else None, r.predictions[:1])
                for r in results for a in [assets.get(r.image)]]
    shown = []
    for r in results:
        drawn = [p for p in r.predictions if threshold is None or p["score"] >= threshold]
        boxes = DrawnBoxes(kinds=["correct"] * len(drawn), labels=[p["label"] for p in drawn],
                           xywh=[v for p in drawn for v in p["bbox"]], scores=[p["score"] for p in drawn])
        name = asset_name(r.image)
        source = image_path(folder, r.image)
        try:
            if source is None:
                raise OSError("outside the images folder")
            with quiet_images(), Image.open(source) as opened:
                picture = draw_full(to_rgb(opened), boxes)
            full = save_picture(picture, docs, f"verify/full/{name}")
            picture.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
            thumb = save_picture(picture, docs, f"verify/thumbs/{name}")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            shown.append(Shown(r, None, None, drawn))
            continue
        shown.append(Shown(r, thumb, full, drawn))
    return shown


def unreadable(folder: Path, images: list[str]) -> dict[str, str]:
    """The new images that cannot be read (missing, corrupt, truncated, too large, or a link leading outside
    `folder`), with the reason: evalsite.formats.images, as for the evaluation's images."""
    return {image: info.problem or info.status for image, info in zip(images, inspect_images(folder, images))
            if info.status != "ok"}


def summary(results: list[Checked], labels: list[str], task_type: str, threshold: float | None) -> dict:
    counts = {status: sum(r.status == status for r in results) for status in ("ok", "error", "timeout")}
    per_label = {name: [0, 0] for name in labels}  # [predictions shown, images]
    for r in results:
        if r.status != "ok":
            continue
        if task_type == TaskType.CLASSIFICATION:
            per_label[r.predictions[0]["label"]][0] += 1
            per_label[r.predictions[0]["label"]][1] += 1
            continue
        seen = set()
        for p in r.predictions:
            if threshold is None or p["score"] >= threshold:
                per_label[p["label"]][0] += 1
                seen.add(p["label"])
        for name in seen:
            per_label[name][1] += 1
    return {"images": len(results), **counts,
            "per_label": [{"label": k, "predictions": v[0], "images": v[1]} for k, v in per_label.items()]}


def verification_pages(report, results: list[Checked], folder: Path, source: tuple[str, str], timeout: float | None,
                       language: str) -> Callable[[Path], list]:
    """The `extra_pages` of `build_report_site`: writes verification.md, its pictures and verification.json.
    `source` is ("predictions", file name) or ("predictor", module:function)."""

    def write(docs: Path) -> list:
        from evalsite.render.i18n import Messages
        from evalsite.render.pages import environment, write_text

        task_type = report.task.type
        threshold = report.metrics.get("threshold") if task_type != TaskType.CLASSIFICATION else None
        labels = list(report.dataset.labels)
        t = Messages(language)
        shown = _pictures(folder, results, docs, task_type, threshold)
        totals = summary(results, labels, task_type, threshold)
        data = {"schema": VERIFICATION_SCHEMA, "task": report.task.name, "type": task_type, "threshold": threshold,
                "source": {"kind": source[0], "name": source[1]}, "images_folder": str(folder), "timeout": timeout,
                "summary": totals,
                "results": [asdict(r) for r in results]}
        write_text(docs / "verification.json", json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        page = environment().get_template("pages/verification.md.j2").render(
            t=t, r=report, task_type=task_type, threshold=threshold, totals=totals, source=source,
            shown=[s for s in shown if s.result.status == "ok"],
            failed=[s for s in shown if s.result.status != "ok"], timeout=timeout)
        write_text(docs / PAGE, page)
        return [(t("nav_verify"), PAGE)]

    return write


def _report_images(report, report_dir: Path) -> Path:
    """The report's evaluation images as `evalsite compare` finds them, or in the demo's layout
    (OUT/inputs/<task>/<images root>, beside OUT/<task>/)."""
    demo = report_dir.parent / "inputs" / report.task.name / report.task.images_root
    if not Path(report.task.images_root).is_absolute() and demo.is_dir():
        return demo
    return images_root(report, report_dir, "--report-images")


def run_verify(site: Path, images: Path, predictions: Path | None, predictor: str | None, timeout: float,
               report_images: Path | None, language: str | None, console: Console) -> Path:
    """`evalsite verify`: check the new images and rebuild SITE with the Verification page; returns the
    page's file (SITE/verification.html)."""
    from evalsite.commands.build import build_report_site
    from evalsite.report.load import load_report

    console.step("checking the new images")
    if (predictions is None) == (predictor is None):
        raise InputError("give either --predictions FILE or --predictor package.module:function")
    if not math.isfinite(timeout) or timeout <= 0:
        raise InputError(f"--timeout must be a positive number of seconds, found {timeout}")
    if not Path(site).is_dir():
        raise InputError("not a report folder (give a built report folder, OUT/<task name>/)", site)
    report, report_dir = load_report(site)
    if language:
        report.task.language = language
    names = new_images(images)
    labels = list(report.dataset.labels)
    if predictor is not None:
        check_predictor(predictor)
    broken = unreadable(images, names)
    readable = [name for name in names if name not in broken]
    results, unmatched = from_file(predictions, names, report.task.type, labels) if predictions else ([], 0)
    root = report_images if report_images is not None else _report_images(report, report_dir)
    if not root.is_dir():
        raise InputError("the report's images folder not found", root)
    if predictions is not None:
        if unmatched:
            console.warn(f"{predictions}: {unmatched} line(s) name no image in {images}; ignored")
        source, timeout_used = ("predictions", predictions.name), None
    else:
        assert predictor is not None
        predicted = iter(from_predictor(predictor, images, readable, report.task.type, labels, timeout,
                                        console.progress("predicting", len(readable))) if readable else [])
        results = [Checked(name, "error") if name in broken else next(predicted) for name in names]
        source, timeout_used = ("predictor", predictor), timeout
    results = [Checked(r.image, "error", f"unreadable image: {broken[r.image]}") if r.image in broken else r
               for r in results]
    extra = verification_pages(report, results, images, source, timeout_used, report.task.language)
    build_report_site(report, root, site, console.progress, extra_pages=extra, warn=console.warn)
    totals = summary(results, labels, report.task.type,
                     report.metrics.get("threshold") if report.task.type.is_detection else None)
    console.step(f"{totals['images']} image(s): {totals['ok']} predicted, {totals['error']} error(s), "
                 f"{totals['timeout']} timed out")
    return (site / "verification.html").resolve()
