"""The `evalsite` command: the command line only (options, help texts, the error a failure prints and its
exit status). Each command's work is done by evalsite.commands.<command>.

Exit status: 0 success; 1 an unexpected failure (a bug: please report it); 2 bad input or bad usage
(the message names the file, the record and the problem). Nothing is written when the status is not 0.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
from pathlib import Path
from typing import NoReturn

import click

from evalsite import __version__
from evalsite.core.enums import TaskType
from evalsite.core.errors import BuildError, EvalsiteError, ExitCode, exit_code
from evalsite.core.progress import Console
from evalsite.manifest import LANGUAGES, TASK_TYPES, TaskSpec, load_manifest, spec_from_dict

LANG_OPTION = click.option(
    "--lang", type=click.Choice(LANGUAGES), default=None,
    help="Language of the pages: zh (Chinese, the default) or en. Overrides the manifest's `language`.")


def _cluster_options(command):
    """--scheduler and --shard-images (evalsite.core.cluster; docs/cluster.md)."""
    options = [
        click.option("--scheduler", default=None, metavar="local[:N]|tcp://HOST:PORT",
                     help="Run the per-image work (image checks, prediction shards, traits, pictures) on a Dask "
                          "cluster: 'local:N' starts N worker processes here (N default: the cores), an address "
                          "joins a running `dask scheduler` (not answering within 10 s: exit 2). Needs the "
                          "extra: pip install \"evalsite[dask]\". The images root and OUT must be at the same "
                          "path on every worker. The report is the same as without it."),
        click.option("--shard-images", type=click.IntRange(min=1), default=None,
                     help="Images per Dask task with --scheduler (default 1000): smaller shards spread better "
                          "and retry less after a lost worker; larger ones cost less scheduling."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


QUIET_OPTION = click.option("--quiet", "-q", is_flag=True,
                            help="No progress output (warnings and errors still go to stderr).")


def _fail(exc: EvalsiteError | OSError | KeyboardInterrupt) -> NoReturn:
    """The one place where a failure becomes its message on stderr ("error: ...") and its exit status
    (evalsite.core.errors.exit_code: an InputError, OutputError or file-system error 2, a BuildError or any
    other failure 1; Ctrl-C 130)."""
    if isinstance(exc, KeyboardInterrupt):
        message, status = "interrupted; nothing was written", ExitCode.INTERRUPTED
    elif isinstance(exc, BuildError):
        message, status = f"the site did not build (a bug in evalsite {__version__}): {exc}", exit_code(exc)
    elif isinstance(exc, EvalsiteError):
        message, status = exc.one_line(), exit_code(exc)
    else:  # a file-system error outside a build (which names its destination itself): an environment problem
        where = ", ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        message, status = f"{where + ': ' if where else ''}{exc.strerror or exc}", exit_code(exc)
    click.echo(f"error: {message}", err=True)
    sys.exit(int(status))


def guarded(command):
    """Turn evalsite's errors, file errors and Ctrl-C into one line on stderr and their exit status."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (EvalsiteError, OSError, KeyboardInterrupt) as exc:
            _fail(exc)

    return wrapper


def _specs(manifests: tuple[Path, ...], lang: str | None, fields: dict) -> list[TaskSpec]:
    split = fields.pop("split", None)  # --split: also with manifests, where it replaces their `split`
    given = {k: v for k, v in fields.items() if v is not None}
    if manifests and given:
        raise click.UsageError("give either manifest files or the --name/--type/... options, not both")
    if manifests:
        specs = [load_manifest(path, lang) for path in manifests]
        for spec in specs:
            spec.split = spec.split if split is None else Path.cwd() / split
        return specs
    data_yaml = str(given.get("ground_truth", "")).lower().endswith((".yaml", ".yml"))  # images: its dataset root
    missing = [f"--{k.replace('_', '-')}" for k in ("name", "images", "ground_truth", "predictions")
               if k not in given and not (k == "images" and data_yaml)]
    if missing:
        raise click.UsageError(f"give a manifest file, or all of {', '.join(missing)}")
    data = {"name": given["name"], "type": given.get("type", TaskType.CLASSIFICATION.value),
            **({"images": str(given["images"])} if "images" in given else {}),
            "ground_truth": {"path": str(given["ground_truth"]), "format": given.get("gt_format")},
            "predictions": {"path": str(given["predictions"]), "format": given.get("pred_format")}}
    if "labels" in given:
        data["labels"] = str(given["labels"])
    if split is not None:
        data["split"] = str(split)
    if "label_names" in given:
        data["label_names"] = str(given["label_names"])
    return [spec_from_dict(data, Path.cwd(), None, lang)]


