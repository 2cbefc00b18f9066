"""`evalsite evaluate`, and the first half of `evalsite build`: read a task's inputs, check its images and
compute its report (no files written, except report.json by `evalsite evaluate`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import glob
import hashlib
import os
from pathlib import Path

from evalsite import __version__
from evalsite.commands.common import Progress, report_notices, silent
from evalsite.core.cluster import current, on_cluster
from evalsite.core.collector import gc_paused
from evalsite.core.detection_data import heavy_columns_on_disk
from evalsite.core.enums import ImageStatus, InputRole, LabelSource, PredictionKind, TaskType
from evalsite.core.errors import InputError, Notice
from evalsite.core.progress import Console
from evalsite.formats.images import inspect_images, size_notices
from evalsite.formats.misreads import check_missing_images
from evalsite.formats.shards import PATTERN_CHARACTERS, is_pattern
from evalsite.formats.split import apply_split, resolve_split
from evalsite.manifest import TaskSpec
from evalsite.report.kinds import task_kind
from evalsite.report.model import InputFile, Report, TaskInfo, to_json_bytes, write_json

# Each stage's heavy libraries (scikit-learn, matplotlib, MkDocs) are imported where the stage runs, so that
# `evalsite evaluate` of a detection task starts fast: start-up is a visible share of its time.


def reader_arguments(spec: TaskSpec) -> dict:
    """A manifest's task as the readers' plain arguments (the readers never see the manifest)."""
    return dict(ground_truth=spec.ground_truth.path, gt_format=spec.ground_truth.format,
                predictions=spec.predictions.path, pred_format=spec.predictions.format, images_root=spec.images,
                labels=spec.labels, labels_file=spec.labels_file, manifest=spec.source)


def resolve_images(spec: TaskSpec) -> None:
    """A manifest without ``images:`` (an Ultralytics data.yaml as ground truth) gets the dataset's root."""
    if spec.images is None:
        from evalsite.formats.ultralytics import dataset_images_root

        spec.images = dataset_images_root(spec.ground_truth.path, spec.ground_truth.split)


def reader_formats(role: InputRole) -> tuple[str, ...]:
    """Every format the readers know for `role` (ground truth or predictions), classification's then detection's:
    what `format:` and the CLI's --gt-format / --pred-format accept (the reader of the task type checks it)."""
    from evalsite.formats import classification, detection

    if role is InputRole.GROUND_TRUTH:
        names = [*classification.GROUND_TRUTH_FORMATS, *detection.GROUND_TRUTH_FORMATS]
    else:
        names = [*classification.PREDICTION_FORMATS, *detection.PREDICTION_FORMATS]
    return tuple(dict.fromkeys(names))


def _sha256(path: Path, contents: bool = True) -> str:
    """SHA-256 of a file; of a folder (YOLO/VOC/PNG-mask folders), over every file's path and content in
    sorted order, or over the paths alone (`contents=False`: class folders, whose images are the data)."""
    digest = hashlib.sha256()
    if is_pattern(path):  # prediction shards (evalsite.formats.shards): their paths below the fixed part, contents
        text = str(path)
        root = Path(text[:min(text.find(c) for c in PATTERN_CHARACTERS if c in text)]).parent
        for file in sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()):
            digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\n" + _sha256(file).encode("ascii")
                          + b"\n")
        return digest.hexdigest()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\n")
            if contents:
                digest.update(_sha256(file).encode("ascii") + b"\n")
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shown_path(path: Path, base: Path) -> str:
    """A recorded path: relative to `base` (the manifest's folder; the current folder for an option-only
    build) when it lies below it, else absolute; resolved either way, so no `..` segment is kept."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def images_path(images: Path, report_dir: Path) -> str | None:
    """report.json's `images_path`: the images root relative to the folder report.json is written to (no
    machine folder names, so that builds stay reproducible; found from any working folder), None when
    there is no relative path (another drive)."""
    try:
        return Path(os.path.relpath(images.resolve(), report_dir.resolve())).as_posix()
    except ValueError:
        return None


def evaluation_date() -> str:
    """Today (UTC), or the day of SOURCE_DATE_EPOCH when set, so that builds can be reproduced."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date().isoformat()
        except (ValueError, OverflowError, OSError):
            raise InputError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in seconds") from None
    return dt.datetime.now(dt.UTC).date().isoformat()


