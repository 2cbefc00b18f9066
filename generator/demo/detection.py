"""The detection part of `evalsite demo`: generated scenes of shapes and a small, real detector trained on them.

Nothing is downloaded. Scenes of circles, squares, triangles and rings (thin, or thick with a small hole)
are drawn with Pillow on plain, gradient and textured backgrounds; some scenes are dark, out of focus or lit
by a lamp (objects cast shadows), some objects touch or overlap, some are tiny, and some scenes hold clutter
of other kinds (pentagons, hexagons, octagons) that is not annotated. The ground truth is the exact box of
each drawn shape (never of its shadow). The detector is classical and honest (its outputs are never
jittered towards or away from the answers):

1. foreground = colour distance from a background plane fitted to the image border, at two thresholds;
2. candidates = connected components of each foreground (both thresholds, near-identical boxes merged);
3. features of each candidate's mask (size, aspect, fill, holes, corner and half occupancy, contrast...);
4. a scikit-learn random forest, trained on the training scenes' candidates labelled by IoU >= 0.5 with
   a ground-truth box (else "background"), gives each evaluation candidate its label and score.

Its mistakes come from the method and the data themselves, many of them confident:

* background: clutter shapes look like the labelled ones (an octagon is nearly a circle), texture blobs;
* wrong label: a thick ring whose small hole is blurred shut has the mask of a circle, so the forest calls
  it a circle (the rings it saw like that were few); small or merged masks;
* localisation: a shadow joins its object's mask (a loose box), touching objects merge into one box;
* duplicate: an object whose boxes differ at the two thresholds (blur, shadow) is detected twice;
* missed: tiny or low-contrast objects, objects merged with a neighbour, low scores.

Planted annotation mistakes (in the ground truth only; the images and the detector's outputs are never
changed). Among the objects that are clearly visible (at least PLANTED_SIZE pixels wide and high), stand
alone (IoU < 0.1 with every other object) and that the detector finds clearly (a box of the right label
with IoU >= 0.7, no box of another label on it, a score >= PLANTED_SCORE and >= the median best score of
the objects of that label found that sure), a generator seeded by the demo seed picks, in different
images, PLANTED_DROPPED objects whose annotation is left out (an annotator who overlooked them: the
detection becomes a background false positive, "missing_annotation" on the report's "check these
annotations" page) and PLANTED_SWAPPED objects annotated with the look-alike label of SWAPPED_LABEL (a
circle filed as a ring...: the detection becomes a wrong-label false positive, "swapped_label"). Fewer
are planted when fewer objects qualify (small evaluation sets). They are recorded in planted_mistakes.json
beside ground_truth.json (image, image id, box, kind, annotation id and given label (none for a dropped
one), true label).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# scipy is not a direct dependency of evalsite: it comes with scikit-learn (which requires it), so
# scipy.ndimage is always installed alongside.
from scipy import ndimage

DEMO_SEED = 0
N_TRAIN = 200
N_EVAL = 120
WIDTH, HEIGHT = 160, 120
LABELS = ["circle", "square", "triangle", "ring"]  # category ids 1..4
OBJECT_COLOURS = np.array([
    (215, 45, 40), (40, 170, 70), (45, 85, 215), (230, 200, 40), (150, 65, 195), (235, 135, 35),
    (30, 160, 170), (120, 120, 120)], dtype=np.float64)
BACKGROUND_COLOURS = np.array([
    (235, 235, 230), (200, 205, 210), (240, 225, 200), (190, 215, 235), (90, 95, 100), (205, 225, 195),
    (150, 140, 130), (60, 70, 60)], dtype=np.float64)

# a ring's line width, as a fraction of its diameter: most rings are thin, some thick with a small hole
THIN_RING, THICK_RING, THICK_RINGS = (0.12, 0.25), (0.36, 0.46), 0.35
SHADOWED = 0.3  # the fraction of scenes where objects cast shadows
SHADOW_LENGTH = (0.15, 0.5)  # a shadow's offset, as a fraction of the object's size
SHADOW_DARKNESS = (0.3, 0.55)
DARK, DARK_LEVEL = 0.2, (0.15, 0.35)  # the fraction of dark scenes, and their brightness
TOUCHING = 0.15  # the chance that an object is placed against the previous one
DISTRACTORS = 0.3  # the chance that a scene has unannotated objects of other kinds
BLURRED = 0.4  # the fraction of out-of-focus scenes
BLUR_SIGMA = (0.7, 1.4)

MIN_PIXELS = 20  # candidates with fewer foreground pixels are ignored
MIN_SCORE = 0.05  # a candidate is reported when its best object label reaches this probability
SECOND_LABEL_SCORE = 0.25  # ... and also with its second-best label when that one reaches this
SAME_CANDIDATE_IOU = 0.75  # candidates of the two thresholds closer than this are one candidate

# planted annotation mistakes (see the module docstring)
PLANTED_DROPPED, PLANTED_SWAPPED = 2, 2
PLANTED_SCORE = 0.85  # only objects detected with the right label at least this sure (and as the usual)
PLANTED_SIZE = 16  # ... and at least this wide and high (clearly visible)
SWAPPED_LABEL = {"circle": "ring", "ring": "circle", "square": "triangle", "triangle": "square"}


# --------------------------------------------------------------------------------------------- scenes

def _background(rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float background: a plain colour, a gradient between two colours, or a texture."""
    base = BACKGROUND_COLOURS[rng.integers(len(BACKGROUND_COLOURS))]
    kind = rng.choice(["plain", "gradient", "texture"], p=[0.35, 0.3, 0.35])
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    if kind == "plain":
        return np.broadcast_to(base, (HEIGHT, WIDTH, 3)).copy()
    if kind == "gradient":
        other = BACKGROUND_COLOURS[rng.integers(len(BACKGROUND_COLOURS))]
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * xx / WIDTH + np.sin(angle) * yy / HEIGHT
        t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
        if rng.random() < 0.4:  # a curved gradient the border plane cannot follow exactly
            t = t ** 2
        return base + (other - base) * t[..., None] * rng.uniform(0.4, 1.0)
    # texture: smooth low-frequency noise plus a few blotches of a nearby colour
    grid = rng.normal(0, 1, size=(4, 5, 3))
    smooth = np.asarray(Image.fromarray(((grid - grid.min()) / np.ptp(grid) * 255).astype(np.uint8))
                        .resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float64) / 255 - 0.5
    image = base + smooth * rng.uniform(15, 45)
    blotches = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(blotches)
    for _ in range(rng.integers(1, 7)):
        cx, cy = rng.integers(0, WIDTH), rng.integers(0, HEIGHT)
        rx, ry = rng.integers(3, 16), rng.integers(3, 16)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    mask = np.asarray(blotches, dtype=np.float64)[..., None] / 255
    shift = rng.normal(0, 1, size=3)
    shift = shift / np.linalg.norm(shift) * rng.uniform(25, 70)
    return image + mask * shift


