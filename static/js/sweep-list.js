/* The sweep list: every sweep the user can see, from the sweep API, in a sortable and
   filterable table; refreshed every few seconds while any of them is still running. */
(function () {
  "use strict";
  var C = window.Central;
  var REFRESH_MS = 3000;

  function progressCell(sweep) {
    var done = sweep.counts.completed + sweep.counts.failed + sweep.counts.cancelled;
    return C.el("span", { class: "progress-cell" },
      C.el("progress", { max: "100", value: String(sweep.progress), "aria-label": "Sweep #" + sweep.id + " progress" }),
      C.el("span", { class: "muted", text: done + " / " + sweep.cell_count }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = C.pageData();
    var container = document.querySelector("[data-sweep-table]");
    var filter = document.querySelector("[data-sweep-filter]");
    function pageUrl(id) { return data.sweep_page.replace("/0/", "/" + id + "/"); }
    var table = null;
    var labels = {};
    data.metrics.forEach(function (m) { labels[m.key] = m.label; });

    function render(sweeps) {
      if (!table) {
        table = new C.DataTable(container, {
          rowId: function (s) { return s.id; },
          sortKey: "id", sortDir: -1,
          columns: [
            { key: "id", label: "Sweep", value: function (s) { return s.id; },
              format: function (s) { return C.el("a", { href: pageUrl(s.id), text: s.name ? s.name + " #" + s.id : "Sweep #" + s.id }); } },
            { key: "market", label: "Market", value: function (s) { return s.symbol + " " + s.timeframe; } },
            { key: "grid", label: "Grid", value: function (s) { return Object.keys(s.grid).sort().join(" × "); } },
            { key: "status", label: "Status", format: function (s) { return C.el("span", { class: "badge " + s.status, text: s.status }); } },
            { key: "progress", label: "Progress", num: true, format: progressCell },
            { key: "rank_metric", label: "Ranked by", value: function (s) { return labels[s.rank_metric] || s.rank_metric; } },
            { key: "owner", label: "Owner" },
            { key: "created_at", label: "Started", format: function (s) { return C.fmt.date(s.created_at); } },
          ],
          rows: sweeps,
        });
      } else {
        var page = table.page;
        table.setRows(sweeps);
        table.showPage(page);
      }
      if (!sweeps.length) container.appendChild(C.el("p", { class: "muted", text: "No sweeps yet." }));
    }

    function load() {
      C.apiAll(data.api_url).then(function (sweeps) {
        render(sweeps);
        var running = sweeps.some(function (s) { return data.active.indexOf(s.status) >= 0; });
        container.setAttribute("data-loaded", "true");
        if (running) window.setTimeout(load, REFRESH_MS);
      }, function (error) {
        container.replaceChildren(C.el("p", { class: "error-text", role: "alert", text: error.message }));
      });
    }

    filter.addEventListener("input", function () { if (table) table.setFilter(filter.value); });
    load();
  });
})();
