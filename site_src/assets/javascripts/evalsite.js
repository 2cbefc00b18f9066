/* evalsite: a small lightbox for thumbnails and charts. No network, no libraries.
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

  function bind() {
    if (document.body.dataset.esBound) return;
    document.body.dataset.esBound = "1";
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
