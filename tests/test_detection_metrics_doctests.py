"""The Examples in the docstrings of the detection metrics modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["arrays", "pairs", "matching", "voc_ap", "operating_point", "detection_confusion", "error_types",
           "detection", "cells", "coco"]
OTHERS = ["evalsite.report.confusion", "evalsite.render.pictured",  # the sparse confusion's views, the budget
          "evalsite.core.joining", "evalsite.core.image_info", "evalsite.core.on_disk",
          "evalsite.formats.columns", "evalsite.core.values_on_disk"]


@pytest.mark.parametrize("name", MODULES + OTHERS)
def test_docstring_examples(name):
    module = importlib.import_module(name if "." in name else f"evalsite.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name != "detection":
        assert result.attempted > 0
