"""The classification part of `evalsite demo`: a real, small evaluation made from scratch, with nothing to
download.

It trains a classifier on the handwritten digits that ship with scikit-learn, evaluates it on a held-out
split and writes the held-out images and the model's scores in evalsite's own input formats (CSV), with a
manifest; `evalsite demo` (evalsite.commands.demo) builds the report and the task overview from them,
through the same pipeline as any user's task. Two versions of the digits model are trained (a modest v1
and a stronger v2, on the same held-out images) and compared.

Planted annotation mistakes: the held-out ground truth (shared by v1 and v2) gives a wrong digit to
PLANTED_DIGITS images, as a hurried annotator might (the look-alike digit of LOOK_ALIKE: a 1 written
down as a 7...). They are clear digits that both models classify correctly and confidently (top-1 score
>= PLANTED_CONFIDENCE of each model), chosen at random among those with a generator seeded by the demo
seed, one per true digit; so the report's "check these annotations" page must list them, and the v1 -> v2
comparison is unchanged by them (both models "miss" them alike). They are recorded in
planted_mistakes.json beside ground_truth.csv (image, given label, true label, kind "wrong_label"). The
images, the scores and the models are never changed: only the ground truth is.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

DEMO_SEED = 0
TEST_SHARE = 0.3
PIXEL_SCALE = 4  # the 8x8 digits are written as 32x32 PNGs
# The two versions of the digits model: (training images, None = all; inverse regularisation strength C).
# v1 is deliberately modest (few training images, strong regularisation) so its report has mistakes to show;
# v2 learns from every training image with weak regularisation: better beyond noise, yet it breaks a few
# images that v1 got right, so the comparison has both fixed and broken images to show.
MODELS = {"v1": (300, 0.02), "v2": (None, 1.0)}
PLANTED_DIGITS = 4  # held-out images given a wrong digit in the ground truth (see the module docstring)
PLANTED_CONFIDENCE = {"v1": 0.8, "v2": 0.99}  # ... which every model classifies right at least this sure
LOOK_ALIKE = {0: 6, 1: 7, 2: 3, 3: 8, 4: 9, 5: 6, 6: 5, 7: 1, 8: 3, 9: 4}  # the wrong digit written down


def _train_and_score(seed: int, model_version: str = "v1", model_file: Path | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(test images 8x8, true label indices, (n, 10) class probabilities, label names); the trained model is
    pickled to `model_file` when given (the predictor of `evalsite verify`, evalsite.demo.predictor)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    x_train, x_test, y_train, y_test, _, img_test = train_test_split(
        digits.data, digits.target, digits.images, test_size=TEST_SHARE, random_state=seed,
        stratify=digits.target)
    n_train, strength = MODELS[model_version]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=2000))
    model.fit(x_train[:n_train], y_train[:n_train])
    if model_file is not None:
        import pickle

        model_file.parent.mkdir(parents=True, exist_ok=True)
        model_file.write_bytes(pickle.dumps(model, protocol=4))
    return img_test, y_test, model.predict_proba(x_test), [str(c) for c in digits.target_names]


def planted_digits(seed: int = DEMO_SEED) -> dict[int, int]:
    """The planted annotation mistakes of the held-out images: {image index: the wrong label index given}.
    The same for every model version (see the module docstring)."""
    sure = None
    for version in MODELS:
        _, y_true, proba, _ = _train_and_score(seed, version)
        right = (proba.argmax(axis=1) == y_true) & (proba.max(axis=1) >= PLANTED_CONFIDENCE[version])
        sure = right if sure is None else sure & right
    rng = np.random.default_rng([seed, 5])
    planted: dict[int, int] = {}
    for i in rng.permutation(np.flatnonzero(sure)):
        digit = int(y_true[i])
        if len(planted) < PLANTED_DIGITS and all(int(y_true[j]) != digit for j in planted):
            planted[int(i)] = LOOK_ALIKE[digit]
    return dict(sorted(planted.items()))


def write_inputs(folder: Path, language: str, seed: int = DEMO_SEED, model_version: str = "v1") -> Path:
    """The demo task's images, ground truth, predictions and manifest; returns the manifest path. Model v1 is
    the task `digits`, v2 the task `digits-v2`: the same held-out images, one group (`digits`)."""
    images, y_true, proba, labels = _train_and_score(seed, model_version, folder / "model.pkl")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = []
    for i, pixels in enumerate(images):
        gray = (255 - pixels * (255 / 16)).round().astype(np.uint8)  # dark ink on white paper
        name = f"test-{i:04d}.png"
        Image.fromarray(gray, mode="L").resize((8 * PIXEL_SCALE,) * 2, Image.Resampling.NEAREST).save(
            folder / "images" / name)
        names.append(name)
    planted = planted_digits(seed)
    given = [planted.get(i, int(y)) for i, y in enumerate(y_true)]
    with open(folder / "ground_truth.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        writer.writerows((name, labels[y]) for name, y in zip(names, given))
    (folder / "planted_mistakes.json").write_text(json.dumps({"mistakes": [
        {"image": names[i], "kind": "wrong_label", "given_label": labels[wrong], "true_label": labels[int(y_true[i])]}
        for i, wrong in planted.items()]}, indent=1) + "\n", encoding="utf-8")
    with open(folder / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *labels])
        writer.writerows([name, *(f"{p:.6f}" for p in row)] for name, row in zip(names, proba))
    name = "digits" if model_version == "v1" else f"digits-{model_version}"
    n_train, strength = MODELS[model_version]
    manifest = folder / f"{name}.yaml"
    manifest.write_text(
        "# The demo task, written by `evalsite demo`: a logistic regression on scikit-learn's digits\n"
        f"# (model {model_version}: {'all' if n_train is None else n_train} training images, C = {strength}).\n"
        f"name: {name}\n"
        "group: digits\n"
        f"model: {model_version}\n"
        "type: classification\n"
        "images: images\n"
        "ground_truth: {format: csv, path: ground_truth.csv}\n"
        "predictions: {format: csv, path: predictions.csv}\n"
        f"language: {language}\n", encoding="utf-8")
    return manifest
