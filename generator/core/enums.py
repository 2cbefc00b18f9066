"""The fixed value sets of evalsite's data: task types, image states, error kinds and types, ratings,
verdicts... (report.json, compare.json and the manifest; documented in docs/report-json.md).

StrEnums: a member is its string (`TaskType.DETECTION == "detection"`), so it serialises as that string
(orjson, json, csv, Jinja2, f-strings) and compares equal to it; report.json is the same as with plain strings.
Two things differ from a plain string: ``repr()`` names the member, and a member is not accepted as a key
by orjson (write ``member.value`` for dict keys).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BoxKind", "ErrorKind", "ErrorType", "FALSE_POSITIVE_TYPES", "ImageMatching", "ImageStatus", "InputRole",
    "LabelMatching", "LabelSource", "MISSED_TYPES", "PredictionKind", "Rating", "SuspectReason", "TaskType",
    "Verdict",
]


class TaskType(StrEnum):
    """The `type` of a task (manifest) and of its report (report.json `task.type`)."""

    CLASSIFICATION = "classification"
    DETECTION = "detection"
    SEGMENTATION = "segmentation"

    @property
    def is_detection(self) -> bool:
        """Detection or segmentation: objects (boxes or masks) rather than one label per image; their reports
        share one form (evalsite.report.detection_model.DetectionReport)."""
        return self is not TaskType.CLASSIFICATION


class ImageStatus(StrEnum):
    """Whether an evaluation image could be read (report.json `images[].status`)."""

    OK = "ok"
    MISSING = "missing"  # image file not found
    UNREADABLE = "unreadable"  # corrupt, truncated or not an image


class Rating(StrEnum):
    """The basic conclusion's rating of the headline metric (report.json `findings.rating`)."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class ErrorKind(StrEnum):
    """The kind of a detection error (report.json `errors[].kind`)."""

    FALSE_POSITIVE = "false_positive"  # 误识别
    MISSED = "missed"  # 漏识别


class ErrorType(StrEnum):
    """The type of a detection error (report.json `errors[].type`; evalsite.metrics.detection says when each
    applies), in the order the pages list them. A false positive is one of FALSE_POSITIVE_TYPES, a missed
    object one of MISSED_TYPES; three types occur for both."""

    BACKGROUND = "background"
    WRONG_LABEL = "wrong_label"
    LOCALISATION = "localisation"
    LABEL_AND_LOCALISATION = "label_and_localisation"
    DUPLICATE = "duplicate"
    MASK_QUALITY = "mask_quality"  # segmentation only
    BELOW_THRESHOLD = "below_threshold"
    NO_DETECTION = "no_detection"


FALSE_POSITIVE_TYPES = (ErrorType.DUPLICATE, ErrorType.WRONG_LABEL, ErrorType.MASK_QUALITY, ErrorType.LOCALISATION,
                        ErrorType.LABEL_AND_LOCALISATION, ErrorType.BACKGROUND)
MISSED_TYPES = (ErrorType.WRONG_LABEL, ErrorType.BELOW_THRESHOLD, ErrorType.MASK_QUALITY, ErrorType.LOCALISATION,
                ErrorType.NO_DETECTION)


class BoxKind(StrEnum):
    """What a drawn object of an image is, at the report's threshold (report.json `images[].boxes.kinds`)."""

    CORRECT = "correct"  # a prediction that matches a ground-truth object
    FALSE_POSITIVE = "false_positive"
    GROUND_TRUTH = "ground_truth"  # a ground-truth object that a prediction matches
    MISSED = "missed"


class SuspectReason(StrEnum):
    """Why an error looks like an annotation mistake (report.json `errors[].suspect`; the rules are in
    evalsite.metrics.label_errors), in the order the pages list them."""

    CONFIDENT_OTHER_LABEL = "confident_other_label"  # classification
    MISSING_ANNOTATION = "missing_annotation"  # detection and segmentation, from here on
    SWAPPED_LABEL = "swapped_label"
    SPURIOUS_ANNOTATION = "spurious_annotation"


class Verdict(StrEnum):
    """How a headline metric changed between two models (compare.json `headline[].verdict`)."""

    BETTER = "better"  # the paired 95% interval of the difference is above 0
    WORSE = "worse"  # ... below 0
    WITHIN_NOISE = "within_noise"  # ... holds 0
    UNDEFINED = "undefined"  # a side has no value
    NOT_RESAMPLED = "not_resampled"  # no interval: a report without the evidence to resample it


class LabelSource(StrEnum):
    """Where a report's label list came from (report.json `task.label_source`)."""

    DECLARED = "declared"  # the manifest's labels or labels file
    SCORE_COLUMNS = "score columns"  # classification: the columns of the score table
    DATA = "data"  # classification: the labels found in the ground truth and the predictions
    CLASS_LIST = "class list"  # classification: a classes.txt found beside the inputs (formats.class_list)
    CATEGORIES = "categories"  # detection: the ground truth's categories


class PredictionKind(StrEnum):
    """What the predictions are (report.json `task.prediction_kind`)."""

    SCORES = "scores"  # classification: a score for every label
    TOPK = "topk"  # classification: the k best labels with their scores
    BOXES = "boxes"  # detection
    MASKS = "masks"  # segmentation


class InputRole(StrEnum):
    """What an input file of a report is (report.json `task.inputs[].role`)."""

    GROUND_TRUTH = "ground_truth"
    PREDICTIONS = "predictions"
    LABELS = "labels"
    SPLIT = "split"  # the list of the images evaluated (manifest `split`)
    LABEL_NAMES = "label_names"  # the display-name map (manifest `label_names`)


class ImageMatching(StrEnum):
    """How detection predictions found their images (report.json `task.image_matching`)."""

    ID = "id"
    FILE_NAME = "file name"


class LabelMatching(StrEnum):
    """How detection predictions found their labels (report.json `task.label_matching`)."""

    ID = "id"
    NAME = "name"
