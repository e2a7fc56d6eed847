// The console's own script: live refresh of the parts marked data-live, and "select all" checkboxes.
// Every page works without it; it only saves reloading. No library, nothing from another site.
(function () {
  "use strict";
  var PERIOD_MS = 5000;

  function refresh(element) {
    var url = element.getAttribute("data-live");
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          // signed out, or the sign-in is no longer valid: the page itself shows what to do
          if (response.redirected || response.status === 401 || response.status === 403) {
            window.location.reload();
          }
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          element.innerHTML = html;
          element.setAttribute("data-refreshed", new Date().toISOString());
        }
      })
      .catch(function () { /* the hub is away for a moment: try again next time */ });
  }

  function start() {
    var live = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
    if (live.length) {
      var timer = null;
      var tick = function () { live.forEach(refresh); };
      var run = function () {
        if (timer === null && document.visibilityState === "visible") {
          timer = window.setInterval(tick, PERIOD_MS);
        }
      };
      var pause = function () {
        if (timer !== null) { window.clearInterval(timer); timer = null; }
      };
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") { tick(); run(); } else { pause(); }
      });
      run();
    }
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        var name = box.getAttribute("data-select-all");
        box.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (other) {
          other.checked = box.checked;
        });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
