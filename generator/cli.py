"""The `evalsite` command.

Exit status: 0 success; 1 an unexpected failure (a bug: please report it); 2 bad input or bad usage
(the message names the file, the record and the problem). Nothing is written when the status is not 0.
"""

from __future__ import annotations

import functools
import http.server
import sys
from pathlib import Path

import click

from evalsite import __version__
from evalsite.core.errors import BuildError, InputError
from evalsite.manifest import LANGUAGES, TaskSpec, load_manifest, spec_from_dict
from evalsite.core.progress import Console

EXIT_INPUT = 2
_MAX_WARNINGS = 20

LANG_OPTION = click.option(
    "--lang", type=click.Choice(LANGUAGES), default=None,
    help="Language of the pages: zh (Chinese, the default) or en. Overrides the manifest's `language`.")
QUIET_OPTION = click.option("--quiet", "-q", is_flag=True, help="No progress output (warnings and errors still go to stderr).")


def _fail(message: str, status: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def guarded(command):
    """Turn input errors into one line on stderr and exit status 2; anything else into status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            _fail(exc.one_line(), EXIT_INPUT)
        except BuildError as exc:
            _fail(f"the site did not build (a bug in evalsite {__version__}): {exc}", 1)
        except KeyboardInterrupt:
            _fail("interrupted; nothing was written", 130)
        except OSError as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}", 1)

    return wrapper


def _report_notices(console: Console, notices) -> None:
    for notice in notices[:_MAX_WARNINGS]:
        console.warn(notice.one_line())
    if len(notices) > _MAX_WARNINGS:
        console.warn(f"... and {len(notices) - _MAX_WARNINGS} more (all listed on the Data & method page)")


def _specs(manifests: tuple[Path, ...], lang: str | None, fields: dict) -> list[TaskSpec]:
    given = {k: v for k, v in fields.items() if v is not None}
    if manifests and given:
        raise click.UsageError("give either manifest files or the --name/--type/... options, not both")
    if manifests:
        return [load_manifest(path, lang) for path in manifests]
    missing = [f"--{k.replace('_', '-')}" for k in ("name", "images", "ground_truth", "predictions")
               if k not in given]
    if missing:
        raise click.UsageError(f"give a manifest file, or all of {', '.join(missing)}")
    data = {"name": given["name"], "type": given.get("type", "classification"), "images": str(given["images"]),
            "ground_truth": {"path": str(given["ground_truth"]), "format": given.get("gt_format")},
            "predictions": {"path": str(given["predictions"]), "format": given.get("pred_format")}}
    if "labels" in given:
        data["labels"] = str(given["labels"])
    return [spec_from_dict(data, Path.cwd(), None, lang)]


def _task_fields(command):
    options = [
        click.option("--name", help="Task name (title of the report and its folder name), instead of a manifest."),
        click.option("--type", "type_", type=click.Choice(["classification", "detection", "segmentation"]),
                     default=None, help="Task type (default classification)."),
        click.option("--images", type=click.Path(path_type=Path), help="Folder that image paths are relative to."),
        click.option("--ground-truth", type=click.Path(path_type=Path), help="Ground-truth file or class-folder root."),
        click.option("--gt-format", type=click.Choice(["csv", "jsonl", "folders"]), default=None,
                     help="Ground-truth format (default: from the file name)."),
        click.option("--predictions", type=click.Path(path_type=Path), help="Predictions file."),
        click.option("--pred-format", type=click.Choice(["csv", "jsonl"]), default=None,
                     help="Predictions format (default: from the file name)."),
        click.option("--labels", type=click.Path(path_type=Path), default=None,
                     help="Optional labels file, one name per line, in the order that breaks score ties."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _fields(kwargs: dict) -> dict:
    keys = ("name", "type_", "images", "ground_truth", "gt_format", "predictions", "pred_format", "labels")
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
@LANG_OPTION
@QUIET_OPTION
@guarded
def build(manifests, out, no_overview, archive, lang, quiet, **kwargs):
    """Build the report site of one or more tasks.

    MANIFESTS are task.yaml files (see the README); instead of one, the same fields can be given as
    options.

    \b
    Examples:
      evalsite build task.yaml -o reports
      evalsite build a.yaml b.yaml -o reports --lang en
      evalsite build -o reports --name digits --images imgs --ground-truth gt.csv --predictions scores.csv
      evalsite build task.yaml -o reports --archive   # also reports/<name>.zip
    """
    from evalsite.pipeline import build_report_site, evaluate
    from evalsite.site.overview import build_overview

    console = Console(quiet)
    specs = _specs(manifests, lang, _fields(kwargs))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"two manifests use the same task name: {sorted({n for n in names if names.count(n) > 1})}")
    if archive:
        from evalsite.site.archive import check_target

        for name in names:
            check_target(out / name, out / f"{name}.zip")
    reports = []
    for spec in specs:  # evaluate everything first: bad input anywhere writes nothing
        console.step(f"evaluating {spec.name}")
        report = evaluate(spec, console.progress)
        _report_notices(console, report.notices)
        reports.append((spec, report))
    for spec, report in reports:
        console.step(f"building the site of {spec.name}")
        site = build_report_site(report, spec.images, out / spec.name, console.progress)
        click.echo(str((site / "index.html").resolve()))
    if not no_overview:
        index, _, notices = build_overview(out, lang or specs[0].language)
        _report_notices(console, notices)
        click.echo(str(index))
    if archive:
        from evalsite.site.archive import archive_site

        for spec in specs:
            click.echo(str(archive_site(out / spec.name)))


@main.command()
@click.argument("manifest", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Where to write report.json ('-' for standard output).")
@click.option("--no-intervals", is_flag=True,
              help="Leave out the 95% bootstrap intervals (report.json `intervals` null): about 0.5 s less at "
                   "5,000 COCO images. The site (`build`) always has them.")
@_task_fields
@LANG_OPTION
@QUIET_OPTION
@guarded
def evaluate(manifest, out, no_intervals, lang, quiet, **kwargs):
    """Compute the metrics only and write report.json (no site): for pipelines and benchmarks.

    \b
    Examples:
      evalsite evaluate task.yaml -o report.json
      evalsite evaluate task.yaml -o - --no-intervals | jq .metrics
    """
    from evalsite.pipeline import evaluate as run
    from evalsite.report.model import to_json

    console = Console(quiet)
    (spec,) = _specs((manifest,) if manifest else (), lang, _fields(kwargs))
    report = run(spec, console.progress, intervals=not no_intervals)
    _report_notices(console, report.notices)
    text = to_json(report)
    if str(out) == "-":
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    console.step(f"wrote {out}")


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
    import json

    from evalsite import gate
    from evalsite.report.load import check_same_evaluation, load_report

    rules = [gate.parse_require(text) for text in requires] + [gate.parse_max_drop(text) for text in max_drops]
    if not rules:
        raise InputError("no rules: give at least one --require \"NAME OP VALUE\" or --max-drop \"NAME=VALUE\"")
    if max_drops and baseline is None:
        raise InputError(f"{rules[len(requires)].option} needs --baseline (the report to compare with)")
    loaded, _ = load_report(report)
    gate.check_metric_names(rules, loaded.task.type)
    base_metrics = None
    if baseline is not None:
        base, _ = load_report(baseline)
        check_same_evaluation(base, loaded, baseline, report)
        base_metrics = base.metrics
    outcomes = gate.evaluate_rules(rules, loaded.metrics, base_metrics)
    if as_json:
        data = gate.as_dict(outcomes, str(report), str(baseline) if baseline is not None else None, loaded.task.type)
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(gate.as_table(outcomes, baseline is not None), nl=False)
    if not all(o.passed for o in outcomes):
        sys.exit(1)


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
    import json

    from evalsite.pipeline import build_comparison_site
    from evalsite.site.overview import build_overview

    console = Console(quiet)
    console.step("comparing")
    site = build_comparison_site(base, candidate, out, images=images, name=name, language=lang,
                                 progress=console.progress)
    click.echo(str((site / "index.html").resolve()))
    if not no_overview:
        language = lang or json.loads((site / "compare.json").read_text(encoding="utf-8"))["language"]
        index, _, notices = build_overview(out, language)
        _report_notices(console, notices)
        click.echo(str(index))


@main.command()
@click.argument("site", type=click.Path(path_type=Path))
@click.option("--images", required=True, type=click.Path(path_type=Path),
              help="Folder of new images to try the model on (searched recursively; no ground truth needed).")
@click.option("--predictions", type=click.Path(path_type=Path), default=None,
              help="JSONL file of the model's predictions on the new images, in the report's prediction schema "
                   "(DESIGN.md §2), matched by path below --images or by file name.")
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
        evalsite verify demo/digits --images new-digits --predictor evalsite.demo_predictor:predict_digits
    Exit status: 0 the page was added (even if some images failed: they are on the page); 2 bad input
    (no report, malformed predictions file, predictor that cannot be imported).
    """
    from evalsite.verify import run_verify

    console = Console(quiet)
    console.step("checking the new images")
    site, totals = run_verify(site, images, predictions, predictor, timeout, report_images, lang,
                              console.progress, console.warn)
    console.step(f"{totals['images']} image(s): {totals['ok']} predicted, {totals['error']} error(s), "
                 f"{totals['timeout']} timed out")
    click.echo(str((site / "verification.html").resolve()))


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
    from evalsite.site.overview import build_overview

    if not root.is_dir():
        raise InputError("folder not found", root)
    index, entries, notices = build_overview(root, lang)
    _report_notices(Console(quiet), notices)
    Console(quiet).step(f"{len(entries)} task(s) listed")
    click.echo(str(index))


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
    from evalsite.site.archive import archive_site

    target = archive_site(site, out)
    Console(quiet).step(f"archived {site} ({target.stat().st_size / 1e6:.1f} MB)")
    click.echo(str(target))


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
    from evalsite.demo import run_demo

    index = run_demo(out, lang or "zh", Console(quiet))
    click.echo(str(index))


@main.command()
@click.argument("site", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
def serve(site, port):
    """Preview a built site (a report or an output root) at http://127.0.0.1:PORT/ until Ctrl-C.

    The sites also open directly from disk (file://); this is only for a preview over HTTP.

    \b
    Example:
      evalsite serve reports
    """
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", EXIT_INPUT)
    click.echo(f"serving {site.resolve()} at http://127.0.0.1:{port}/ (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
