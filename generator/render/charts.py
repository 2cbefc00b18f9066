"""Charts (matplotlib, Agg) from report data. Text inside charts is limited to label names and numbers;
titles and axis explanations are in the page around the chart, in the page's language."""

from __future__ import annotations

import logging
import re
import warnings
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

ANNOTATE_UP_TO = 30  # write counts into confusion cells up to this many labels
CHART_LABELS = 60  # at most this many labels drawn in one chart (bars or curves)
_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei",
              "WenQuanYi Micro Hei", "Source Han Sans SC", "SimHei", "Microsoft YaHei", "PingFang SC")
_BLUE = "#1f6feb"
_GLYPH = re.compile(r"Glyph (\d+) .*missing from font")
_missing: set[str] = set()  # characters the charts drew as boxes (no installed font has them)


@lru_cache(maxsize=1)
def _setup() -> None:
    """Deterministic output and a CJK fallback font where the machine has one (label names may be Chinese)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans"] + [name for name in _CJK_FONTS if name in installed]
    plt.rcParams.update({
        "font.family": families, "svg.hashsalt": "evalsite", "axes.spines.top": False,
        "axes.spines.right": False, "figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight",
    })
    # Without a CJK font, matplotlib warns once per missing glyph; the box it draws is the honest result.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _save(fig: plt.Figure, path: Path) -> None:
    """Draw and write the chart. matplotlib's warnings never reach stderr: a missing glyph is remembered for
    `missing_glyphs` (the caller tells the user once), any other is layout noise and dropped. Charts are
    drawn in one thread (warnings.catch_warnings is not thread-safe)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    for warning in caught:
        found = _GLYPH.search(str(warning.message))
        if found:
            _missing.add(chr(int(found.group(1))))


def missing_glyphs() -> str:
    """The characters (of label names, or of a Chinese site's chart text) that the charts drawn since the last
    call showed as boxes, because no installed font has them (sorted; "" for none); forgets them."""
    text = "".join(sorted(_missing))
    _missing.clear()
    return text


def confusion_chart(rows: list[str], columns: list[str], counts: np.ndarray, normalised: np.ndarray,
                    path: Path) -> None:
    """Heat map coloured by row share with counts written in (up to ANNOTATE_UP_TO labels)."""
    _setup()
    n_rows, n_cols = counts.shape
    cell = 0.55 if n_cols <= ANNOTATE_UP_TO else 0.22
    width = max(4.0, 1.8 + cell * n_cols)
    height = max(3.2, 1.4 + cell * n_rows)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    tick_size = 9 if n_cols <= ANNOTATE_UP_TO else 6
    ax.set_xticks(range(n_cols), labels=columns, rotation=90 if n_cols > 6 else 0, fontsize=tick_size)
    ax.set_yticks(range(n_rows), labels=rows, fontsize=tick_size)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n_cols <= ANNOTATE_UP_TO:
        for r in range(n_rows):
            for c in range(n_cols):
                if counts[r, c]:
                    dark = normalised[r, c] > 0.5
                    ax.text(c, r, str(int(counts[r, c])), ha="center", va="center", fontsize=8,
                            color="white" if dark else "#1b1f24")
    _save(fig, path)


def heatmap_picture(share: np.ndarray, path: Path, side: int = 600) -> None:
    """A confusion map (evalsite.report.confusion.ConfusionMap.share, G × G shares in [0, 1]) as a PNG of
    about `side` pixels, drawn with Pillow: matplotlib would need a figure of labels² cells. White is 0,
    deep blue 1, on a square-root scale so that small confusions show beside the diagonal."""
    from PIL import Image

    g = share.shape[0]
    scale = max(1, side // max(g, 1))
    level = np.sqrt(np.clip(share, 0.0, 1.0))
    rgb = np.empty((g, g, 3), dtype=np.uint8)
    for k, (light, dark) in enumerate(((255, 8), (255, 48), (255, 107))):  # white to #08306b
        rgb[..., k] = np.rint(light + (dark - light) * level).astype(np.uint8)
    picture = Image.fromarray(rgb).resize((g * scale, g * scale), Image.Resampling.NEAREST) if g else \
        Image.new("RGB", (1, 1), "white")
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG", optimize=True)


def topk_chart(ks: list[int], accuracy: list[float], path: Path) -> None:
    _setup()
    fig, ax = plt.subplots(figsize=(max(3.0, 1.0 + 0.8 * len(ks)), 2.8))
    bars = ax.bar([f"top-{k}" for k in ks], accuracy, color=_BLUE, width=0.6)
    ax.set_ylim(0, 1.08)
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in accuracy], fontsize=8, padding=2)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    _save(fig, path)


def per_label_chart(labels: list[str], values: list[float], path: Path) -> None:
    """Horizontal bars, one per label, in the order given (top to bottom); callers give at most
    CHART_LABELS labels (the picture grows with them)."""
    _setup()
    n = len(labels)
    fig, ax = plt.subplots(figsize=(6.0, max(1.6, 0.6 + 0.24 * n)))
    y = np.arange(n)
    ax.barh(y, values, color=_BLUE, height=0.7)
    ax.set_yticks(y, labels=labels, fontsize=9 if n <= ANNOTATE_UP_TO else 6)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.tick_params(axis="y", length=0)
    _save(fig, path)


def f1_threshold_chart(overall: tuple[list[float], list[float]], per_label: list[tuple[str, list[float], list[float]]],
                       threshold: float | None, path: Path) -> None:
    """F1 against the score threshold: the overall curve thick, each label thin, t* dashed."""
    _setup()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, x, y in per_label:
        ax.plot(x, y, linewidth=0.9, alpha=0.75, label=label)
    ax.plot(overall[0], overall[1], color="#1b1f24", linewidth=2.4)
    if threshold is not None:
        ax.axvline(threshold, color="#1b1f24", linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.02)
    if per_label and len(per_label) <= 12:
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)


def pr_chart(curves: list[tuple[str, list[float], list[float]]], path: Path) -> None:
    """Precision (y) against recall (x), one line per label."""
    _setup()
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    for label, recall, precision in curves:
        ax.plot(recall, precision, linewidth=1.2, label=label, drawstyle="steps-post")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    if curves and len(curves) <= 12:
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