def _shape_mask(label: str, x: int, y: int, w: int, h: int, flip: bool, thickness: float) -> Image.Image:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(mask)
    x1, y1 = x + w - 1, y + h - 1
    if label == "circle":
        draw.ellipse([x, y, x1, y1], fill=255)
    elif label == "square":
        draw.rectangle([x, y, x1, y1], fill=255)
    elif label == "triangle":
        apex, base = (y1, y) if flip else (y, y1)
        draw.polygon([(x, base), (x1, base), ((x + x1) // 2, apex)], fill=255)
    else:  # ring, of line width `thickness` x diameter (a thick ring has only a small hole)
        draw.ellipse([x, y, x1, y1], outline=255, width=max(2, int(round(w * thickness))))
    return mask


def draw_scene(rng: np.random.Generator, *, owners: bool = False):
    """One image (H, W, 3) uint8 and its objects as (label index, [x, y, w, h]) exact drawn boxes; with
    `owners`, also the (H, W) map of which object each pixel shows (k: objects[k], -1: background,
    -2: clutter), before blur: the objects' visible pixels."""
    image = _background(rng)
    objects: list[tuple[int, list[int]]] = []
    owner = np.full((HEIGHT, WIDTH), -1)  # which object each pixel shows (-1: background, -2: clutter)
    drawn: list[int] = []  # each object's pixel count when drawn
    shadow = None  # under a lamp, objects cast shadows: [direction x, direction y, darkness]
    if rng.random() < SHADOWED:
        angle = rng.uniform(0, 2 * np.pi)
        shadow = np.array([np.cos(angle), np.sin(angle), rng.uniform(*SHADOW_DARKNESS)])
    for _ in range(rng.integers(1, 6)):
        label = int(rng.integers(len(LABELS)))
        size = int(rng.integers(4, 8)) if rng.random() < 0.12 else int(rng.integers(12, 38))
        w = size
        h = size if LABELS[label] != "triangle" else max(4, int(round(size * rng.uniform(0.8, 1.0))))
        if objects and rng.random() < TOUCHING:  # next to (touching or overlapping) the previous object
            px, py, pw, ph = objects[-1][1]
            gap = int(rng.integers(-5, 1))
            if rng.random() < 0.5:
                x, y = px + pw + gap, py + int(rng.integers(-h // 2, ph // 2 + 1))
            else:
                x, y = px + int(rng.integers(-w // 2, pw // 2 + 1)), py + ph + gap
        else:  # somewhere free, if a few tries find a free place
            for _ in range(8):
                x, y = int(rng.integers(0, WIDTH - w + 1)), int(rng.integers(0, HEIGHT - h + 1))
                if not objects or _box_iou(np.array([x - 2, y - 2, w + 4, h + 4]),
                                           np.array([box for _, box in objects])).max() == 0:
                    break
        x, y = min(max(x, 0), WIDTH - w), min(max(y, 0), HEIGHT - h)
        thickness = float(rng.uniform(*(THICK_RING if rng.random() < THICK_RINGS else THIN_RING)))
        flip = bool(rng.random() < 0.3)
        mask = _shape_mask(LABELS[label], x, y, w, h, flip, thickness)
        box = mask.getbbox()
        colour = OBJECT_COLOURS[rng.integers(len(OBJECT_COLOURS))] * rng.uniform(0.85, 1.1)
        covered = np.asarray(mask) > 0
        # an object may hide part of another, but not most of it: nobody annotates what cannot be seen
        hidden = np.bincount(owner[covered & (owner >= 0)], minlength=len(objects))
        if box is None or any(hidden[j] > 0.4 * drawn[j] for j in range(len(objects))):
            continue
        if shadow is not None:  # a soft shadow on the background (not on other objects); never annotated
            dx, dy = np.round(shadow[:2] * size * rng.uniform(*SHADOW_LENGTH)).astype(int)
            cast = np.asarray(_shape_mask(LABELS[label], x + dx, y + dy, w, h, flip, thickness), np.float64)
            cast = ndimage.gaussian_filter(cast / 255, 1.0) * (owner == -1)
            image *= 1 - shadow[2] * cast[..., None]
        image[covered] = colour
        owner[covered] = len(objects)
        drawn.append(int(covered.sum()))
        objects.append((label, [box[0], box[1], box[2] - box[0], box[3] - box[1]]))
    # clutter: things of kinds outside the label set (pentagons, hexagons, octagons), in free places only;
    # nobody annotates them, so a detection on one is a background false positive
    for _ in range(int(rng.integers(1, 3)) if rng.random() < DISTRACTORS else 0):
        size = int(rng.integers(12, 34))
        x, y = int(rng.integers(0, WIDTH - size + 1)), int(rng.integers(0, HEIGHT - size + 1))
        sides, rotation = int(rng.choice([5, 6, 8])), float(rng.uniform(0, 360))
        colour = OBJECT_COLOURS[rng.integers(len(OBJECT_COLOURS))] * rng.uniform(0.85, 1.1)
        if (owner[max(0, y - 2):y + size + 2, max(0, x - 2):x + size + 2] != -1).any():
            continue
        mask = Image.new("L", (WIDTH, HEIGHT), 0)
        ImageDraw.Draw(mask).regular_polygon((x + size / 2, y + size / 2, size / 2), sides, rotation=rotation,
                                             fill=255)
        covered = np.asarray(mask) > 0
        image[covered] = colour
        owner[covered] = -2
    if rng.random() < BLURRED:  # out of focus: small holes close up, corners round off
        sigma = rng.uniform(*BLUR_SIGMA)
        image = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0))
    if rng.random() < DARK:  # a dark, low-contrast photograph
        image = image * rng.uniform(*DARK_LEVEL)
    else:
        image = image * rng.uniform(0.8, 1.1)
    image = image + rng.normal(0, rng.uniform(2, 6), size=image.shape)
    image = np.clip(image, 0, 255).round().astype(np.uint8)
    return (image, objects, owner) if owners else (image, objects)


# ------------------------------------------------------------------------------------------- detector

def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xywh boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    w = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2]) - np.maximum(
        a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3]) - np.maximum(
        a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _foreground_distance(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-pixel colour distance from a background plane fitted to the border, and the border noise."""
    pixels = image.astype(np.float64)
    border = np.zeros((HEIGHT, WIDTH), dtype=bool)
    border[:3], border[-3:], border[:, :3], border[:, -3:] = True, True, True, True
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64) / max(WIDTH, HEIGHT)
    design = np.stack([np.ones_like(xx), xx, yy], axis=-1)
    coef, *_ = np.linalg.lstsq(design[border], pixels[border], rcond=None)
    # one refit without the border pixels farthest from the first plane (objects touching the border)
    residual = np.linalg.norm(pixels[border] - design[border] @ coef, axis=1)
    keep = residual <= np.quantile(residual, 0.8)
    coef, *_ = np.linalg.lstsq(design[border][keep], pixels[border][keep], rcond=None)
    distance = np.linalg.norm(pixels - design @ coef, axis=-1)
    noise = float(np.median(distance[border]))
    return distance, noise


def _features(mask: np.ndarray, distance: np.ndarray, pixels: np.ndarray, threshold: float) -> list[float]:
    h, w = mask.shape
    count = float(mask.sum())
    filled = ndimage.binary_fill_holes(mask)
    eroded = ndimage.binary_erosion(mask)
    cells = []
    for rows in (slice(0, max(1, h // 3)), slice(h // 3, max(h // 3 + 1, 2 * h // 3)), slice(2 * h // 3, h)):
        for cols in (slice(0, max(1, w // 3)), slice(w // 3, max(w // 3 + 1, 2 * w // 3)),
                     slice(2 * w // 3, w)):
            cell = mask[rows, cols]
            cells.append(float(cell.mean()) if cell.size else 0.0)
    top, bottom = mask[: max(1, h // 2)].mean(), mask[h // 2:].mean() if h > 1 else 0.0
    colour = pixels[mask].mean(axis=0) / 255
    return [
        np.log(w), np.log(h), w / h, np.log(count), count / (w * h),
        (filled.sum() - count) / max(filled.sum(), 1.0),
        (count - eroded.sum()) / np.sqrt(count),
        float(top) - float(bottom),
        *cells,
        float(distance[mask].mean()) / threshold,
        *colour,
    ]


def _candidates(image: np.ndarray, *, masks: bool = False):
    """Candidate boxes (N, 4) xywh and their features (N, F) for one image; with `masks`, also each
    candidate's connected component as a (H, W) bool mask."""
    distance, noise = _foreground_distance(image)
    low = max(22.0, 4.0 * noise)
    boxes: list[list[int]] = []
    features: list[list[float]] = []
    components: list[np.ndarray] = []
    for threshold in (low, 2.2 * low):
        labelled, _ = ndimage.label(distance > threshold, structure=np.ones((3, 3)))
        level_boxes, level_features, level_components = [], [], []
        for index, where in enumerate(ndimage.find_objects(labelled), start=1):
            if where is None:
                continue
            mask = labelled[where] == index
            if mask.sum() < MIN_PIXELS:
                continue
            box = [where[1].start, where[0].start, where[1].stop - where[1].start, where[0].stop - where[0].start]
            if boxes and _box_iou(np.array(box), np.array(boxes)).max() >= SAME_CANDIDATE_IOU:
                continue  # already a candidate at the lower threshold
            level_boxes.append(box)
            level_features.append(_features(mask, distance[where], image[where], threshold))
            if masks:
                level_components.append(labelled == index)
        boxes += level_boxes
        features += level_features
        components += level_components
    boxes_array = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    features_array = np.array(features, dtype=np.float64)
    return (boxes_array, features_array, components) if masks else (boxes_array, features_array)


def train_detector(rng: np.random.Generator, n_train: int, seed: int):
    """The random forest of the candidates of `n_train` scenes drawn with `rng` (a candidate's class: the
    label of the box it matches at IoU >= 0.5, else the last class, "background")."""
    from sklearn.ensemble import RandomForestClassifier

    xs, ys = [], []
    for _ in range(n_train):
        image, objects = draw_scene(rng)
        boxes, features = _candidates(image)
        if not len(boxes):
            continue
        target = np.full(len(boxes), len(LABELS))  # the last class is "background"
        if objects:
            iou = _box_iou(boxes, [box for _, box in objects])
            best = iou.argmax(axis=1)
            matched = iou[np.arange(len(boxes)), best] >= 0.5
            target[matched] = np.array([label for label, _ in objects])[best[matched]]
        xs.append(features)
        ys.append(target)
    model = RandomForestClassifier(n_estimators=60, min_samples_leaf=3, max_features=0.5,
                                   random_state=seed, n_jobs=1)
    model.fit(np.concatenate(xs), np.concatenate(ys))
    return model


def detect(model, image: np.ndarray, *, masks: bool = False) -> list[tuple]:
    """(label index, xywh, score) of the detections in one image, in candidate order; with `masks`,
    (label index, xywh, score, (H, W) bool mask of the candidate's connected component)."""
    if masks:
        boxes, features, components = _candidates(image, masks=True)
    else:
        (boxes, features), components = _candidates(image), None
    if not len(boxes):
        return []
    proba = np.zeros((len(boxes), len(LABELS) + 1))
    proba[:, model.classes_] = model.predict_proba(features)
    found = []
    for k, (box, p) in enumerate(zip(boxes, proba)):
        order = np.argsort(-p[:-1], kind="stable")
        mask = (components[k],) if components is not None else ()
        if p[order[0]] >= MIN_SCORE:
            found.append((int(order[0]), box.tolist(), float(p[order[0]]), *mask))
        if p[order[1]] >= SECOND_LABEL_SCORE:
            found.append((int(order[1]), box.tolist(), float(p[order[1]]), *mask))
    return found


# ---------------------------------------------------------------------------------------------- files

def write_detection_inputs(folder: Path, language: str, seed: int = DEMO_SEED, *,
                           n_train: int = N_TRAIN, n_eval: int = N_EVAL) -> Path:
    """The detection demo task (evaluation images, COCO ground truth and results, manifest); returns the
    manifest path. Deterministic given `seed`; only the evaluation images are written."""
    model = train_detector(np.random.default_rng([seed, 1]), n_train, seed)
    rng = np.random.default_rng([seed, 2])
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, results = [], [], []
    scenes = []
    for i in range(n_eval):
        image, objects = draw_scene(rng)
        name = f"scene-{i:04d}.png"
        Image.fromarray(image, mode="RGB").save(folder / "images" / name)
        images.append({"id": i + 1, "file_name": name, "width": WIDTH, "height": HEIGHT})
        scenes.append((objects, detect(model, image)))
    planted = _plant_mistakes(scenes, np.random.default_rng([seed, 6]))
    mistakes = []
    for i, (objects, found) in enumerate(scenes):
        image_id = i + 1
        for k, (label, box) in enumerate(objects):
            kind = planted.get((i, k))
            record = {"image": images[i]["file_name"], "image_id": image_id, "bbox": box, "kind": kind,
                      "annotation_id": None, "given_label": None, "true_label": LABELS[label]}
            if kind == "swapped_label":
                label = LABELS.index(SWAPPED_LABEL[LABELS[label]])
            if kind != "missing_annotation":
                # annotation ids start at 0 on purpose: 0 is a valid COCO id that readers must not treat as "none"
                record.update(annotation_id=len(annotations), given_label=LABELS[label])
                annotations.append({"id": len(annotations), "image_id": image_id, "category_id": label + 1,
                                    "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
            if kind is not None:
                mistakes.append(record)
        for label, box, score in found:
            results.append({"image_id": image_id, "category_id": label + 1,
                            "bbox": [round(v, 4) for v in box], "score": round(score, 4)})
    (folder / "planted_mistakes.json").write_text(json.dumps({"mistakes": mistakes}, indent=1) + "\n",
                                                  encoding="utf-8")
    return write_coco_task(folder, "detection.yaml", language, name="shapes", task_type="detection",
                           description="evalsite demo: generated shapes", images=images, annotations=annotations,
                           results=results, comment=(
                               "The detection demo task, written by `evalsite demo`: generated shapes and a small "
                               "detector\n(colour segmentation, connected components and a random forest) trained "
                               "on other such scenes."))


def _plant_mistakes(scenes: list[tuple[list, list]], rng: np.random.Generator) -> dict[tuple[int, int], str]:
    """{(scene index, object index): "missing_annotation" | "swapped_label"}: the planted annotation
    mistakes (see the module docstring), in different scenes. `scenes`: each scene's objects and the
    detector's outputs on it."""
    # how sure the detector usually is when it finds an object of each label: the median of the objects'
    # best right-label scores (boxes with IoU >= 0.5, scores >= PLANTED_SCORE)
    best: list[list[float]] = [[] for _ in LABELS]
    for objects, found in scenes:
        for label, box in objects:
            scores = [score for c, b, score in found
                      if c == label and _box_iou(np.array(box), np.array(b))[0, 0] >= 0.5]
            if scores and max(scores) >= PLANTED_SCORE:
                best[label].append(max(scores))
    usual = [float(np.median(scores)) if scores else 1.0 for scores in best]
    eligible = []
    for i, (objects, found) in enumerate(scenes):
        if not found:
            continue
        boxes = np.array([box for _, box in objects], dtype=np.float64).reshape(-1, 4)
        found_boxes = np.array([box for _, box, _ in found], dtype=np.float64).reshape(-1, 4)
        for k, (label, box) in enumerate(objects):
            iou = _box_iou(np.array(box), found_boxes)[0]
            right = [j for j, (c, _, score) in enumerate(found) if c == label and iou[j] >= 0.7
                     and score >= max(PLANTED_SCORE, usual[label])]
            other = [j for j, (c, _, _) in enumerate(found) if c != label and iou[j] >= 0.5]
            alone = all(_box_iou(found_boxes[j], np.delete(boxes, k, axis=0)).max(initial=0.0) < 0.1
                        for j in right)
            apart = _box_iou(np.array(box), np.delete(boxes, k, axis=0)).max(initial=0.0) < 0.1
            if min(box[2:]) >= PLANTED_SIZE and right and not other and alone and apart:
                eligible.append((i, k))
    planted: dict[tuple[int, int], str] = {}
    kinds = ["missing_annotation"] * PLANTED_DROPPED + ["swapped_label"] * PLANTED_SWAPPED
    for pick in rng.permutation(len(eligible)):
        i, k = eligible[pick]
        if len(planted) < len(kinds) and all(i != j for j, _ in planted):
            planted[i, k] = kinds[len(planted)]
    return planted


def write_coco_task(folder: Path, manifest_name: str, language: str, *, name: str, task_type: str,
                    description: str, images: list, annotations: list, results: list, comment: str) -> Path:
    """A demo task's COCO ground truth and results, and its manifest (with `comment` on top); its path."""
    categories = [{"id": k + 1, "name": label, "supercategory": "shape"} for k, label in enumerate(LABELS)]
    (folder / "ground_truth.json").write_text(json.dumps(
        {"info": {"description": description}, "images": images,
         "annotations": annotations, "categories": categories}, indent=1) + "\n", encoding="utf-8")
    (folder / "predictions.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    manifest = folder / manifest_name
    manifest.write_text(
        "".join(f"# {line}\n" for line in comment.splitlines())
        + f"name: {name}\n"
        f"type: {task_type}\n"
        "images: images\n"
        "ground_truth: {format: coco, path: ground_truth.json}\n"
        "predictions: {format: coco, path: predictions.json}\n"
        f"language: {language}\n", encoding="utf-8")
    return manifest
