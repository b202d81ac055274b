/* The dashboard's recent backtests stay current: while any is pending, queued or
   running, the backtest API is polled every few seconds and each row's status,
   progress, error and result link follow. */
(function () {
  "use strict";
  var C = window.Central;
  var status = C.backtestStatus;
  var POLL_MS = 3000;

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.querySelector("[data-dashboard-runs]");
    if (!panel) return;
    var note = panel.querySelector("[data-live-note]");
    var count = Number(panel.getAttribute("data-recent")) || 10;

    function rows() { return Array.prototype.slice.call(panel.querySelectorAll("[data-run-row]")); }
    function anyActive() { return rows().some(function (row) { return status.isActive(row.getAttribute("data-status")); }); }

    function update(row, run) {
      row.setAttribute("data-status", run.status);
      status.setBadge(row.querySelector("[data-status-badge]"), run.status);
      var progress = row.querySelector("[data-progress]");
      progress.value = Number(run.progress) || 0;
      progress.textContent = Math.round(Number(run.progress) || 0) + " %";
      progress.hidden = run.status !== "running";
      if (run.status !== "queued") row.querySelector("[data-queue-position]").textContent = "";
      var error = row.querySelector("[data-run-error]");
      error.textContent = run.error || "";
      error.hidden = run.status !== "failed";
      row.querySelector("[data-result-link]").hidden = run.status !== "completed";
    }

    function poll() {
      C.api("/api/backtests/?page_size=" + count).then(function (page) {
        var byId = {};
        (page.results || page).forEach(function (run) { byId[run.id] = run; });
        rows().forEach(function (row) {
          var run = byId[row.getAttribute("data-run-row")];
          if (run) update(row, run);
        });
        note.textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC";
        schedule();
      }, function (error) {
        note.textContent = "Live status paused: " + error.message;
        window.setTimeout(poll, POLL_MS * 3);
      });
    }

    function schedule() {
      if (anyActive()) { window.setTimeout(poll, POLL_MS); note.hidden = false; }
      else { note.textContent = ""; }
    }
    schedule();
  });
})();
