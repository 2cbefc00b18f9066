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
    var shown = 0;
    document.querySelectorAll(".es-gallery [data-kind]").forEach(function (item) {
      var visible = ticked["kind=" + item.getAttribute("data-kind")] !== false &&
                    ticked["type=" + item.getAttribute("data-type")] !== false;
      item.hidden = !visible;
      if (visible) shown += 1;
    });
    var count = panel.querySelector(".es-filter-count");
    if (count) count.textContent = String(shown);
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
  }

  function bind() {
    if (document.body.dataset.esBound) return;
    document.body.dataset.esBound = "1";
    bindFilters();
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