def _image_notices(spec: TaskSpec, images: list[str], infos) -> list[Notice]:
    return [Notice(f"image_{info.status}", str(spec.images / image), None, info.problem or "")
            for image, info in zip(images, infos) if info.status != ImageStatus.OK]


def _task_info(spec: TaskSpec, inputs, label_source: LabelSource, prediction_kind: PredictionKind,
               **extra) -> TaskInfo:
    """The task part of report.json; `inputs` is what the readers returned: the formats they read
    (`gt_format`, `pred_format`) are recorded, not the manifest's (often absent) `format:`."""
    base = spec.source.resolve().parent if spec.source else Path.cwd()
    files = [(InputRole.GROUND_TRUTH, spec.ground_truth, inputs.gt_format),
             (InputRole.PREDICTIONS, spec.predictions, inputs.pred_format)]
    # Classification inputs are hashed by contents; detection's (often hundreds of MB) by name, size and time.
    by_contents = not spec.type.is_detection
    inputs_info = [InputFile(role, read or s.format or s.path.suffix.lstrip(".") or "folders",
                             _shown_path(s.path, base), _sha256(s.path, contents=by_contents))
                   for role, s, read in files]
    if spec.labels_file:
        inputs_info.append(InputFile(InputRole.LABELS, "txt", _shown_path(spec.labels_file, base),
                                     _sha256(spec.labels_file)))
    if spec.label_names_file and spec.label_names_file.is_file():
        inputs_info.append(InputFile(InputRole.LABEL_NAMES, spec.label_names_file.suffix.lstrip(".") or "txt",
                                     _shown_path(spec.label_names_file, base), _sha256(spec.label_names_file)))
    return TaskInfo(
        name=spec.name, type=spec.type, language=spec.language, evalsite_version=__version__,
        date=evaluation_date(), images_root=_shown_path(spec.images, base), inputs=inputs_info,
        label_source=label_source, prediction_kind=prediction_kind,
        small_set_threshold=spec.small_set_threshold, group=spec.group or spec.name, model=spec.model, **extra)


def evaluate(spec: TaskSpec, progress: Progress = silent, intervals: bool = True) -> Report:
    """Read the inputs, check the images and compute the report (no files written); `intervals=False`
    leaves out the bootstrap intervals (report.intervals None). The cyclic garbage collector is paused
    throughout (evalsite.core.collector), except with a Dask cluster, whose client's event loop runs here
    meanwhile and does make reference cycles."""
    with gc_paused() if current() is None else contextlib.nullcontext():
        report = _evaluate(spec, progress, intervals)
    if spec.metadata_file is not None:
        from evalsite.formats.traits import read_metadata

        report.metadata = read_metadata(spec.metadata_file, spec.images, [r.image for r in report.images])
    if spec.label_names_file is not None:
        from evalsite.formats.label_names import names_for

        report.dataset.label_names, more = names_for(report.dataset.labels, spec.label_names_file)
        report.notices.extend(more)
    return report


