/* evalsite: a small lightbox for thumbnails and charts, and the gallery filters. No network, no libraries.
 * Bound on DOMContentLoaded (and Material's document$ when present): under file:// Material's
 * instant navigation is off, so every page load is a real load. */
(function () {
  "use strict";

  function overlay() {
    return document.querySelector(".es-lightbox-overlay");
  }

  function open(link) {
    var box = overlay();
    if (!box) return false;
    var figure = box.querySelector("figure");
    // The <img> exists only while open: an <img> without a source would count as a broken image.
    var image = figure.querySelector("img") || figure.insertBefore(document.createElement("img"), figure.firstChild);
    image.src = link.getAttribute("href");
    image.alt = link.getAttribute("data-caption") || "";
    box.querySelector("figcaption").textContent = link.getAttribute("data-caption") || "";
    box.hidden = false;
    return true;
  }

  function close() {
    var box = overlay();
    if (box && !box.hidden) {
      box.hidden = true;
      var image = box.querySelector("img");
      if (image) image.remove();
    }
  }

  /* Gallery filters: a thumbnail shows when its kind (误识别 false_positive / 漏识别 missed) and its
   * error type are both ticked. "#show=missed" or "#show=false_positive:background" in the address
   * preselects, so confusion-matrix cells can link straight to the right errors. */
  function applyFilters(panel) {
    var ticked = {};
    panel.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      ticked[box.getAttribute("data-filter") + "=" + box.value] = box.checked;
    });
    var shown = 0, below = 0, limit = galleryThreshold();
    document.querySelectorAll(".es-gallery [data-kind]").forEach(function (item) {
      var visible = ticked["kind=" + item.getAttribute("data-kind")] !== false &&
                    ticked["type=" + item.getAttribute("data-type")] !== false;
      // The threshold explorer's choice (#t=…): false positives scored below it are not errors there.
      if (limit !== null && item.hasAttribute("data-score") && parseFloat(item.getAttribute("data-score")) < limit) {
        below += 1;
        visible = false;
      }
      item.hidden = !visible;
      if (visible) shown += 1;
    });
    var count = panel.querySelector(".es-filter-count");
    if (count) count.textContent = String(shown);
    var note = document.querySelector("[data-es-threshold-note]");
    if (note) {
      note.hidden = limit === null;
      if (limit !== null) {
        note.querySelector("[data-es-note-t]").textContent = limit.toFixed(3);
        note.querySelector("[data-es-note-hidden]").textContent = String(below);
      }
    }
  }

  /* The threshold chosen in the explorer, from "#t=0.42" (with or without show=) on a gallery that has the
   * threshold note; null when absent or equal to the report's t*. */
  function hashParam(name) {
    var match = new RegExp("(?:^#|&)" + name + "=([^&]*)").exec(window.location.hash);
    return match ? decodeURIComponent(match[1]) : null;
  }

  function galleryThreshold() {
    var note = document.querySelector("[data-es-threshold-note]");
    var value = parseFloat(hashParam("t"));
    if (!note || !isFinite(value)) return null;
    return value === parseFloat(note.getAttribute("data-t-star")) ? null : value;
  }

  function withHashParam(hash, name, value) {
    var parts = hash.replace(/^#/, "").split("&").filter(function (p) {
      return p && p.indexOf(name + "=") !== 0;
    });
    if (value !== null) parts.push(name + "=" + encodeURIComponent(value));
    return parts.length ? "#" + parts.join("&") : "";
  }

  function presetFilters(panel) {
    var match = /(?:^#|&)show=([^&]*)/.exec(window.location.hash);
    if (!match) return;
    var parts = decodeURIComponent(match[1]).split(":");
    panel.querySelectorAll("input[data-filter=kind]").forEach(function (box) {
      box.checked = box.value === parts[0];
    });
    if (parts[1]) {
      panel.querySelectorAll("input[data-filter=type]").forEach(function (box) {
        box.checked = box.value === parts[1];
      });
    }
  }

  function bindFilters() {
    document.querySelectorAll("[data-es-filters]").forEach(function (panel) {
      presetFilters(panel);
      panel.addEventListener("change", function () { applyFilters(panel); });
      window.addEventListener("hashchange", function () { presetFilters(panel); applyFilters(panel); });
      applyFilters(panel);
    });
    var back = document.querySelector("[data-es-threshold-back]");
    if (back) {
      back.addEventListener("click", function (event) {
        event.preventDefault();
        var hash = withHashParam(window.location.hash, "t", null);
        window.location.hash = hash || "#";
      });
    }
  }

  /* The threshold explorer (details page of detection/segmentation reports): counts precomputed by the
   * generator in thresholds.js (window.ES_THRESHOLDS, see generator/metrics/threshold_table.py); at a
   * threshold t, a label counts its detections scored >= t, i.e. the entry of the next grid score >= t. */
  function countsAt(table, t, only) {
    var grid = table.thresholds, g = Infinity, i;
    for (i = 0; i < grid.length; i++) if (grid[i] >= t && grid[i] < g) g = grid[i];
    var tp = 0, fp = 0, fn = 0, f1sum = 0, f1n = 0;
    table.labels.forEach(function (entry, c) {
      var k = 0;
      while (k < entry.at.length && grid[entry.at[k]] >= g) k++;
      var a = k ? entry.tp[k - 1] : 0, b = k ? entry.fp[k - 1] : 0, f = entry.n_gt - a;
      var f1 = 2 * a + b + f ? 2 * a / (2 * a + b + f) : 0;
      if (only === null || only === c) { tp += a; fp += b; fn += f; }
      if (only === c) { f1sum = f1; f1n = 1; }
      if (only === null && entry.in_mean) { f1sum += f1; f1n += 1; }
    });
    return {threshold: g, tp: tp, fp: fp, fn: fn, precision: tp + fp ? tp / (tp + fp) : 0,
            recall: tp + fn ? tp / (tp + fn) : 0, f1: f1n ? f1sum / f1n : 0};
  }

  function bindExplorer() {
    var box = document.querySelector("[data-es-explorer]");
    var table = window.ES_THRESHOLDS;
    if (!box || !table) return;
    var range = box.querySelector("[data-es-range]"), number = box.querySelector("[data-es-number]");
    var select = box.querySelector("[data-es-label]"), gallery = box.querySelector("[data-es-gallery]");
    var grid = table.thresholds, tStar = table.t_star;
    var low = Math.min(0, grid.length ? grid[grid.length - 1] : 0), high = Math.max(1, grid.length ? grid[0] : 1);
    [range, number].forEach(function (input) { input.min = String(low); input.max = String(high); });
    if (!table.complete) {
      box.querySelector("[data-es-grid-size]").textContent = String(grid.length);
      box.querySelector("[data-es-thinned]").hidden = false;
    }
    var start = tStar === null ? low : tStar;
    function show(t, source) {
      if (!isFinite(t)) return;
      var only = select.value === "" ? null : parseInt(select.value, 10);
      var r = countsAt(table, t, only);
      var shownT = table.complete || !isFinite(r.threshold) ? t : r.threshold;
      r.threshold = shownT;
      Object.keys(r).forEach(function (key) {
        var cell = box.querySelector('[data-es-out="' + key + '"]');
        if (!cell) return;
        cell.setAttribute("data-value", String(r[key]));
        cell.textContent = key === "tp" || key === "fp" || key === "fn" ? String(r[key]) : r[key].toFixed(3);
      });
      if (source !== range) range.value = String(t);
      if (source !== number) number.value = t.toFixed(3);
      box.setAttribute("data-threshold", String(t));
      // Galleries follow the chosen threshold: every gallery link of this page carries it (#t=…).
      var value = t === tStar ? null : String(t);
      document.querySelectorAll('a[href*="errors/label-"]').forEach(function (a) {
        var href = a.getAttribute("href"), at = href.indexOf("#");
        var base = at < 0 ? href : href.slice(0, at), hash = at < 0 ? "" : href.slice(at);
        a.setAttribute("href", base + withHashParam(hash, "t", value));
      });
      var option = select.options[select.selectedIndex];
      var target = option && option.getAttribute("data-gallery");
      gallery.hidden = !target;
      if (target) gallery.setAttribute("href", target + withHashParam("", "t", value));
      if (source !== undefined && window.history && window.history.replaceState) {
        window.history.replaceState(null, "", withHashParam(window.location.hash, "t", value) ||
                                    window.location.pathname + window.location.search);
      }
    }
    range.addEventListener("input", function () { show(parseFloat(range.value), range); });
    number.addEventListener("change", function () { show(parseFloat(number.value), number); });
    number.addEventListener("input", function () { show(parseFloat(number.value), number); });
    select.addEventListener("change", function () { show(parseFloat(box.getAttribute("data-threshold")), select); });
    box.querySelector("[data-es-reset]").addEventListener("click", function () { show(start, null); });
    var fromHash = parseFloat(hashParam("t"));
    show(isFinite(fromHash) ? fromHash : start);
  }

  /* Tables: every data table of more than a few rows sorts by a click on its header; one of more than
   * PAGED_FROM rows also gets a filter box and pages of PAGE_ROWS rows (per-label tables at 1,000+ labels).
   * The texts come from the message catalogue through window.ES_TEXT (overrides/main.html). */
  var SORTED_FROM = 5, PAGED_FROM = 25, PAGE_ROWS = 50;

  function text(key, values) {
    var all = window.ES_TEXT || {};
    var template = all[key] || key;
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  function sortKey(cell) {
    var raw = (cell.getAttribute("data-sort") || cell.textContent || "").trim();
    var number = parseFloat(raw.replace(/[−–]/g, "-").replace(/[,\s×%]/g, "").replace(/^\+/, ""));
    if (raw === "" || raw === "–" || raw === "-") return {missing: true, number: NaN, text: ""};
    return {missing: false, number: isFinite(number) && /^[−\-+]?[\d.,\s]+(%|×|pp)?/.test(raw) ? number : NaN,
            text: raw.toLowerCase()};
  }

  function compareKeys(a, b) {
    if (a.missing || b.missing) return a.missing === b.missing ? 0 : (a.missing ? 1 : -1);
    if (!isNaN(a.number) && !isNaN(b.number)) return a.number - b.number;
    return a.text < b.text ? -1 : (a.text > b.text ? 1 : 0);
  }

  function enhanceTable(table) {
    var body = table.tBodies[0];
    if (!body || !table.tHead || table.hasAttribute("data-es-table")) return;
    var rows = Array.prototype.slice.call(body.rows);
    if (rows.length < SORTED_FROM) return;
    table.setAttribute("data-es-table", "1");
    var paged = rows.length > PAGED_FROM, page = 0, matching = rows;
    var bar = null, filter = null, count = null, previous = null, next = null;
    if (paged) {
      bar = document.createElement("div");
      bar.className = "es-table-bar";
      filter = document.createElement("input");
      filter.type = "search";
      filter.className = "es-table-filter";
      filter.placeholder = text("table_filter");
      filter.setAttribute("aria-label", text("table_filter"));
      count = document.createElement("span");
      count.className = "es-table-count";
      previous = document.createElement("button");
      previous.type = "button";
      previous.textContent = text("table_previous");
      next = document.createElement("button");
      next.type = "button";
      next.textContent = text("table_next");
      [filter, count, previous, next].forEach(function (node) { bar.appendChild(node); });
      table.parentNode.insertBefore(bar, table);
    }
    function show() {
      if (!paged) return;
      var pages = Math.max(1, Math.ceil(matching.length / PAGE_ROWS));
      page = Math.min(page, pages - 1);
      var first = page * PAGE_ROWS, last = Math.min(first + PAGE_ROWS, matching.length);
      var visible = new Set(matching.slice(first, last));
      rows.forEach(function (row) { row.hidden = !visible.has(row); });
      count.textContent = matching.length ? text("table_rows", {first: first + 1, last: last, total: matching.length, all: rows.length})
                                          : text("table_none", {all: rows.length});
      previous.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    if (paged) {
      filter.addEventListener("input", function () {
        var wanted = filter.value.trim().toLowerCase();
        matching = rows.filter(function (row) { return !wanted || row.textContent.toLowerCase().indexOf(wanted) >= 0; });
        page = 0;
        show();
      });
      previous.addEventListener("click", function () { page -= 1; show(); });
      next.addEventListener("click", function () { page += 1; show(); });
    }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, column) {
      header.classList.add("es-sortable");
      header.setAttribute("tabindex", "0");
      header.title = text("table_sort");
      function sort() {
        var descending = header.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var keyed = rows.map(function (row, index) {
          return {row: row, index: index, key: sortKey(row.cells[column] || row.cells[0])};
        });
        keyed.sort(function (a, b) {
          var order = compareKeys(a.key, b.key);
          if (descending && !a.key.missing && !b.key.missing) order = -order;
          return order || a.index - b.index;
        });
        rows = keyed.map(function (k) { return k.row; });
        rows.forEach(function (row) { body.appendChild(row); });
        var order = new Set(matching);
        matching = rows.filter(function (row) { return order.has(row); });
        show();
      }
      header.addEventListener("click", sort);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
    show();
  }

  function bindTables() {
    document.querySelectorAll(".md-typeset table").forEach(function (table) {
      if (!table.closest(".es-matrix, .es-explorer") && !table.classList.contains("es-matrix")) enhanceTable(table);
    });
  }

  function bind() {
    if (document.body.dataset.esBound) return;
    document.body.dataset.esBound = "1";
    bindTables();
    bindFilters();
    bindExplorer();
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.es-lightbox") : null;
      if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && open(link)) {
        event.preventDefault();
        return;
      }
      if (event.target.closest && event.target.closest(".es-lightbox-overlay")) close();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") close();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", bind);
  } else {
    bind();
  }
})();
