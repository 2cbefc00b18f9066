"""The layouts of a classification prediction CSV, told from its header (docs/inputs.md, "Predictions").

* named score columns: `image,cat,dog,bird` (a score per label, the column is the label);
* index-named score columns: `image,logit_0,...,logit_9`, `prob_0...`, `score_0...` or bare `0,...,9`: a
  score per class index, mapped to names through the class list;
* top-k columns: `image,top1,...,top5,score1,...,score5` (also `top1_label`/`top1_score`, and timm's
  `--results-separate-col` layout `index_0...`/`label_0...` with `prob_0...`/`logit_0...`): the k best
  labels (names or class indices) and their scores, best first.

timm's default `filename,[index,]label,prob` (top-1: `label` is the predicted class there) is read as a
top-1 list. The image column is `image`, `path`, `filename`, `file_name`, `file`, `image_path` or `img`; an optional
`target` (or `label`) column holds the true label (a name or a class index) and is checked against the
ground truth. Other columns are an error, so that no column is silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from evalsite.core.errors import InputError, listing

IMAGE_COLUMNS = ("image", "path", "filename", "file_name", "file", "image_path", "img", "image_name")
TARGET_COLUMNS = ("target", "label", "true", "true_label", "gt", "y_true")
_INDEXED = re.compile(r"^(?:(logits?|probs?|probabilit(?:y|ies)|scores?|outputs?|p)_?)?(\d+)$", re.I)
_RANK_LABEL = re.compile(r"^(?:(?:top|pred|rank)_?(\d+)(?:_(?:label|class|index|idx|id|name))?"
                         r"|(?:index|idx|label|class|pred)_?(\d+))$", re.I)
_RANK_SCORE = re.compile(r"^(?:(?:score|prob|conf|confidence|logit|p)_?(\d+)"
                         r"|(?:top|pred|rank)_?(\d+)_(?:score|prob|conf|confidence|logit))$", re.I)
_TIMM_INDEX = re.compile(r"^(?:index|idx)_?(\d+)$", re.I)


@dataclass
class CsvLayout:
    """Which column is what. `kind`: "named" | "indexed" | "topk"."""

    kind: str
    image: int
    target: int | None = None
    scores: list[int] = field(default_factory=list)  # named/indexed: score columns (indexed: in class order)
    names: list[str] = field(default_factory=list)  # named: the labels of `scores`
    rank_labels: list[int] = field(default_factory=list)  # topk: label column of rank 1, 2, ...
    rank_scores: list[int] = field(default_factory=list)  # topk: score column of rank 1, 2, ...
    description: str = ""  # e.g. "logit_0..logit_9", for messages and notices


def _one(header: list[str], names: tuple[str, ...], what: str, path: Path) -> int | None:
    found = [i for i, h in enumerate(header) if h.lower() in names]
    if len(found) > 1:
        raise InputError(f"more than one {what} column: {listing([header[i] for i in found])}", path, "line 1")
    return found[0] if found else None


def _ranks(header: list[str], columns: list[int], pattern: re.Pattern) -> dict[int, int] | None:
    """rank number -> column when every column matches `pattern`, else None."""
    ranks: dict[int, int] = {}
    for i in columns:
        match = pattern.match(header[i])
        if not match:
            return None
        ranks[int(next(g for g in match.groups() if g is not None and g.isdigit()))] = i
    return ranks


def _consecutive(numbers: list[int]) -> bool:
    return bool(numbers) and sorted(numbers) == list(range(min(numbers), min(numbers) + len(numbers))) \
        and min(numbers) in (0, 1)


def _topk(header: list[str], rest: list[int], path: Path) -> CsvLayout | None:
    """The top-k layout of the columns `rest`, or None when they are not one."""
    score_cols = [i for i in rest if _RANK_SCORE.match(header[i])]
    label_cols = [i for i in rest if i not in score_cols]
    timm_index = [i for i in label_cols if _TIMM_INDEX.match(header[i])]
    if timm_index and len(timm_index) < len(label_cols):
        # timm --include-index writes index_i (class index) and label_i (its description): take the indices
        described = _ranks(header, [i for i in label_cols if i not in timm_index], _RANK_LABEL)
        if described is None:
            return None
        label_cols = timm_index
    labels = _ranks(header, label_cols, _RANK_LABEL) if label_cols else None
    scores = _ranks(header, score_cols, _RANK_SCORE) if score_cols else {}
    if not labels or scores is None:
        return None
    if not _consecutive(list(labels)):
        raise InputError(f"top-k label columns must be numbered 1, 2, ... (or 0, 1, ...) without gaps, found "
                         f"{listing([header[i] for i in label_cols])}", path, "line 1")
    if not scores:
        raise InputError(f"top-k columns {listing([header[i] for i in label_cols])} without score columns: add "
                         "score1, score2, ... (the score of each rank)", path, "line 1")
    if sorted(scores) != sorted(labels):
        raise InputError(f"the top-k score columns {listing([header[i] for i in score_cols])} do not match the "
                         f"label columns {listing([header[i] for i in label_cols])} rank for rank", path, "line 1")
    order = sorted(labels)
    first, last = labels[order[0]], labels[order[-1]]
    return CsvLayout("topk", image=-1, rank_labels=[labels[r] for r in order],
                     rank_scores=[scores[r] for r in order],
                     description=f"top-{len(order)} columns {header[first]}..{header[last]}")


FORCED = {"csv-scores": "named", "csv-index": "indexed", "csv-topk": "topk"}  # `format:` values forcing a layout


def _timm_top1(header: list[str], image: int) -> CsvLayout | None:
    """timm inference.py's default CSV (`--topk 1`, no `--results-separate-col`): `filename,[index,]label,prob`
    (or `logit`), where `label` is the PREDICTED class (its name or description) and `index` its class index."""
    lower = {h.lower(): i for i, h in enumerate(header) if i != image}
    if len(lower) != len(header) - 1 or not set(lower) <= {"index", "label", "prob", "logit"}:
        return None
    scores = [lower[k] for k in ("prob", "logit") if k in lower]
    label = lower.get("index", lower.get("label"))
    if len(scores) != 1 or label is None:
        return None
    return CsvLayout("topk", image, rank_labels=[label], rank_scores=scores,
                     description=f"top-1 columns {header[label]},{header[scores[0]]} (timm inference.py)")


def csv_layout(header: list[str], path: Path, fmt: str = "csv") -> CsvLayout:
    """The layout of a prediction CSV from its header (an InputError when it is none of them); `fmt` one of
    FORCED forces that layout."""
    forced = FORCED.get(fmt)
    image = _one(header, IMAGE_COLUMNS, "image", path)
    if image is None:
        raise InputError(f"no image column: expected one of {', '.join(IMAGE_COLUMNS)} (found "
                         f"{','.join(header)!r})", path, "line 1")
    timm = _timm_top1(header, image)
    if timm is not None and forced in (None, "topk"):
        return timm
    target = _one(header, TARGET_COLUMNS, "target", path)
    rest = [i for i in range(len(header)) if i not in (image, target)]
    if not rest:
        raise InputError("no score columns: expected a score per label (image,<label1>,<label2>,...), per class "
                         "index (logit_0,...) or top-k columns (top1,...,score1,...)", path, "line 1")
    indexed = _ranks(header, rest, _INDEXED) if forced in (None, "indexed") else None
    prefixes = {(_INDEXED.match(header[i]).group(1) or "").lower() for i in rest} if indexed is not None else set()
    if forced == "indexed" and (indexed is None or len(prefixes) != 1):
        raise InputError(f"format {fmt}: expected score columns named by class index (logit_0,logit_1,... or "
                         f"0,1,...), found {','.join(header[i] for i in rest)!r}", path, "line 1")
    if indexed is not None and len(prefixes) == 1:
        if sorted(indexed) != list(range(len(indexed))):
            raise InputError(f"score columns named by class index must be numbered 0, 1, ... without gaps, found "
                             f"{listing([header[i] for i in rest])}", path, "line 1")
        return CsvLayout("indexed", image, target, scores=[indexed[k] for k in range(len(indexed))],
                         description=f"score columns {header[indexed[0]]}..{header[indexed[len(indexed) - 1]]}")
    topk = _topk(header, rest, path) if forced in (None, "topk") else None
    if topk is not None:
        topk.image, topk.target = image, target
        return topk
    if forced == "topk":
        raise InputError(f"format {fmt}: expected top-k columns (top1,top2,...,score1,score2,...), found "
                         f"{','.join(header[i] for i in rest)!r}", path, "line 1")
    if image != 0 and forced is None:
        raise InputError("expected the header 'image,<label1>,<label2>,...' (a score per label), or index-named "
                         "(logit_0,...) or top-k (top1,...,score1,...) columns", path, "line 1")
    names = [header[i] for i in rest]
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes or not all(names):
        problem = f"repeated label column(s) {listing(dupes)}" if dupes else "empty label column name"
        raise InputError(problem, path, "line 1")
    return CsvLayout("named", image, target, scores=rest, names=names,
                     description=f"score columns {names[0]}..{names[-1]}")
