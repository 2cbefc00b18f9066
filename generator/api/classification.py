"""`evalsite.ClassificationEvaluator`: a classification report from arrays, one batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsite.api.arrays import as_array, check_labels, check_task, image_names, label_indices, task_info
from evalsite.core.classification_data import ClassificationInputs
from evalsite.core.enums import LabelSource, PredictionKind, TaskType
from evalsite.core.errors import InputError
from evalsite.core.image_info import ImageInfo
from evalsite.report.model import Report

__all__ = ["ClassificationEvaluator"]


class ClassificationEvaluator:
    """Accumulate a classification evaluation batch by batch, then build its report.

    The report is built by the same code as ``evalsite evaluate`` from files (the same
    :class:`~evalsite.core.classification_data.ClassificationInputs` go to the same report builder), so the
    numbers are those of the command line for the same data.

    Parameters
    ----------
    labels : sequence of str, or dict of int to str
        The label names, in index order (or a dict ``{index: name}``, as Ultralytics' ``model.names``):
        label index ``i`` in ``y_true`` and column ``i`` of ``scores`` is ``labels[i]``. The order also breaks
        score ties (the first label wins), as in the CLI.
    name : str, default "evaluation"
        The task name (the report's title and its site folder name).
    images_root : str or os.PathLike, optional
        The folder the image paths are relative to. When given, ``compute`` checks every image file (a
        missing or unreadable one is a notice, as in the CLI) and the report records the folder, so that
        :func:`evalsite.build_site` finds the pictures. When left out, the images are not looked at.
    language : {"zh", "en"}, default "zh"
        The language of the report's pages (as the manifest's ``language``).

    Examples
    --------
    >>> import numpy as np
    >>> import evalsite
    >>> ev = evalsite.ClassificationEvaluator(["cat", "dog", "fox"], language="en")
    >>> ev.update(["a.png", "b.png"], ["cat", "fox"], np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    >>> report = ev.compute()
    >>> report.metrics["accuracy"]
    1.0
    """

    def __init__(self, labels: Sequence[str], *, name: str = "evaluation",
                 images_root: str | Path | None = None, language: str = "zh") -> None:
        self.labels = check_labels(labels)
        check_task(name, language)
        self._index = {label: i for i, label in enumerate(self.labels)}
        self.name, self.language = name, language
        self.images_root = Path(images_root) if images_root is not None else None
        self._images: list[str] = []
        self._seen: dict[str, str] = {}
        self._true: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._topk: list[list[list[tuple[int, float]]]] = []
        self._kind: str | None = None
        self._calls = 0

    def update(self, images: Sequence[str | Path | int], y_true: Any, scores: Any) -> None:
        """Add one batch.

        Parameters
        ----------
        images : sequence of str, os.PathLike or int
            One image path per item (relative to ``images_root``; an int is taken as the name ``str(i)``).
            An image may be given only once in the whole evaluation.
        y_true : sequence of str or int, or array of int
            The true label of each image: a label name, or an index into ``labels``.
        scores : array of shape (n, k), or list of top-k lists
            Either every label's score: an array (or tensor) of ``n`` rows and ``k = len(labels)`` columns in
            label order (logits, probabilities or any scores: higher is more likely; all finite), or, per
            image, a ranked list ``[(label, score), ...]`` best first (label a name or an index; a label at
            most once per list; the list may be shorter than ``k``, even empty, and is taken in the order
            given). All batches of one evaluator must use the same form.

        Raises
        ------
        evalsite.InputError
            On the first problem, in one line: lengths that differ, a score array of the wrong shape, a NaN
            or infinite score, an unknown label or an index out of range, an image given twice.
        """
        self._calls += 1
        where = f"update call {self._calls}"
        names = image_names(images, self.images_root, where, dict(self._seen))
        n = len(names)
        truth = label_indices(list(y_true) if isinstance(y_true, tuple) else y_true, self.labels, self._index,
                              where, "y_true")
        if len(truth) != n:
            raise InputError(f"'y_true' has {len(truth)} entries, but 'images' has {n}", where)
        kind, value = self._read_scores(scores, n, where)
        if self._kind is not None and kind != self._kind:
            raise InputError(f"'scores' is {'a score array' if kind == 'scores' else 'top-k lists'} here, but "
                             f"earlier batches gave {'a score array' if self._kind == 'scores' else 'top-k lists'}; "
                             "use one form for the whole evaluation", where)
        self._kind = kind
        for k, name in enumerate(names):
            self._seen[name] = f"{where}, image {k}"
        self._images += names
        self._true.append(truth)
        if kind == "scores":
            self._scores.append(value)
        else:
            self._topk.append(value)

    def _read_scores(self, scores: Any, n: int, where: str) -> tuple[str, Any]:
        # top-k lists: a list of lists whose entries are pairs (an empty list too); else one score row each
        if isinstance(scores, (list, tuple)) and all(isinstance(s, (list, tuple)) for s in scores) \
                and any(len(s) == 0 or isinstance(s[0], (list, tuple)) for s in scores):
            return "topk", self._read_topk(list(scores), n, where)
        array = as_array(scores, where, "scores")
        k = len(self.labels)
        if array.ndim != 2 or array.shape[0] != n or array.shape[1] != k:
            raise InputError(f"'scores' must be an array of shape ({n}, {k}) (one row per image, one column per "
                             f"label) or a list of top-k lists, found shape {tuple(array.shape)}", where)
        if array.dtype.kind not in "biuf":
            raise InputError(f"'scores' must hold numbers, found dtype {array.dtype}", where)
        array = array.astype(np.float64)
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            row, col = (int(v) for v in bad[0])
            raise InputError(f"NaN or infinite score {float(array[row, col])!r} (row {row}, label "
                             f"{self.labels[col]!r})", where)
        return "scores", array

    def _read_topk(self, scores: list, n: int, where: str) -> list[list[tuple[int, float]]]:
        if len(scores) != n:
            raise InputError(f"'scores' has {len(scores)} top-k lists, but 'images' has {n}", where)
        ranked_all = []
        for row, entries in enumerate(scores):
            ranked: list[tuple[int, float]] = []
            for j, entry in enumerate(entries):
                if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                    raise InputError(f"top-k entry {j} of image {row} must be (label, score), found {entry!r}", where)
                label = label_indices([entry[0]] if isinstance(entry[0], str) else np.array([entry[0]]),
                                      self.labels, self._index, where, f"scores[{row}][{j}]")[0]
                try:
                    score = float(entry[1])
                except (TypeError, ValueError):
                    raise InputError(f"top-k entry {j} of image {row}: the score must be a number, found "
                                     f"{entry[1]!r}", where) from None
                if not np.isfinite(score):
                    raise InputError(f"top-k entry {j} of image {row}: NaN or infinite score {score!r}", where)
                ranked.append((int(label), score))
            if len({label for label, _ in ranked}) != len(ranked):
                raise InputError(f"a label appears twice in the top-k list of image {row}", where)
            ranked_all.append(ranked)
        return ranked_all

    def inputs(self) -> ClassificationInputs:
        """The accumulated batches as the core type the report builder takes.

        Returns
        -------
        ClassificationInputs
            Images in update order; ``scores`` (n x k) or ``topk_labels`` / ``topk_scores`` (n x K, -1 / NaN
            padding).
        """
        if not self._images:
            raise InputError("nothing to evaluate: call update() with at least one image first")
        n = len(self._images)
        result = ClassificationInputs(labels=list(self.labels), label_source=LabelSource.DECLARED,
                                      images=list(self._images), y_true=np.concatenate(self._true),
                                      has_prediction=np.ones(n, dtype=bool))
        if self._kind == "scores":
            result.scores = np.concatenate(self._scores)
        else:
            rows = [ranked for batch in self._topk for ranked in batch]
            width = max(1, max(len(r) for r in rows))
            result.topk_labels = np.full((n, width), -1, dtype=np.int64)
            result.topk_scores = np.full((n, width), np.nan)
            for i, ranked in enumerate(rows):
                for j, (label, score) in enumerate(ranked):
                    result.topk_labels[i, j], result.topk_scores[i, j] = label, score
        return result

    def compute(self, *, intervals: bool = True) -> Report:
        """The report of everything added so far (the evaluator can go on accumulating).

        Parameters
        ----------
        intervals : bool, default True
            Compute the 95% bootstrap intervals of the headline metrics (``report.intervals``).

        Returns
        -------
        Report
            A classification report: ``report.metrics["accuracy"]``, ``report.per_label``,
            ``report.confusion``...; ``report.to_json(path)`` writes report.json.
        """
        from evalsite.api.functions import built_report

        inputs = self.inputs()
        task = task_info(self.name, TaskType.CLASSIFICATION, self.language, self.images_root, inputs.label_source,
                         PredictionKind.SCORES if inputs.scores is not None else PredictionKind.TOPK)
        return built_report(inputs, task, self.images_root, lambda n: [ImageInfo("ok")] * n, intervals)
