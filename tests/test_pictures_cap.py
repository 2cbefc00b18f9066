"""The picture budget (evalsite.render.pictured): hand-made cases, worked out on paper."""

from __future__ import annotations

import pytest

from evalsite.render import pictured
from evalsite.render.pictured import choose_pictured


def errors(label: str, n: int, images: list[str] | None = None) -> list[tuple[str, str | None]]:
    """n errors of `label`, each on its own image unless `images` says which."""
    return [(f"{label}{i}", images[i] if images else f"{label}-img{i}") for i in range(n)]


def test_everything_fits_the_largest_cap_is_used() -> None:
    chosen = choose_pictured({"a": errors("a", 3), "b": errors("b", 1)}, max_images=100, max_errors=100)
    assert chosen.cap == 48 and chosen.shown == {"a": 3, "b": 1} and not chosen.partial
    assert len(chosen.keys) == 4 and len(chosen.images) == 4


def test_cap_is_the_largest_k_within_the_error_budget() -> None:
    # a: 10, b: 4, c: 1 errors, one image each. Thumbnails for K: K=3 -> 3+3+1 = 7; K=4 -> 4+4+1 = 9;
    # K=5 -> 5+4+1 = 10; K=6 -> 11. A budget of 10 errors: K = 5.
    by_label = {"a": errors("a", 10), "b": errors("b", 4), "c": errors("c", 1)}
    chosen = choose_pictured(by_label, max_images=1000, max_errors=10)
    assert chosen.cap == 5 and chosen.shown == {"a": 5, "b": 4, "c": 1}
    assert chosen.keys == {"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "c0"}
    # One fewer: K=5 is over (10 > 9), K=4 fits exactly.
    assert choose_pictured(by_label, max_images=1000, max_errors=9).cap == 4


def test_cap_is_bounded_by_distinct_images() -> None:
    # Detection: several errors on one image cost one full view. a's errors are on images x, x, y, z;
    # b's on x, y, w. K=1: {x} -> 1 image; K=2: {x, y} -> 2; K=3: {x, y, w} -> 3; K=4: {x, y, z, w} -> 4.
    by_label = {"a": errors("a", 4, ["x", "x", "y", "z"]), "b": errors("b", 3, ["x", "y", "w"])}
    assert choose_pictured(by_label, max_images=3, max_errors=100).shown == {"a": 3, "b": 3}
    assert choose_pictured(by_label, max_images=2, max_errors=100).shown == {"a": 2, "b": 2}
    assert choose_pictured(by_label, max_images=1, max_errors=100).shown == {"a": 1, "b": 1}
    chosen = choose_pictured(by_label, max_images=4, max_errors=100)
    assert chosen.cap == 48 and chosen.images == {"x", "y", "z", "w"} and len(chosen.keys) == 7


def test_cap_never_exceeds_max_per_label() -> None:
    chosen = choose_pictured({"a": errors("a", 100)}, max_images=1000, max_errors=1000, max_per_label=48)
    assert chosen.cap == 48 and chosen.shown == {"a": 48} and len(chosen.keys) == 48


def test_when_k1_is_over_the_labels_with_most_errors_come_first() -> None:
    # 4 labels with errors, a budget of 2 errors: not even one each. By size: c (5), then a and d (3 each:
    # label order on the tie), then b (2). The first two fit.
    by_label = {"a": errors("a", 3), "b": errors("b", 2), "c": errors("c", 5), "d": errors("d", 3)}
    chosen = choose_pictured(by_label, max_images=100, max_errors=2)
    assert chosen.partial and chosen.cap == 0
    assert chosen.shown == {"a": 1, "b": 0, "c": 1, "d": 0}  # c (5), then a (3; before d in label order)
    assert chosen.keys == {"c0", "a0"}


def test_when_k1_is_over_a_shared_image_still_fits() -> None:
    # Image budget 1: c's first error is on image x; a's on y (does not fit); b's on x again (fits: no new
    # image). The greedy pass skips what does not fit and goes on.
    by_label = {"a": errors("a", 2, ["y", "y"]), "b": errors("b", 1, ["x"]), "c": errors("c", 3, ["x", "x", "x"])}
    chosen = choose_pictured(by_label, max_images=1, max_errors=10)
    assert chosen.partial and chosen.shown == {"a": 0, "b": 1, "c": 1} and chosen.images == {"x"}


def test_placeholders_count_as_errors_not_images() -> None:
    by_label = {"a": [("a0", None), ("a1", None), ("a2", "p")]}
    chosen = choose_pictured(by_label, max_images=1, max_errors=3)
    assert chosen.shown == {"a": 3} and chosen.images == {"p"} and len(chosen.keys) == 3


def test_reserved_items_come_first_and_cost_once() -> None:
    # Suspects b1 and a0 are pictured first (2 errors, 2 images); budget 4 errors. Then K=1 adds b0 (a0 is
    # already in): 3 errors; K=2 adds a1 (b1 already in): 4 errors; K=3 would add a2: 5 > 4.
    by_label = {"a": errors("a", 3), "b": errors("b", 2)}
    chosen = choose_pictured(by_label, [("b1", "b-img1"), ("a0", "a-img0")], max_images=100, max_errors=4)
    assert chosen.reserved == 2 and chosen.cap == 2 and chosen.shown == {"a": 2, "b": 2}
    assert chosen.keys == {"a0", "a1", "b0", "b1"}


def test_reserved_items_stop_at_the_budget() -> None:
    chosen = choose_pictured({"a": errors("a", 2)}, [("s0", "i0"), ("s1", "i1"), ("s2", "i2")],
                             max_images=2, max_errors=10)
    assert chosen.reserved == 2 and chosen.shown == {"a": 0} and chosen.partial


def test_no_errors_at_all() -> None:
    chosen = choose_pictured({})
    assert chosen.shown == {} and chosen.cap == pictured.MAX_PER_LABEL and chosen.keys == frozenset()


def test_the_site_budget_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pictured, "PICTURE_IMAGES", 5)
    chosen = choose_pictured({"a": errors("a", 4), "b": errors("b", 4)})
    assert chosen.cap == 2 and len(chosen.images) == 4 and chosen.max_images == 5
    assert pictured.PICTURE_ERRORS == 2000 and pictured.MAX_PER_LABEL == 48


