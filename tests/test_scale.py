"""Reports stay light whatever the number of labels (docs/scale.md): at 300 labels, classification and detection
sites stay within the page, data-file and file budgets with room for four times as many labels, their navigation
has no entry per label (the label index page lists them, with a filter), search still finds each label's page,
and a site over its budget says what is big."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from many_labels import write_coco_task
from PIL import Image

from evalsite.cli import main
from evalsite.site.budget import MB, Budget, budget_for, loaded_by_pages, measure, over_budget, zip_over_budget

from conftest import write_task

N_LABELS = 300


def write_many_label_detection(folder: Path, n_labels: int, n_images: int, seed: int = 0) -> Path:
    """COCO ground truth and results: two objects per 64x48 image, found, missed, mislabelled or shifted."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, results = [], [], []
    for i in range(n_images):
        Image.new("RGB", (64, 48), tuple(int(v) for v in rng.integers(0, 255, 3))).save(folder / "images" / f"{i}.jpg")
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48})
        for k, box in enumerate(([2, 2, 24, 20], [34, 20, 26, 24])):
            label = int(rng.integers(n_labels))
            annotations.append({"id": 2 * i + k, "image_id": i, "category_id": label, "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
            fate = rng.random()
            if fate < 0.15:
                continue  # missed
            predicted = label if fate < 0.75 else (label + 1) % n_labels  # confused with a neighbour
            results.append({"image_id": i, "category_id": predicted, "bbox": [box[0] + 1, box[1], box[2], box[3]],
                            "score": round(float(rng.uniform(0.3, 1.0)), 4)})
        if rng.random() < 0.3:
            results.append({"image_id": i, "category_id": int(rng.integers(n_labels)), "bbox": [40, 2, 10, 10],
                            "score": round(float(rng.uniform(0.05, 0.9)), 4)})
    categories = [{"id": c, "name": f"thing {c:04d}"} for c in range(n_labels)]
    return write_coco_task(folder, "many-det", images, annotations, results, categories)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("scale")
    labels = [f"class {c:04d}" for c in range(N_LABELS)]
    classification = write_task(root / "cls", labels, n_images=3 * N_LABELS, name="many-cls")
    detection = write_many_label_detection(root / "det", N_LABELS, n_images=2 * N_LABELS)
    out = root / "out"
    result = CliRunner().invoke(main, ["build", str(classification), str(detection), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.parametrize("site", ["many-cls", "many-det"])
def test_within_budget_with_room_for_four_times_the_labels(sites: tuple[Path, str], site: str) -> None:
    out, output = sites
    assert "budget" not in output, output  # the build measured itself and found nothing over
    size = measure(out / site)
    budget = budget_for(3 * N_LABELS)
    # Pages and data files grow at most linearly with labels: at 300 labels a quarter of the budget leaves
    # room for the 1,200 labels the budget is stated for.
    assert size.largest_page[1] <= budget.page_bytes / 4, size.largest_page
    assert size.largest_data[1] <= budget.data_bytes, size.largest_data
    # The theme's assets (assets/: lunr's word splitter is 0.7 MB) do not grow with labels; the report's own
    # data files (thresholds.js, the search index) do.
    files = ((f.stat().st_size, f.relative_to(out / site).as_posix()) for f in (out / site).rglob("*"))
    own = max((size, rel) for size, rel in files if loaded_by_pages(rel) and not rel.startswith("assets/"))
    assert own[0] <= budget.data_bytes / 4, own
    assert size.total_bytes <= budget.total_bytes / 4, size.folders
    assert size.files <= budget.files / 4, size.files


@pytest.mark.parametrize("site", ["many-cls", "many-det"])
def test_navigation_has_no_entry_per_label(sites: tuple[Path, str], site: str) -> None:
    out, _ = sites
    page = (out / site / "index.html").read_text(encoding="utf-8")
    nav = re.search(r'<nav class="md-nav md-nav--primary".*?</nav>', page, re.S)
    assert nav is not None
    links = re.findall(r'class="md-nav__link[^"]*"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*class="md-nav__link',
                       nav.group(0))
    targets = {a or b for a, b in links}
    assert 4 <= len(targets) <= 10, targets
    assert not any("label-" in t for t in targets), targets
    assert "thing 0001" not in nav.group(0) and "class 0001" not in nav.group(0)


@pytest.mark.parametrize("site", ["many-cls", "many-det"])
def test_label_index_lists_every_label_with_a_link(sites: tuple[Path, str], site: str) -> None:
    out, _ = sites
    index = (out / site / "errors" / "index.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="(label-\d+\.html)"', index))
    galleries = {p.name for p in (out / site / "errors").glob("label-*.html")}
    assert linked == galleries and len(galleries) >= N_LABELS // 2, (len(linked), len(galleries))


@pytest.mark.parametrize("site", ["many-cls", "many-det"])
def test_search_finds_every_label_page(sites: tuple[Path, str], site: str) -> None:
    out, _ = sites
    docs = json.loads((out / site / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]
    found = {d["location"].split("#")[0] for d in docs}
    galleries = {f"errors/{p.name}" for p in (out / site / "errors").glob("label-*.html")}
    assert galleries <= found, sorted(galleries - found)[:5]


@pytest.mark.parametrize("site", ["many-cls", "many-det"])
def test_many_labels_get_pairs_a_map_and_the_csv(sites: tuple[Path, str], site: str) -> None:
    """Above 30 labels: no HTML matrix; the most confused pairs link to galleries; one compact heat map."""
    out, _ = sites
    details = (out / site / "details.html").read_text(encoding="utf-8")
    assert "es-matrix" not in details
    pairs = details[details.index("Most frequent mistakes"):]
    pairs = pairs[:pairs.index("</table>")]
    assert len(re.findall(r"<tr>", pairs)) >= 10
    assert re.search(r'href="errors/label-\d+\.html(#show=[a-z_:]+)?"', pairs), pairs[:2000]
    with Image.open(out / site / "charts" / "confusion.png") as chart:
        assert max(chart.size) <= 1200
    assert (out / site / "charts" / "confusion.png").stat().st_size < 300_000
    assert (out / site / "downloads" / "confusion.csv").is_file()


def test_confusion_csv_is_sklearns_matrix(sites: tuple[Path, str]) -> None:
    """downloads/confusion.csv of the 300-label classification = scikit-learn's confusion_matrix of the inputs
    (top-1 = the highest score, the first label on ties)."""
    import csv

    from sklearn.metrics import confusion_matrix

    out, _ = sites
    inputs = out.parent / "cls"
    with open(inputs / "gt.csv", encoding="utf-8") as handle:
        truth = {row["image"]: row["label"] for row in csv.DictReader(handle)}
    with open(inputs / "pred.csv", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        labels = next(reader)[1:]
        predicted = {row[0]: labels[int(np.argmax([float(v) for v in row[1:]]))] for row in reader}
    images = sorted(truth)
    with open(out / "many-cls" / "downloads" / "confusion.csv", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    columns, rows = table[0][1:], [row[0] for row in table[1:]]
    assert columns == rows  # every image has a prediction: no "no prediction" column
    expected = confusion_matrix([truth[i] for i in images], [predicted[i] for i in images], labels=rows)
    np.testing.assert_array_equal(np.array([[int(v) for v in row[1:]] for row in table[1:]]), expected)


def test_over_budget_names_what_is_big(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "full").mkdir(parents=True)
    (site / "full" / "a.jpg").write_bytes(b"x" * 3000)
    (site / "index.html").write_bytes(b"<p>" * 700)
    (site / "search").mkdir()
    (site / "search" / "search_index.json").write_bytes(b"{}" * 600)
    size = measure(site)
    assert (size.total_bytes, size.files) == (3000 + 2100 + 1200, 3)
    assert size.largest_page == ("index.html", 2100) and size.largest_data == ("search/search_index.json", 1200)
    lines = over_budget(size, Budget(total_bytes=5000, files=2, page_bytes=2000, data_bytes=1000))
    assert len(lines) == 4
    assert "full 0.0 MB" in lines[0] and "over its" in lines[0]
    assert "3 files" in lines[1]
    assert "index.html" in lines[2] and "search/search_index.json" in lines[3]
    assert over_budget(size, Budget()) == []
    assert budget_for(50_000).files == 20_000 and budget_for(5_000) == Budget()
    assert Budget().total_bytes == 100 * MB
    (tmp_path / "site.zip").write_bytes(b"z" * 3000)
    warning = zip_over_budget(tmp_path / "site.zip", Budget(total_bytes=2999))
    assert warning is not None and warning.startswith("site.zip: the zip is") and "over the" in warning
    assert zip_over_budget(tmp_path / "site.zip", Budget(total_bytes=3000)) is None


def test_build_warns_when_over_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evalsite.site.budget as budget

    monkeypatch.setattr(budget, "budget_for", lambda images: Budget(total_bytes=1000, files=5))
    manifest = write_task(tmp_path / "in", ["cat", "dog"], n_images=12, name="small")
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "small: the site is" in result.output and "over its 0.0 MB budget" in result.output, result.output
    assert "files, over its 5 budget" in result.output
    assert (tmp_path / "out" / "small" / "index.html").is_file()  # published anyway: a warning, not an error
