/* Live refresh in place, without a CDN: every element with data-live-url is replaced by what that URL answers
   (the same fragment the page rendered), every data-live-seconds seconds. A checkbox with data-live-toggle pauses
   it; hidden tabs do not poll. Controls inside a region keep their state: a region being edited is skipped. */
(function () {
  "use strict";
  function regions() { return Array.prototype.slice.call(document.querySelectorAll("[data-live-url]")); }
  function paused() {
    var toggles = document.querySelectorAll("[data-live-toggle]");
    for (var i = 0; i < toggles.length; i++) { if (!toggles[i].checked) return true; }
    return false;
  }
  function refresh(box) {
    if (paused() || document.hidden || box.contains(document.activeElement) && document.activeElement !== document.body) return;
    fetch(box.dataset.liveUrl, {credentials: "same-origin", headers: {"X-Live-Refresh": "1"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || paused()) return;
        box.innerHTML = html;
        box.dataset.liveRefreshed = String(Date.now());
        var status = document.getElementById("live-status");
        if (status) status.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function () {
        var status = document.getElementById("live-status");
        if (status) status.textContent = "refresh failed; retrying";
      });
  }
  function start() {
    regions().forEach(function (box) {
      var seconds = Math.max(2, parseInt(box.dataset.liveSeconds || "10", 10));
      setInterval(function () { refresh(box); }, seconds * 1000);
    });
    document.querySelectorAll("[data-live-toggle]").forEach(function (toggle) {
      toggle.addEventListener("change", function () {
        var status = document.getElementById("live-status");
        if (status) status.textContent = toggle.checked ? "live" : "paused";
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