def _evaluate(spec: TaskSpec, progress: Progress, intervals: bool) -> Report:
    resolve_images(spec)
    assert spec.images is not None
    if not spec.images.is_dir():
        raise InputError("images root not found or not a folder", spec.images)
    split_file, image_set = resolve_split(spec.split, spec.ground_truth.path, spec.predictions.path,
                                          spec.predictions.format)
    kind = task_kind(spec.type)
    if spec.type.is_detection:
        from evalsite.formats.detection import read_detection

        inputs = read_detection(**reader_arguments(spec), task_type=spec.type, image_set=image_set,
                                gt_split=spec.ground_truth.split, split=split_file,
                                meanwhile=functools.partial(kind.prepare_report, intervals))
    else:
        from evalsite.formats.classification import read_classification

        inputs = read_classification(**reader_arguments(spec), split=split_file)
    if split_file is not None:
        inputs = apply_split(inputs, split_file, real_ids=getattr(inputs, "gt_format", "") == "coco")
    if spec.type.is_detection and current() is not None:
        # (the driver reads the detections' columns a block or a part at a time: docs/cluster.md, "Memory")
        inputs = heavy_columns_on_disk(inputs)
    started = kind.start_report(inputs, intervals)  # (detection: the COCO evaluation and the intervals)
    try:
        return _checked_report(spec, inputs, split_file, kind, started, progress, intervals)
    except BaseException:
        kind.cancel_report(started)
        raise


def _checked_report(spec: TaskSpec, inputs, split_file, kind, started, progress: Progress, intervals: bool) -> Report:
    """The images checked, the task's part of report.json, and the report (`_evaluate`)."""
    infos = inspect_images(spec.images, inputs.images, progress("checking images", len(inputs.images)))
    notices = list(inputs.notices) + _image_notices(spec, inputs.images, infos)
    if spec.type.is_detection:
        notices += size_notices(spec.images, inputs.images, inputs.widths, inputs.heights, infos,
                                str(spec.ground_truth.path))
    notices += check_missing_images(spec.images, inputs.images, [image for image, info in zip(inputs.images, infos)
                                                                 if info.status == ImageStatus.MISSING])
    if spec.type.is_detection:
        source = LabelSource.DECLARED if spec.labels or spec.labels_file else LabelSource.CATEGORIES
        task = _task_info(spec, inputs, source,
                          PredictionKind.MASKS if spec.type is TaskType.SEGMENTATION else PredictionKind.BOXES,
                          category_mapping=inputs.category_mapping,
                          image_matching=inputs.image_matching, label_matching=inputs.label_matching,
                          iou_threshold=spec.iou_threshold, annotation_url=spec.annotation_url)
    else:
        task = _task_info(spec, inputs, inputs.label_source,
                          PredictionKind.SCORES if inputs.scores is not None else PredictionKind.TOPK)
        if inputs.class_list_file is not None:  # a classes.txt found beside the inputs
            base = spec.source.resolve().parent if spec.source else Path.cwd()
            task.inputs.append(InputFile(InputRole.LABELS, "txt", _shown_path(inputs.class_list_file, base),
                                         _sha256(inputs.class_list_file)))
    if split_file is not None:
        base = spec.source.resolve().parent if spec.source else Path.cwd()
        task.inputs.append(InputFile(InputRole.SPLIT, "txt", _shown_path(split_file, base), _sha256(split_file)))
    return kind.build_report(inputs, infos, task, notices, intervals, started=started)


def run_evaluate(spec: TaskSpec, out: Path, console: Console, intervals: bool = True, scheduler: object = None,
                 shard_images: int | None = None) -> str | None:
    """`evalsite evaluate`: the report of `spec` written to `out` as report.json (atomically); when `out` is
    '-', nothing is written and report.json's text is returned, for the caller to print. `scheduler`: a
    Dask cluster for the per-image work (evalsite.core.cluster.on_cluster), `shard_images` images per task."""
    with on_cluster(scheduler, shard_images) as cluster:
        if cluster is not None:
            console.step(f"using the Dask cluster at {cluster.client.scheduler.address}")
        report = evaluate(spec, console.progress, intervals=intervals)
    report_notices(console, report.notices)
    if str(out) != "-":
        report.task.images_path = images_path(spec.images, out.parent)
    if str(out) == "-":
        return to_json_bytes(report).decode("utf-8")
    write_json(report, out)  # streamed: 1.3 GB at 200,000 images never held whole
    console.step(f"wrote {out}")
    return None
