"""The digits demo's own model as an `evalsite verify` predictor.

`evalsite demo -o OUT` pickles the digits model (v1, a scikit-learn pipeline) to OUT/inputs/digits/model.pkl;
`predict_digits` loads it and scores one image, as classification JSONL (docs/inputs.md):

    EVALSITE_DIGITS_MODEL=OUT/inputs/digits/model.pkl \\
        evalsite verify OUT/digits --images new-digits --predictor evalsite.demo.predictor:predict_digits

Without EVALSITE_DIGITS_MODEL the model is looked for in evalsite-demo/inputs/digits/model.pkl (the demo's
default output) below the current folder. Any image works: it is turned to grey, shrunk to 8x8 and
inverted like the demo's images (dark ink on white paper).
"""

from __future__ import annotations

import os
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MODEL_VARIABLE = "EVALSITE_DIGITS_MODEL"
DEFAULT_MODEL = Path("evalsite-demo") / "inputs" / "digits" / "model.pkl"


@lru_cache(maxsize=4)
def _model(path: str):
    with open(path, "rb") as handle:
        return pickle.load(handle)  # the demo's own file: trusted, written by `evalsite demo`


def features(image: Image.Image) -> np.ndarray:
    """The 64 pixel values (0 white .. 16 ink) of scikit-learn's digits, from any picture of a digit."""
    gray = ImageOps.exif_transpose(image).convert("L").resize((8, 8), Image.Resampling.BOX)
    return ((255 - np.asarray(gray, dtype=np.float64)) * (16 / 255)).reshape(1, 64)


def predict_digits(image_path: str) -> dict:
    """{"scores": {"0": p0, ..., "9": p9}}: the demo model's class probabilities for one image."""
    model = _model(os.environ.get(MODEL_VARIABLE) or str(DEFAULT_MODEL))
    with Image.open(image_path) as opened:
        x = features(opened)
    proba = model.predict_proba(x)[0]
    return {"scores": {str(label): float(p) for label, p in zip(model.classes_, proba)}}
