/* What the dashboard and the run page share about a run's state: which statuses are
   still moving, and how a status badge shows one. */
(function () {
  "use strict";
  var ACTIVE = ["pending", "queued", "running"];
  var LABELS = { pending: "Pending", queued: "Queued", running: "Running", completed: "Completed", failed: "Failed", cancelled: "Cancelled" };

  function isActive(status) { return ACTIVE.indexOf(status) >= 0; }

  /* Sets an existing badge element to `status` (text and class). */
  function setBadge(badge, status) {
    badge.className = "badge " + status;
    badge.textContent = LABELS[status] || status;
  }

  window.Central.backtestStatus = { isActive: isActive, setBadge: setBadge, label: function (s) { return LABELS[s] || s; } };
})();
