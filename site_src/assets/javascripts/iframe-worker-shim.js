/*
 * iframe-worker-shim.js -- a small Web Worker polyfill for pages opened from
 * the local file system (file://).
 *
 * Why this file exists
 * --------------------
 * evalsite reports must work fully offline, straight from disk. Chromium and
 * other browsers refuse to start a Web Worker from a file:// URL, but
 * MkDocs Material runs its search engine in a worker
 * (assets/javascripts/workers/search.*.min.js). Material's "offline" plugin
 * fixes this by adding https://unpkg.com/iframe-worker/shim to
 * `extra.polyfills` -- a network request we must not make. The offline plugin
 * skips that step when an entry of `extra.polyfills` already contains the
 * substring "iframe-worker", hence this file's name.
 *
 * Technique
 * ---------
 * Credit: the technique is that of "iframe-worker" by Martin Donath
 * (https://github.com/squidfunk/iframe-worker, MIT licence). This is an
 * independent, readable re-implementation of it:
 *
 *   - When the page was loaded via file:, window.Worker is replaced by
 *     IFrameWorker. Each "worker" is a hidden, same-origin <iframe> whose
 *     document loads the worker script through an ordinary <script> tag.
 *   - Inside the iframe, `postMessage` and `importScripts` are replaced so the
 *     worker script can talk to the page and load further scripts (via
 *     <script> tags; importScripts therefore returns a Promise, which
 *     Material's worker awaits).
 *   - Messages are structured-cloned in both directions and delivered
 *     asynchronously, as with a real worker.
 *
 * Material's worker looks for `"IFrameWorker" in parent` and then takes the
 * first `script[src]` of its document to locate its lunr language files, so
 * the worker script must be the only script with a src in the iframe.
 *
 * Limitations: classic (non-module) workers only; the worker shares the
 * page's main thread.
 */
(function () {
  "use strict";

  if (window.IFrameWorker) {
    return; /* already installed */
  }

  class IFrameWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;

      /* Resolve relative to the page, the way `new Worker(url)` does. */
      this.url = new URL(String(url), document.baseURI).href;

      /* A hidden, same-origin iframe acts as the worker's global scope. */
      this.iframe = document.createElement("iframe");
      this.iframe.hidden = true;
      this.iframe.setAttribute("aria-hidden", "true");
      this.iframe.tabIndex = -1;
      (document.body || document.documentElement).appendChild(this.iframe);

      /* Start from a fresh, empty document of our own. */
      const win = this.iframe.contentWindow;
      const doc = win.document;
      doc.open();
      doc.write("<!DOCTYPE html><html><head><title>worker</title></head><body></body></html>");
      doc.close();

      /* Worker -> page: clone now, deliver later (like a real worker). */
      win.postMessage = (data) => {
        const copy = structuredClone(data);
        setTimeout(() => this._emit("message", new MessageEvent("message", { data: copy })));
      };

      /* importScripts: load each script in order through a <script> tag.
         Relative URLs resolve against the worker script, as in a worker. */
      win.importScripts = (...urls) => urls.reduce(
        (previous, src) => previous.then(() => loadScript(doc, src, this.url)),
        Promise.resolve()
      );

      /* Uncaught errors of the worker script surface on the worker object. */
      win.addEventListener("error", (event) => {
        this._emit("error", new ErrorEvent("error", {
          message: event.message,
          filename: event.filename,
          lineno: event.lineno,
          colno: event.colno,
          error: event.error
        }));
      });

      /* Load the worker script itself; messages wait until it has run. */
      this.ready = loadScript(doc, this.url, this.url);
      this.ready.catch(() => {
        this._emit("error", new ErrorEvent("error", {
          message: "Failed to load worker script " + this.url,
          filename: this.url
        }));
      });
    }

    /* Page -> worker: clone now, deliver once the worker script has run. */
    postMessage(data) {
      const win = this.iframe.contentWindow;
      if (!win) {
        return; /* terminated */
      }
      const copy = win.structuredClone(data); /* objects of the iframe's realm */
      this.ready.then(() => {
        if (this.iframe.contentWindow) {
          win.dispatchEvent(new win.MessageEvent("message", { data: copy }));
        }
      }, () => {});
    }

    terminate() {
      this.iframe.remove();
    }

    /* Dispatch to addEventListener listeners, then the on<type> property. */
    _emit(type, event) {
      if (!this.iframe.isConnected) {
        return;
      }
      this.dispatchEvent(event);
      const handler = this["on" + type];
      if (typeof handler === "function") {
        handler.call(this, event);
      }
    }
  }

  /* Append <script src> to `doc`; resolve on load, reject on error. */
  function loadScript(doc, src, base) {
    return new Promise((resolve, reject) => {
      const script = doc.createElement("script");
      script.src = new URL(String(src), base).href;
      script.onload = () => resolve();
      script.onerror = () => reject(new Error("Failed to load script " + script.src));
      doc.body.appendChild(script);
    });
  }

  window.IFrameWorker = IFrameWorker;
  if (location.protocol === "file:") {
    window.Worker = IFrameWorker;
  }
})();
