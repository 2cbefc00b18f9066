"""The segmentation part of `evalsite demo`: the detection demo's scenes of shapes, annotated with masks, and
the same kind of small, real model, whose predicted mask of an object is its candidate's connected component.

Nothing is downloaded. The scenes, the candidates and the random forest are those of
`evalsite.demo.detection` (one piece of code per idea; see its docstring). The ground truth is each
shape's visible pixels as drawn (before blur, never its shadow), as COCO instances: a polygon along the
pixel edges for most objects (it reproduces the drawn pixels exactly), and pycocotools' compressed RLE
for the rings and any other object with a hole (which a polygon cannot hold). The model is honest (its
outputs are never moved towards or away from the answers):

1. candidates = connected components of the colour distance from a background plane fitted to the image
   border, at a low and a high threshold (demo.detection's `_candidates`);
2. a random forest, trained on its own training scenes' candidates (an object when its box matches a
   ground-truth box at IoU >= 0.5, as the detector's), gives each candidate its label and score;
3. each detection's mask is its candidate's component, as it is: nothing refines it.

So its mask errors are the method's own, and the report's mask IoU sees them where box IoU does not:

* mask quality (box IoU >= 0.5 with an object of its label, mask IoU < 0.5), mostly rings, whose masks
  are thin: under a lamp a ring's shadow is a ring too and joins its mask at the low threshold, which adds
  more pixels than it widens the box; out of focus, a small ring's line cut at the low threshold is fat
  and its hole shut; in a dark scene only part of a ring's line passes the threshold; a solid shape's
  shadow, less often. The forest learnt from boxes, which are about right in all of these, so it is
  confident about them;
* background: clutter shapes that look like the labelled ones (an octagon is nearly a circle), texture;
* wrong label: a thick ring whose hole is blurred shut has a circle's mask; small or merged masks;
* localisation: a shadow joined to its object's mask, touching objects merged into one mask;
* duplicate: an object whose masks at the two thresholds are both close to it;
* missed: tiny or low-contrast objects, objects merged with a neighbour, low scores, bad masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from evalsite.core.masks.rle import rle_encode, rle_to_string
from evalsite.demo.detection import HEIGHT, LABELS, WIDTH, detect, draw_scene, train_detector, write_coco_task

DEMO_SEED = 0
N_TRAIN = 200
N_EVAL = 100

# the crack directions (row step, column step) in clockwise order on screen: right, down, left, up
_STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0))


# ------------------------------------------------------------------------------------------ annotation

def _outline(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons of a mask without holes: one outline per 4-connected piece, along the pixel edges
    (pixel centres at whole numbers, so the corners are at .5), clockwise on screen, one point per turn.
    Rasterised as pycocotools does (rleFrPoly, then the union of the parts), they give the mask back."""
    padded = np.pad(mask, 1)
    inside = padded[1:-1, 1:-1]
    # every edge between a set and an unset pixel, directed with the set pixel on its right, from corner
    # (r, c) = the top-left corner of pixel (r, c): top edges go right, right edges down, and so on
    edges: dict[tuple[int, int, int], bool] = {}  # (row, column, direction) -> not yet walked
    for direction, ((dr, dc), (sr, sc)) in enumerate(zip(((-1, 0), (0, 1), (1, 0), (0, -1)),
                                                         ((0, 0), (0, 1), (1, 1), (1, 0)))):
        facing = inside & ~padded[1 + dr:padded.shape[0] - 1 + dr, 1 + dc:padded.shape[1] - 1 + dc]
        for r, c in zip(*np.nonzero(facing)):
            edges[int(r) + sr, int(c) + sc, direction] = True
    polygons = []
    for start in sorted(edges):
        if not edges[start]:
            continue
        edge, corners = start, []
        while edges[edge]:
            edges[edge] = False
            r, c, direction = edge
            dr, dc = _STEPS[direction]
            r, c = r + dr, c + dc
            # where two pieces touch at a corner, turn right (clockwise) first: each piece keeps to its loop
            turn = next(d for d in ((direction + 1) % 4, direction, (direction + 3) % 4) if (r, c, d) in edges)
            if turn != direction:
                corners.append((r, c))
            edge = (r, c, turn)
        polygons.append([float(v) for r, c in corners for v in (c - 0.5, r - 0.5)])
    return polygons


def _annotation(label: int, visible: np.ndarray) -> dict:
    """One ground-truth object: label, box and area of its visible pixels, and its mask as COCO holds it."""
    rows, cols = np.nonzero(visible)
    box = [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)]
    if LABELS[label] == "ring" or (ndimage.binary_fill_holes(visible) != visible).any():  # a hole
        segmentation = {"size": [HEIGHT, WIDTH], "counts": rle_to_string(rle_encode(visible))}
    else:
        segmentation = _outline(visible)
    return {"category_id": label + 1, "segmentation": segmentation, "bbox": box, "area": int(visible.sum()),
            "iscrowd": 0}


# ---------------------------------------------------------------------------------------------- files

def write_segmentation_inputs(folder: Path, language: str, seed: int = DEMO_SEED, *,
                              n_train: int = N_TRAIN, n_eval: int = N_EVAL) -> Path:
    """The segmentation demo task (evaluation images, COCO ground truth with masks, COCO results with
    compressed RLE masks, manifest); returns the manifest path. Deterministic given `seed`; only the
    evaluation images are written."""
    model = train_detector(np.random.default_rng([seed, 3]), n_train, seed)
    rng = np.random.default_rng([seed, 4])
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, results = [], [], []
    for i in range(n_eval):
        image, objects, owner = draw_scene(rng, owners=True)
        name = f"scene-{i:04d}.png"
        Image.fromarray(image, mode="RGB").save(folder / "images" / name)
        image_id = i + 1
        images.append({"id": image_id, "file_name": name, "width": WIDTH, "height": HEIGHT})
        for k, (label, _) in enumerate(objects):
            if (owner == k).any():  # (objects drawn later may hide most of one; nobody annotates the unseen)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    **_annotation(label, owner == k)})
        for label, box, score, mask in detect(model, image, masks=True):
            results.append({"image_id": image_id, "category_id": label + 1,
                            "segmentation": {"size": [HEIGHT, WIDTH], "counts": rle_to_string(rle_encode(mask))},
                            "bbox": [round(v, 4) for v in box], "score": round(score, 4)})
    return write_coco_task(folder, "segmentation.yaml", language, name="shapes-masks", task_type="segmentation",
                           description="evalsite demo: generated shapes with masks", images=images,
                           annotations=annotations, results=results, comment=(
                               "The segmentation demo task, written by `evalsite demo`: generated shapes with "
                               "masks and a small\nmodel (colour segmentation, connected components as masks, a "
                               "random forest) trained on other scenes."))
