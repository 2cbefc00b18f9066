"""Which errors get pictures: a budget per site, and a cap per label that the galleries state.

A site pictures at most PICTURE_IMAGES distinct images (one full view each) and PICTURE_ERRORS error
thumbnails. The galleries show, for every label, its first K errors in gallery order (the most useful
first); K is the largest value in 1..MAX_PER_LABEL for which the whole selection stays within both budgets.
When even K = 1 is over, the labels with the most errors get their first error first (ties: label order),
each one taken while it still fits, and the other labels get none (their pages say that every error is
in errors.csv).

Items that must be pictured before the galleries (the likely label errors of the suspects page: `reserved`)
are taken first, in their order, while they fit; the galleries share what is left. An item already
taken (the same key) costs nothing a second time, and an image already pictured costs no second full
view. An item whose image is None (missing or unreadable: a placeholder) counts as an error but not as an
image.

Pure: no files, no Pillow; the pages and the picture makers only read the result.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

PICTURE_IMAGES = 600  # distinct images with a full view, per site (docs/choices.md#pictures: 38 MB of photographs)
PICTURE_ERRORS = 2_000  # error thumbnails, per site (15 MB of photographs)
MAX_PER_LABEL = 48  # the largest per-label cap

# The site's pictures also share its 100 MB (evalsite.site.budget.Budget.total_bytes; a test keeps the two
# equal) with what is not a picture: `picture_budget` counts that first. The sizes are those of photographs
# (docs/choices.md#pictures: 63 KB and 7.5 KB measured), rounded up; a theme page weighs about 15 KB.
SITE_BYTES = 100_000_000
FULL_VIEW_BYTES = 70_000
THUMB_BYTES = 8_000
PAGE_BYTES = 15_000
MARGIN = 0.1  # of the site budget, kept free

Item = tuple[Hashable, str | None]  # (key of the error's thumbnail, its image; None: nothing to draw)


@dataclass(frozen=True)
class Pictured:
    """The chosen errors: `shown[label]` first errors of each label's gallery, the first `reserved` of the
    reserved items, `cap` (K; 0 when even K = 1 was over the budget and the labels were served by size)."""

    cap: int
    shown: dict[str, int]
    reserved: int
    max_images: int = PICTURE_IMAGES  # the budget it was chosen for
    max_errors: int = PICTURE_ERRORS
    keys: frozenset = field(default_factory=frozenset)  # every pictured error's key
    images: frozenset = field(default_factory=frozenset)  # every pictured image

    @property
    def partial(self) -> bool:
        """True when the budget did not reach one error per label."""
        return self.cap == 0


def picture_budget(other_bytes: int, pages: int) -> tuple[int, int]:
    """(images, errors): how many full views and thumbnails fit beside `other_bytes` of files that are not
    pictures (report.json, downloads) and `pages` pages, within SITE_BYTES less MARGIN: three quarters of
    what is left for full views, a quarter for thumbnails, at most PICTURE_IMAGES and PICTURE_ERRORS (read
    at each call), at least one of each.

    Examples
    --------
    >>> picture_budget(10_000_000, 100)  # a small report: the fixed limits
    (600, 2000)
    >>> picture_budget(71_000_000, 1200)  # 1,200 labels and a 50 MB report.json
    (10, 31)
    """
    left = SITE_BYTES * (1 - MARGIN) - other_bytes - pages * PAGE_BYTES
    images = int(max(1, min(PICTURE_IMAGES, left * 0.75 // FULL_VIEW_BYTES)))
    errors = int(max(1, min(PICTURE_ERRORS, left * 0.25 // THUMB_BYTES)))
    return images, errors


class _Budget:
    def __init__(self, images: int, errors: int) -> None:
        self.max_images, self.max_errors = images, errors
        self.keys: set = set()
        self.images: set = set()

    def fits(self, items: Sequence[Item]) -> bool:
        keys = {key for key, _ in items} - self.keys
        images = {image for _, image in items if image is not None} - self.images
        return (len(self.keys) + len(keys) <= self.max_errors
                and len(self.images) + len(images) <= self.max_images)

    def take(self, items: Sequence[Item]) -> None:
        self.keys.update(key for key, _ in items)
        self.images.update(image for _, image in items if image is not None)


def choose_pictured(by_label: Mapping[str, Sequence[Item]], reserved: Sequence[Item] = (), *,
                    max_images: int | None = None, max_errors: int | None = None,
                    max_per_label: int | None = None) -> Pictured:
    """The errors to picture. `by_label`: each label's errors in gallery order (labels in label order);
    `reserved`: items pictured first (the suspects page), while they fit. The limits default to the
    module's PICTURE_IMAGES, PICTURE_ERRORS and MAX_PER_LABEL (read at each call)."""
    max_images = PICTURE_IMAGES if max_images is None else max_images
    max_errors = PICTURE_ERRORS if max_errors is None else max_errors
    max_per_label = MAX_PER_LABEL if max_per_label is None else max_per_label
    budget = _Budget(max_images, max_errors)
    taken = 0
    for item in reserved:
        if not budget.fits([item]):
            break
        budget.take([item])
        taken += 1
    cap = 0
    for k in range(1, max_per_label + 1):
        layer = [errors[k - 1] for errors in by_label.values() if len(errors) >= k]
        if not layer:  # every label is shown whole: a larger K changes nothing
            cap = max_per_label
            break
        if not budget.fits(layer):
            break
        budget.take(layer)
        cap = k
    if cap:
        shown = {label: min(cap, len(errors)) for label, errors in by_label.items()}
    else:  # not even one error per label: the labels with the most errors first
        shown = dict.fromkeys(by_label, 0)
        for label in sorted(by_label, key=lambda name: -len(by_label[name])):  # stable: label order on ties
            first = list(by_label[label][:1])
            if first and budget.fits(first):
                budget.take(first)
                shown[label] = 1
    return Pictured(cap=cap, shown=shown, reserved=taken, max_images=max_images, max_errors=max_errors,
                    keys=frozenset(budget.keys),
                    images=frozenset(budget.images))