def test_pictures_share_the_site_budget_with_what_is_not_a_picture() -> None:
    """picture_budget: the fixed limits for a small report; fewer pictures as report.json, the downloads and
    the pages take more of the 100 MB; never none."""
    from evalsite.site.budget import Budget

    assert pictured.SITE_BYTES == Budget().total_bytes
    assert pictured.picture_budget(5_000_000, 50) == (pictured.PICTURE_IMAGES, pictured.PICTURE_ERRORS)
    sizes = [pictured.picture_budget(other, 1200) for other in (40_000_000, 55_000_000, 70_000_000)]
    assert sizes[0][0] > sizes[1][0] > sizes[2][0] >= 1 and sizes[0][1] > sizes[1][1] > sizes[2][1] >= 1
    images, errors = sizes[1]  # 55 MB of other files and 1,200 pages: what is left fits, with the margin
    left = 90_000_000 - 55_000_000 - 1200 * pictured.PAGE_BYTES
    assert images * pictured.FULL_VIEW_BYTES + errors * pictured.THUMB_BYTES <= left
    assert pictured.picture_budget(200_000_000, 10_000) == (1, 1)


def test_coco_scale_holds_both_budgets() -> None:
    # 80 labels, 22,416 errors over 5,000 images (the COCO-scale site), spread unevenly.
    by_label = {}
    k = 0
    for label in range(80):
        n = 30 + 15 * (label % 20)
        by_label[f"L{label}"] = [(f"e{k + i}", f"img{(k + i * 7) % 5000}") for i in range(n)]
        k += n
    chosen = choose_pictured(by_label)
    assert 1 <= chosen.cap < 48
    assert len(chosen.keys) <= 2000 and len(chosen.images) <= 600
    over = choose_pictured(by_label, max_per_label=chosen.cap + 1)  # one more per label would not fit
    assert over.cap == chosen.cap
