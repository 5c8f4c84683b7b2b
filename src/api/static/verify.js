/* Gatehouse address verification modal (docs/http-api.md §8).
 *
 *   <script src="https://auth.example.com/auth/static/verify.js"></script>
 *   Gatehouse.verify(app, id, function onDone(app, id) { ... }, function onCancel(app, id) { ... });
 *
 * Opens Gatehouse's hosted page for verification `id` of `app` in a modal iframe. onDone runs
 * when the user proved the code; the app's server must then confirm with
 * GET /auth/verifications/{id} (closed: true) — a callback in the browser proves nothing. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : window.location.origin;

  function verify(app, id, onDone, onCancel) {
    var overlay = document.createElement("div");
    overlay.setAttribute("data-gatehouse-verify", "");
    overlay.style.cssText = "position:fixed;inset:0;background:rgba(15,23,42,.55);display:flex;" +
      "align-items:center;justify-content:center;z-index:2147483647";
    var frame = document.createElement("iframe");
    frame.title = "Verification";
    frame.src = base + "/auth/v/" + encodeURIComponent(app) + "/" + encodeURIComponent(id);
    frame.style.cssText = "width:min(26rem,94vw);height:min(32rem,90vh);border:0;border-radius:8px;background:#fff";
    overlay.appendChild(frame);

    function close() {
      window.removeEventListener("message", onMessage);
      if (overlay.parentNode) overlay.parentNode.removeChild(overlay);
    }
    function onMessage(e) {
      if (e.origin !== base || e.source !== frame.contentWindow) return;
      var d = e.data || {};
      if (d.type !== "gatehouse:verify" || d.app !== app || d.id !== id) return;
      close();
      if (d.status === "done" && typeof onDone === "function") onDone(app, id);
      if (d.status === "cancel" && typeof onCancel === "function") onCancel(app, id);
    }
    window.addEventListener("message", onMessage);
    document.body.appendChild(overlay);
    return { close: close };
  }

  window.Gatehouse = window.Gatehouse || {};
  window.Gatehouse.verify = verify;
})();