class ReaderFormats(click.Choice):
    """The formats the readers know for one input role (evalsite.commands.evaluate.reader_formats), looked up
    when the option is given or its help shown: importing the readers costs 0.2 s of start-up."""

    def __init__(self, role: str):
        self.role = role
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        from evalsite.commands.evaluate import reader_formats
        from evalsite.core.enums import InputRole

        return reader_formats(InputRole(self.role))

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ sets it; the readers' lists win
        pass


def _task_fields(command):
    options = [
        click.option("--name", help="Task name (title of the report and its folder name), instead of a manifest."),
        click.option("--type", "type_", type=click.Choice(TASK_TYPES),
                     default=None, help="Task type (default classification)."),
        click.option("--images", type=click.Path(path_type=Path), help="Folder that image paths are relative to."),
        click.option("--ground-truth", type=click.Path(path_type=Path), help="Ground-truth file or class-folder root."),
        click.option("--gt-format", type=ReaderFormats("ground_truth"), default=None,
                     help="Ground-truth format (default: told from the files); the task type's reader checks it."),
        click.option("--predictions", type=click.Path(path_type=Path), help="Predictions file."),
        click.option("--pred-format", type=ReaderFormats("predictions"), default=None,
                     help="Predictions format (default: told from the files); the task type's reader checks it."),
        click.option("--labels", type=click.Path(path_type=Path), default=None,
                     help="Optional labels file, one name per line, in the order that breaks score ties."),
        click.option("--split", type=click.Path(path_type=Path), default=None,
                     help="Evaluate only the images this file lists (paths, stems or ids, one a line); for a VOC "
                          "dataset also an image set name (test: ImageSets/Main/test.txt), or 'all'. Replaces "
                          "a manifest's `split`."),
        click.option("--label-names", type=click.Path(path_type=Path), default=None,
                     help="Optional display names of the label ids: 'id name' lines or an id,name CSV."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _fields(kwargs: dict) -> dict:
    keys = ("name", "type_", "images", "ground_truth", "gt_format", "predictions", "pred_format", "labels",
            "label_names", "split")
    return {k.rstrip("_"): kwargs.pop(k) for k in keys}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="evalsite")
def main() -> None:
    """Turn a computer-vision evaluation (ground truth, predictions, images) into an offline report site.

    \b
    Quick start:
      evalsite demo -o out            # a complete example report, from scikit-learn's digits
      evalsite build task.yaml -o out # your task: out/<name>/index.html and out/index.html
    Exit status: 0 success, 2 bad input or usage (one line says file, record and problem),
    1 unexpected failure. A failed build writes nothing and leaves earlier output untouched.
    """


@main.command()
@click.argument("manifests", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output root: each task's site goes to OUT/<task name>/, the task overview to OUT/overview/.")
@click.option("--no-overview", is_flag=True, help="Do not refresh the task overview in OUT.")
@click.option("--archive", is_flag=True,
              help="Also write each task's site as one reproducible zip, OUT/<task name>.zip (see `evalsite archive`).")
@_task_fields
@_cluster_options
@LANG_OPTION
@QUIET_OPTION
@guarded
def build(manifests, out, no_overview, archive, lang, quiet, scheduler, shard_images, **kwargs):
    """Build the report site of one or more tasks.

    MANIFESTS are task.yaml files (see "Inputs and formats" in the docs); instead of one, the same fields can be
    given as options.

    \b
    Examples:
      evalsite build task.yaml -o reports
      evalsite build a.yaml b.yaml -o reports --lang en
      evalsite build -o reports --name digits --images imgs --ground-truth gt.csv --predictions scores.csv
      evalsite build task.yaml -o reports --archive   # also reports/<name>.zip
    """
    from evalsite.commands.build import run_build

    specs = _specs(manifests, lang, _fields(kwargs))
    run_build(specs, out, Console(quiet), click.echo, overview=not no_overview, archive=archive, language=lang,
              scheduler=scheduler, shard_images=shard_images)


@main.command()
@click.argument("manifest", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Where to write report.json ('-' for standard output).")
@click.option("--no-intervals", is_flag=True,
              help="Leave out the 95% bootstrap intervals (report.json `intervals` null): about 0.5 s less at "
                   "5,000 COCO images. The site (`build`) always has them.")
@_task_fields
@_cluster_options
@LANG_OPTION
@QUIET_OPTION
@guarded
def evaluate(manifest, out, no_intervals, lang, quiet, scheduler, shard_images, **kwargs):
    """Compute the metrics only and write report.json (no site): for pipelines and benchmarks.

    \b
    Examples:
      evalsite evaluate task.yaml -o report.json
      evalsite evaluate task.yaml -o - --no-intervals | jq .metrics
    """
    from evalsite.commands.evaluate import run_evaluate

    (spec,) = _specs((manifest,) if manifest else (), lang, _fields(kwargs))
    text = run_evaluate(spec, out, Console(quiet), intervals=not no_intervals, scheduler=scheduler,
                        shard_images=shard_images)
    if text is not None:  # -o -
        click.echo(text, nl=False)


@main.command()
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--require", "requires", multiple=True, metavar="'NAME OP VALUE'",
              help="A rule on REPORT's metrics, e.g. \"mAP50>=0.6\" or \"recall >= 80%\": OP one of >= <= > < ==, "
                   "VALUE a number or a percentage. NAME is a key of report.json `metrics` (dotted for "
                   "COCO numbers: coco.AP). A metric without a value (null) fails. Repeatable.")
@click.option("--max-drop", "max_drops", multiple=True, metavar="'NAME=VALUE'",
              help="Fail when the baseline's value minus REPORT's exceeds VALUE (absolute, in the metric's "
                   "unit; 1% = 0.01), e.g. \"mAP50=0.01\". Needs --baseline. Repeatable.")
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="The report to compare with (a report folder or its report.json), e.g. the model in "
                   "production. It must be the same evaluation: task type, images, labels, IoU threshold.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object instead of a table.")
@guarded
def check(report, requires, max_drops, baseline, as_json):
    """Gate a release: check REPORT's metrics against rules; exit 0 when all hold, 1 when one fails.

    REPORT and the --baseline are built report folders (OUT/<task name>/) or report.json files
    (`evaluate -o`). Prints one row per rule and a verdict (or JSON with --json).

    \b
    Metric names (the keys of report.json `metrics`):
      classification: accuracy precision recall f1 top1 top2 top3 top4 top5
      detection, segmentation: mAP50 mAP50_11pt precision recall f1 threshold iou_threshold,
        and the COCO numbers as coco.AP coco.AP50 coco.AP75 coco.APs ... coco.ARl

    \b
    Examples:
      evalsite check reports/shapes --require "mAP50>=0.6" --require "recall>=0.8"
      evalsite check new/report.json --baseline shipped/report.json --max-drop "mAP50=0.01" --json
    Exit status: 0 every rule holds; 1 a rule fails; 2 bad rules, arguments or inputs (one line on
    stderr). An unexpected failure of evalsite itself also exits non-zero (1, with an error on stderr),
    never 0.
    """
    from evalsite.commands.check import FAILED, run_check

    text, passed = run_check(report, list(requires), list(max_drops), baseline, as_json)
    click.echo(text, nl=False)
    if not passed:
        sys.exit(FAILED)


@main.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output root: the comparison site goes to OUT/<name>/ and the task overview is refreshed.")
@click.option("--images", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The evaluation images (default: the images root recorded in BASE's report, when it exists).")
@click.option("--name", default=None,
              help="Folder name of the comparison (default: '<group> <candidate model> vs <base model>').")
@click.option("--no-overview", is_flag=True, help="Do not refresh the task overview in OUT.")
@LANG_OPTION
@QUIET_OPTION
@guarded
def compare(base, candidate, out, images, name, no_overview, lang, quiet):
    """Compare two models on the same evaluation set: a site with the differences and their intervals.

    BASE (e.g. the model you ship) and CANDIDATE are built report folders (OUT/<task name>/) or
    report.json files of the same task type, images and labels. Headline metrics get a paired bootstrap
    95% interval of the change (1,000 resamples of the images, seeded) and a verdict (better, worse,
    within noise); galleries show the images the candidate fixed and broke, with both models' results.

    
    Examples:
      evalsite compare reports/shapes-v1 reports/shapes-v2 -o reports
      evalsite compare old/report.json new/report.json -o cmp --images data/images --lang en
    """
    from evalsite.commands.compare import run_compare

    run_compare(base, candidate, out, Console(quiet), click.echo, images=images, name=name, language=lang,
                overview=not no_overview)


@main.command()
@click.argument("site", type=click.Path(path_type=Path))
@click.option("--images", required=True, type=click.Path(path_type=Path),
              help="Folder of new images to try the model on (searched recursively; no ground truth needed).")
@click.option("--predictions", type=click.Path(path_type=Path), default=None,
              help="JSONL file of the model's predictions on the new images, in the report's prediction schema "
                   "(see Inputs and formats in the docs), matched by path below --images or by file name.")
@click.option("--predictor", default=None, metavar="MODULE:FUNCTION",
              help="Your Python callable (image path -> one JSONL record, as a dict or JSON string), e.g. "
                   "mypkg.infer:predict; run in a separate process, importable from the current folder or "
                   "PYTHONPATH.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds each image may take with --predictor; a slower image is reported as timed out "
                   "(the predictor process is restarted for the next one).")
@click.option("--report-images", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The evaluation images of the report, to rebuild its pages (default: the images root "
                   "recorded in report.json, when it exists).")
@LANG_OPTION
@QUIET_OPTION
@guarded
def verify(site, images, predictions, predictor, timeout, report_images, lang, quiet):
    """Try the report's model on new images: adds a Verification page to the report site SITE.

    SITE is a built report folder (OUT/<task name>/). Give the predictions on the images in --images either
    as a file (--predictions) or as your own predictor (--predictor). Each image is shown with its
    predictions (detection: the boxes at the report's threshold t*; classification: the top-1 label), with
    a summary table. An image the predictor fails on (exception, output breaking the schema, timeout) is
    listed on the page with its problem; the others are still shown, and the status is 0. SITE is rebuilt
    with the extra page; the results are also in SITE/verification.json. A later `evalsite build` of the
    task replaces the site without the page.

    \b
    Examples:
      evalsite verify reports/shapes --images new-photos --predictions new-preds.jsonl
      evalsite verify reports/shapes --images new-photos --predictor mypkg.infer:predict --timeout 10
      EVALSITE_DIGITS_MODEL=demo/inputs/digits/model.pkl \\
        evalsite verify demo/digits --images new-digits --predictor evalsite.demo.predictor:predict_digits
    Exit status: 0 the page was added (even if some images failed: they are on the page); 2 bad input
    (no report, malformed predictions file, predictor that cannot be imported).
    """
    from evalsite.commands.verify import run_verify

    page = run_verify(site, images, predictions, predictor, timeout, report_images, lang, Console(quiet))
    click.echo(str(page))


@main.command()
@click.argument("root", type=click.Path(path_type=Path, file_okay=False))
@click.option("--lang", type=click.Choice(LANGUAGES), default="zh", show_default=True,
              help="Language of the overview pages.")
@QUIET_OPTION
@guarded
def overview(root, lang, quiet):
    """Build the task overview of every report under ROOT (ROOT/<task>/report.json).

    Writes ROOT/overview/ and ROOT/index.html, which opens it.

    \b
    Example:
      evalsite overview reports --lang en
    """
    from evalsite.commands.overview import run_overview

    click.echo(str(run_overview(root, lang, Console(quiet))))


@main.command()
@click.argument("site", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), default=None,
              help="The zip file to write (default: SITE.zip beside the SITE folder). Replaces an earlier zip.")
@QUIET_OPTION
@guarded
def archive(site, out, quiet):
    """Write a built site as one reproducible zip that opens offline after unzipping.

    SITE is a report folder (OUT/<task name>; the zip holds <task name>/index.html and the rest) or an
    output root (OUT: its index.html, the overview and every report, in one zip). The overview folder alone
    is refused: its links lead to the reports beside it. The same site gives the same bytes (entries sorted,
    dated SOURCE_DATE_EPOCH or else 1980-01-01). Prints the zip's path.

    \b
    Examples:
      evalsite archive reports/digits                 # reports/digits.zip
      evalsite archive reports -o review-2024-06.zip  # every report and the overview
    """
    from evalsite.commands.archive import run_archive

    click.echo(str(run_archive(site, out, Console(quiet))))


@main.command()
@click.option("-o", "--out", "out", default=Path("evalsite-demo"), show_default=True,
              type=click.Path(path_type=Path),
              help="Output root: the demo's inputs go to OUT/inputs, each report to OUT/<task>/.")
@LANG_OPTION
@QUIET_OPTION
@guarded
def demo(out, lang, quiet):
    """Train small real models and build their reports, a model comparison and the overview.

    digits (classification, models v1 and v2 on scikit-learn's digits, compared: OUT/"digits v2 vs v1"),
    shapes (object detection) and shapes-masks (instance segmentation) on generated scenes. Everything
    is local: nothing is downloaded. Prints the path of index.html to open.

    \b
    Example:
      evalsite demo -o demo --lang en
    """
    from evalsite.commands.demo import run_demo

    click.echo(str(run_demo(out, lang or "zh", Console(quiet))))


@main.command()
@click.argument("site", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (1 to 65535).")
@guarded
def serve(site, port):
    """Preview a built site (a report or an output root) at http://127.0.0.1:PORT/ until Ctrl-C.

    The sites also open directly from disk (file://); this is only for a preview over HTTP.

    \b
    Example:
      evalsite serve reports
    """
    from evalsite.commands.serve import run_serve

    run_serve(site, port, Console())


def run() -> None:
    """The `evalsite` program (and `python -m evalsite`): `main`, and after a success the process ends at
    once instead of finalising its modules one by one (numpy's, scipy's and the rest take about 0.05 s, as
    long as some whole steps of `evaluate`): the output streams flushed, the exit handlers run, every file
    already closed by the command. A failure, or threads still running, exits the usual way."""
    try:
        main()
    except SystemExit as exc:
        if exc.code not in (None, 0) or threading.active_count() > 1:
            raise
    atexit._run_exitfuncs()  # what the interpreter's own exit would run (none is registered by evalsite)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(0) from None  # a closed or broken stream: reported as the interpreter reports it
    os._exit(0)

