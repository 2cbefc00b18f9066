"""`evalsite check`, the release gate: rules on a report's headline numbers (report.json `metrics`).

`run_check` reads the reports and returns the text to print and the verdict. The rest are pure functions,
no printing: `parse_require` / `parse_max_drop` read the command-line rules (an :class:`InputError` says
which one is malformed and the expected form), `check_metric_names` checks them against a report's task
type, `evaluate_rules` decides each one, `as_table` and `as_dict` present the outcome.

Rules:
  * ``--require "NAME OP VALUE"``, OP one of ``>= <= > < ==``: the report's value must satisfy it.
  * ``--max-drop "NAME=VALUE"``: the baseline's value minus the report's must not exceed VALUE (absolute,
    in the metric's own unit).
  VALUE is a number; ``60%`` means 0.6 (and, in a max drop, ``1%`` one percentage point, 0.01). Every
  metric but the detection score ``threshold`` is a fraction, so its VALUE must lie in [0, 1]: "mAP50>=60"
  is refused rather than failing forever. Numbers are compared with a tolerance of 1e-9, so a recall of
  4/5 stored as 0.7999999999999999 meets "recall>=0.8".
  A metric without a value (null in report.json, or -1 for a COCO number pycocotools could not measure)
  fails every rule on it, with the reason.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from evalsite.core.enums import TaskType
from evalsite.core.errors import InputError
from evalsite.metrics.coco import STAT_NAMES

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "top1", "top2", "top3", "top4", "top5")
DETECTION_METRICS = ("mAP50", "mAP50_11pt", "precision", "recall", "f1", "threshold", "iou_threshold",
                     *(f"coco.{name}" for name in STAT_NAMES))
METRICS = {TaskType.CLASSIFICATION: CLASSIFICATION_METRICS, TaskType.DETECTION: DETECTION_METRICS,
           TaskType.SEGMENTATION: DETECTION_METRICS}
NOT_FRACTIONS = frozenset({"threshold"})  # t*: a score, on the predictions' own scale (may be a logit)
TOLERANCE = 1e-9
FAILED = 1  # the exit status of `evalsite check` when a rule fails
OPERATORS = (">=", "<=", "==", ">", "<")

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_REQUIRE = re.compile(rf"\s*(?P<name>{_NAME})\s*(?P<op>>=|<=|==|>|<)\s*(?P<value>{_NUMBER})\s*(?P<pct>%?)\s*")
_MAX_DROP = re.compile(rf"\s*(?P<name>{_NAME})\s*=\s*(?P<value>{_NUMBER})\s*(?P<pct>%?)\s*")
_REQUIRE_FORM = ('expected "NAME OP VALUE", e.g. "mAP50>=0.6" or "recall >= 80%" '
                 "(OP one of >= <= > < ==; VALUE a number or a percentage)")
_MAX_DROP_FORM = 'expected "NAME=VALUE", e.g. "mAP50=0.01" or "mAP50=1%" (VALUE a number >= 0 or a percentage)'

_UNDEFINED_WHY = {
    **{f"top{k}": "top-k accuracy is undefined when k is not below the number of labels" for k in range(1, 6)},
    "threshold": "no predictions, so no operating point",
    "mAP50": "no label has ground-truth objects",
    "mAP50_11pt": "no label has ground-truth objects",
}


@dataclass(frozen=True)
class Rule:
    kind: str  # "require" | "max_drop"
    metric: str  # a name of METRICS, dotted for the COCO numbers ("coco.AP")
    op: str | None  # require: one of OPERATORS; max_drop: None
    limit: float  # the rule's number (a percentage already divided by 100)
    shown: str  # the number as given ("0.6", "60%")
    option: str  # the command-line text, for messages: '--require "mAP50>=0.6"'

    @property
    def text(self) -> str:
        """The rule, normalised: "mAP50 >= 0.6", "mAP50 max drop 0.01"."""
        return f"{self.metric} {self.op} {self.shown}" if self.kind == "require" else \
            f"{self.metric} max drop {self.shown}"


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    value: float | None  # the report's value (None: undefined)
    baseline: float | None  # the baseline's value, when a baseline is given
    drop: float | None  # max_drop: baseline - value
    passed: bool
    reason: str | None  # why a rule failed without being decided by numbers (an undefined value)


def _number(match: re.Match, rule_option: str, form: str) -> tuple[float, str]:
    value = float(match["value"])
    if not math.isfinite(value):
        raise InputError(f"{match['value']} is not a finite number; {form}", None, rule_option)
    if match["pct"]:
        if match["name"] in NOT_FRACTIONS:
            raise InputError(f"{match['name']} is a score, not a fraction: give it as a number, without %",
                             None, rule_option)
        return value / 100, f"{match['value']}%"
    return value, match["value"]


def _check_range(name: str, limit: float, rule_option: str) -> None:
    if name not in NOT_FRACTIONS and not 0 <= limit <= 1:
        raise InputError(f"{name} is a fraction between 0 and 1, so {limit:g} cannot be meant: "
                         f"write e.g. 0.6 or 60%", None, rule_option)


def parse_require(text: str) -> Rule:
    """A `--require` rule: "NAME OP VALUE" (spaces allowed)."""
    option = f'--require "{text}"'
    match = _REQUIRE.fullmatch(text)
    if not match:
        raise InputError(_REQUIRE_FORM, None, option)
    limit, shown = _number(match, option, _REQUIRE_FORM)
    _check_range(match["name"], limit, option)
    return Rule("require", match["name"], match["op"], limit, shown, option)


def parse_max_drop(text: str) -> Rule:
    """A `--max-drop` rule: "NAME=VALUE" (spaces allowed), VALUE >= 0."""
    option = f'--max-drop "{text}"'
    match = _MAX_DROP.fullmatch(text)
    if not match:
        raise InputError(_MAX_DROP_FORM, None, option)
    limit, shown = _number(match, option, _MAX_DROP_FORM)
    if limit < 0:
        raise InputError(f"a drop cannot be negative ({shown}); {_MAX_DROP_FORM}", None, option)
    _check_range(match["name"], limit, option)
    return Rule("max_drop", match["name"], None, limit, shown, option)


def check_metric_names(rules: list[Rule], task_type: str) -> None:
    """An InputError for the first rule whose metric a report of `task_type` does not have."""
    names = METRICS[task_type]
    for rule in rules:
        if rule.metric not in names:
            close = difflib.get_close_matches(rule.metric, names, n=1) or \
                [n for n in names if n.lower() == rule.metric.lower()]
            hint = f"did you mean {close[0]}? " if close else ""
            raise InputError(f"unknown metric {rule.metric!r} for a {task_type} report; {hint}"
                             f"the metrics are: {', '.join(names)}", None, rule.option)


def metric_value(metrics: dict, name: str) -> tuple[float | None, str | None]:
    """The value of metric `name` in a report's `metrics` (dotted names look inside `coco`), or None and
    the reason it has none."""
    container, key = metrics, name
    if "." in name:
        head, key = name.split(".", 1)
        container = metrics.get(head)
        if not isinstance(container, dict):
            return None, f"no {head} numbers in report.json"
    if key not in container:
        return None, "not in report.json"
    value = container[key]
    if value is None:
        why = _UNDEFINED_WHY.get(name, "undefined for this evaluation")
        return None, f"null in report.json ({why})"
    if name.startswith("coco.") and value < 0:
        return None, "-1 in report.json (pycocotools had nothing to measure, e.g. no objects of that size)"
    return float(value), None


def _holds(value: float, op: str, limit: float) -> bool:
    if op == ">=":
        return value >= limit - TOLERANCE
    if op == "<=":
        return value <= limit + TOLERANCE
    if op == ">":
        return value > limit + TOLERANCE
    if op == "<":
        return value < limit - TOLERANCE
    return abs(value - limit) <= TOLERANCE


def evaluate_rules(rules: list[Rule], metrics: dict, baseline: dict | None = None) -> list[Outcome]:
    """Decide every rule on a report's `metrics` (and the baseline's, needed by max_drop rules)."""
    outcomes = []
    for rule in rules:
        value, why = metric_value(metrics, rule.metric)
        base, base_why = metric_value(baseline, rule.metric) if baseline is not None else (None, None)
        drop = None
        if rule.kind == "require":
            passed = value is not None and _holds(value, rule.op or "==", rule.limit)
            reason = why
        else:
            if baseline is None:
                raise ValueError("a max_drop rule needs the baseline's metrics")
            if value is not None and base is not None:
                drop = base - value
            passed = drop is not None and drop <= rule.limit + TOLERANCE
            reason = why or (f"in the baseline: {base_why}" if base_why else None)
        outcomes.append(Outcome(rule, value, base, drop, passed, None if passed else reason))
    return outcomes


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def as_table(outcomes: list[Outcome], with_baseline: bool) -> str:
    """The outcome as a plain-text table (one row per rule) and a one-line verdict."""
    header = ["rule", "value", *(["baseline"] if with_baseline else []), "result"]
    rows = []
    for o in outcomes:
        if o.passed:
            result = "pass"
        elif o.reason:
            result = f"FAIL: {o.reason}"
        elif o.drop is not None:
            result = f"FAIL: dropped by {o.drop:.6g}"
        else:
            result = "FAIL"
        rows.append([o.rule.text, _show(o.value), *([_show(o.baseline)] if with_baseline else []), result])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
             for row in [header, *rows]]
    failed = sum(not o.passed for o in outcomes)
    n = len(outcomes)
    if failed:
        lines.append(f"FAILED: {failed} of {n} rule{'s' if n != 1 else ''} failed")
    else:
        lines.append(f"PASSED: all {n} rules hold" if n != 1 else "PASSED: the rule holds")
    return "\n".join(lines) + "\n"


def as_dict(outcomes: list[Outcome], report: str, baseline: str | None, task_type: str) -> dict:
    """The outcome as JSON data: `passed` overall and every rule with its numbers and result."""
    return {
        "passed": all(o.passed for o in outcomes),
        "report": report,
        "baseline": baseline,
        "task_type": task_type,
        "rules": [{"rule": o.rule.text, "kind": o.rule.kind, "metric": o.rule.metric, "op": o.rule.op,
                   "limit": o.rule.limit, "value": o.value, "baseline": o.baseline, "drop": o.drop,
                   "passed": o.passed, "reason": o.reason} for o in outcomes],
    }


def parse_rules(requires: list[str], max_drops: list[str], has_baseline: bool) -> list[Rule]:
    """The rules of `--require` and `--max-drop` texts; an InputError for none, or a drop without a baseline."""
    rules = [parse_require(text) for text in requires] + [parse_max_drop(text) for text in max_drops]
    if not rules:
        raise InputError("no rules: give at least one --require \"NAME OP VALUE\" or --max-drop \"NAME=VALUE\"")
    if max_drops and not has_baseline:
        raise InputError(f"{rules[len(requires)].option} needs --baseline (the report to compare with)")
    return rules


def apply_rules(rules: list[Rule], report, where: Path, baseline=None, base_where: Path | None = None) -> list:
    """The outcome of each rule on a loaded report (and its loaded baseline, which must be of the same
    evaluation); `where`, `base_where`: the files named in errors."""
    from evalsite.report.load import check_same_evaluation

    check_metric_names(rules, report.task.type)
    base_metrics = None
    if baseline is not None:
        check_same_evaluation(baseline, report, base_where, where)
        base_metrics = baseline.metrics
    return evaluate_rules(rules, report.metrics, base_metrics)


def run_check(report: Path, requires: list[str], max_drops: list[str], baseline: Path | None = None,
              as_json: bool = False) -> tuple[str, bool]:
    """`evalsite check`: the outcome of the rules on REPORT (and its baseline), as the text to print (a
    table, or JSON with `as_json`; it ends with a newline), and whether every rule holds."""
    from evalsite.report.load import load_report

    rules = parse_rules(requires, max_drops, baseline is not None)
    loaded, _ = load_report(report)
    base = load_report(baseline)[0] if baseline is not None else None
    outcomes = apply_rules(rules, loaded, report, base, baseline)
    if as_json:
        data = as_dict(outcomes, str(report), str(baseline) if baseline is not None else None, loaded.task.type)
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = as_table(outcomes, baseline is not None)
    return text, all(o.passed for o in outcomes)
