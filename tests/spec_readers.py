"""The readers called with a TaskSpec, as the reader tests were written: the spec turned into the readers'
plain arguments by the same function the evaluate command uses."""

from __future__ import annotations

from evalsite.commands.evaluate import reader_arguments
from evalsite.core.classification_data import ClassificationInputs
from evalsite.core.detection_data import DetectionData
from evalsite.formats import classification, detection
from evalsite.manifest import TaskSpec


def read_detection(spec: TaskSpec, *, clip: bool = True) -> DetectionData:
    return detection.read_detection(**reader_arguments(spec), task_type=spec.type, clip=clip)


def read_classification(spec: TaskSpec) -> ClassificationInputs:
    return classification.read_classification(**reader_arguments(spec))
