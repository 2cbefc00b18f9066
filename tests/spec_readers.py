"""The readers called with a TaskSpec, as the reader tests were written: the spec turned into the readers'
plain arguments, as the pipeline does."""

from __future__ import annotations

from evalsite.core.classification_data import ClassificationInputs
from evalsite.core.detection_data import DetectionData
from evalsite.formats import classification, detection
from evalsite.manifest import TaskSpec


def _arguments(spec: TaskSpec) -> dict:
    return dict(ground_truth=spec.ground_truth.path, gt_format=spec.ground_truth.format,
                predictions=spec.predictions.path, pred_format=spec.predictions.format, images_root=spec.images,
                labels=spec.labels, labels_file=spec.labels_file, manifest=spec.source)


def read_detection(spec: TaskSpec, *, clip: bool = True) -> DetectionData:
    return detection.read_detection(**_arguments(spec), task_type=spec.type, clip=clip)


def read_classification(spec: TaskSpec) -> ClassificationInputs:
    return classification.read_classification(**_arguments(spec))
