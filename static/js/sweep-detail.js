/* One sweep: status and progress polled from the sweep API every two seconds until it
   finishes, cancel, the ranking as a sortable table, and the results by parameter — a
   heat map for two parameters (or two chosen axes, best over the others), bars for one.
   The metric selector re-ranks through the API (?rank_metric=) and recolours the map. */
(function () {
  "use strict";
  var C = window.Central;
  var POLL_MS = 2000;
  // Spreadsheet-style scale, readable with dark text in both themes: worse -> better.
  var RATED = [[248, 105, 107], [255, 235, 132], [99, 190, 123]];
  var NEUTRAL = [[239, 243, 255], [107, 174, 214]];

  function mix(stops, t) {
    var span = (stops.length - 1) * Math.min(1, Math.max(0, t));
    var i = Math.min(stops.length - 2, Math.floor(span));
    var f = span - i;
    var a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); }).join(", ") + ")";
  }

  function gradient(stops) {
    return "linear-gradient(to right, " + stops.map(function (s, i) {
      return mix(stops, i / (stops.length - 1));
    }).join(", ") + ")";
  }

  function numericSort(values) {
    return values.slice().sort(function (a, b) {
      return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = C.pageData();
    var metrics = {};
    data.metrics.forEach(function (m) { metrics[m.key] = m; });
    var keys = Object.keys(data.grid).sort();
    var axes = { x: keys[0], y: keys[1] };
    var metric = data.rank_metric;
    var statusBox = document.querySelector("[data-sweep-status]");
    var errorBox = document.querySelector("[data-sweep-error]");
    var cancelButton = document.querySelector("[data-cancel-sweep]");
    var metricSelect = document.querySelector("[data-metric-select]");
    var mapBox = document.querySelector("[data-heatmap]");
    var legendBox = document.querySelector("[data-heatmap-legend]");
    var rankingBox = document.querySelector("[data-ranking]");
    var compareTop = document.querySelector("[data-compare-top]");
    var latest = null;
    var timer = null;
    var requestSerial = 0;
    var loadFailed = false;
    var table = null;
    var tableMetric = null;

    function backtestUrl(id) { return data.backtest_page.replace("/0/", "/" + id + "/"); }
    function isActive(status) { return data.active.indexOf(status) >= 0; }
    function better() { return (metrics[metric] || {}).better || null; }
    function label() { return (metrics[metric] || {}).label || metric; }

    function showError(message) {
      errorBox.hidden = !message;
      errorBox.textContent = message || "";
    }

    /* --- status ------------------------------------------------------------------ */
    function renderStatus(sweep) {
      var badge = statusBox.querySelector("[data-status]");
      badge.className = "badge " + sweep.status;
      badge.textContent = sweep.status;
      statusBox.setAttribute("data-sweep-status", sweep.status);
      var progress = statusBox.querySelector("[data-progress]");
      progress.value = sweep.progress;
      progress.textContent = sweep.progress + " %";
      var c = sweep.counts;
      var done = c.completed + c.failed + c.cancelled;
      var parts = [c.completed + " completed"];
      if (c.failed) parts.push(c.failed + " failed");
      if (c.cancelled) parts.push(c.cancelled + " cancelled");
      if (c.running) parts.push(c.running + " running");
      if (c.queued + c.pending) parts.push(c.queued + c.pending + " waiting");
      statusBox.querySelector("[data-progress-text]").textContent =
        done + " of " + sweep.cell_count + " cells finished (" + parts.join(", ") + ")." + (sweep.error ? " " + sweep.error : "");
      if (cancelButton) cancelButton.hidden = !isActive(sweep.status);
    }

    /* --- ranking table ------------------------------------------------------------- */
    function renderRanking(sweep) {
      var rows = sweep.ranking;
      if (!table || tableMetric !== metric) {
        tableMetric = metric;
        var columns = [
          { key: "rank", label: "Rank", num: true, value: function (r) { return r.rank === null ? Infinity : r.rank; },
            format: function (r) { return r.rank === null ? "–" : String(r.rank); } },
        ];
        keys.forEach(function (name) {
          columns.push({ key: "param:" + name, label: name, num: true, value: function (r) { return r.parameters[name]; } });
        });
        columns.push(
          { key: "status", label: "Status", format: function (r) { return C.el("span", { class: "badge " + r.status, text: r.status }); } },
          { key: "value", label: label(), num: true, format: function (r) { return C.fmt.number(r.value, 4); } },
          { key: "total_pnl_percentage", label: "Return %", num: true, format: function (r) { return C.fmt.number(r.total_pnl_percentage, 2); } },
          { key: "sharpe_ratio", label: "Sharpe", num: true, format: function (r) { return C.fmt.number(r.sharpe_ratio, 3); } },
          { key: "max_drawdown_percentage", label: "Max DD %", num: true, format: function (r) { return C.fmt.number(r.max_drawdown_percentage, 2); } },
          { key: "total_trades", label: "Trades", num: true },
          { key: "backtest", label: "Backtest", sortable: false,
            format: function (r) { return C.el("a", { href: backtestUrl(r.backtest), text: "#" + r.backtest }); } });
        table = new C.DataTable(rankingBox, {
          columns: columns, rows: rows, pageSize: 50, sortKey: "rank", sortDir: 1,
          rowId: function (r) { return r.backtest; },
          rowClass: function (r) { return r.rank === 1 ? "selected" : ""; },
          caption: "Ranked by " + label(),
        });
      } else {
        var page = table.page;
        table.setRows(rows);
        table.showPage(page);
      }
      rankingBox.setAttribute("data-cell-count", String(rows.length));
      var top = rows.filter(function (r) { return r.rank !== null; }).slice(0, 3);
      compareTop.hidden = top.length < 2;
      compareTop.href = data.compare_page + "?ids=" + top.map(function (r) { return r.backtest; }).join(",");
    }

    /* --- results by parameter ----------------------------------------------------------- */
    function bestOf(cells) {
      var dir = better();
      var valued = cells.filter(function (c) { return c.value !== null; });
      if (!valued.length) return cells[0] || null;
      return valued.reduce(function (a, b) {
        if (dir === "lower") return b.value < a.value ? b : a;
        return b.value > a.value ? b : a;
      });
    }

    function colourScale(values) {
      var finite = values.filter(function (v) { return v !== null; });
      var min = finite.length ? Math.min.apply(null, finite) : 0;
      var max = finite.length ? Math.max.apply(null, finite) : 0;
      var dir = better();
      var stops = dir ? RATED : NEUTRAL;
      return {
        min: min, max: max, stops: stops,
        colour: function (v) {
          var t = max === min ? 1 : (v - min) / (max - min);
          return mix(stops, dir === "lower" ? 1 - t : t);
        },
      };
    }

    function renderLegend(scale) {
      var dir = better();
      legendBox.hidden = false;
      var low = dir === "lower" ? scale.max : scale.min;
      var high = dir === "lower" ? scale.min : scale.max;
      legendBox.querySelector("[data-legend-low]").textContent = (dir ? "worse " : "low ") + C.fmt.number(low, 4);
      legendBox.querySelector("[data-legend-high]").textContent = (dir ? "better " : "high ") + C.fmt.number(high, 4);
      legendBox.querySelector("[data-legend-scale]").style.backgroundImage = gradient(scale.stops);
    }

    function cellLink(cell, text) {
      return cell ? C.el("a", { href: backtestUrl(cell.backtest), text: text }) : C.el("span", { text: text });
    }

    function describe(cell) {
      return Object.keys(cell.parameters).map(function (k) { return k + "=" + cell.parameters[k]; }).join(", ");
    }

    function renderBars(ranking) {
      var name = keys[0];
      var values = numericSort(data.grid[name]);
      var picked = values.map(function (v) {
        return bestOf(ranking.filter(function (c) { return String(c.parameters[name]) === String(v); }));
      });
      var scale = colourScale(picked.map(function (c) { return c ? c.value : null; }));
      var low = Math.min(0, scale.min), high = Math.max(0, scale.max);
      var body = C.el("tbody", {});
      values.forEach(function (v, i) {
        var cell = picked[i];
        var value = cell ? cell.value : null;
        var bar = C.el("span", { class: "param-bar" });
        if (value !== null) {
          bar.style.width = (high === low ? 100 : (Math.abs(value) / Math.max(Math.abs(low), Math.abs(high))) * 100) + "%";
          bar.style.backgroundColor = scale.colour(value);
        }
        body.appendChild(C.el("tr", {},
          C.el("th", { scope: "row", class: "num", text: String(v) }),
          C.el("td", { class: "bar-cell" }, bar),
          C.el("td", { class: "num", "data-x": String(v), "data-value": value === null ? "" : String(value) },
            cellLink(cell, C.fmt.number(value, 4)))));
      });
      mapBox.replaceChildren(C.el("div", { class: "table-wrap" }, C.el("table", { class: "param-bars", "data-param-bars": true },
        C.el("caption", { class: "muted", text: label() + " by " + name }),
        C.el("thead", {}, C.el("tr", {}, C.el("th", { scope: "col", class: "num", text: name }), C.el("th", { scope: "col", text: label() }), C.el("th", { scope: "col", class: "num", text: "Value" }))),
        body)));
      renderLegend(scale);
    }

    function renderHeatmap(ranking) {
      var xs = numericSort(data.grid[axes.x]);
      var ys = numericSort(data.grid[axes.y]);
      var grid = ys.map(function (y) {
        return xs.map(function (x) {
          return bestOf(ranking.filter(function (c) {
            return String(c.parameters[axes.x]) === String(x) && String(c.parameters[axes.y]) === String(y);
          }));
        });
      });
      var values = [];
      grid.forEach(function (row) { row.forEach(function (c) { values.push(c ? c.value : null); }); });
      var scale = colourScale(values);
      var head = C.el("tr", {}, C.el("th", { scope: "col", text: axes.y + " \\ " + axes.x }));
      xs.forEach(function (x) { head.appendChild(C.el("th", { scope: "col", text: String(x) })); });
      var body = C.el("tbody", {});
      ys.forEach(function (y, j) {
        var tr = C.el("tr", {}, C.el("th", { scope: "row", text: String(y) }));
        xs.forEach(function (x, i) {
          var cell = grid[j][i];
          var value = cell ? cell.value : null;
          var td = C.el("td", { "data-x": String(x), "data-y": String(y), "data-value": value === null ? "" : String(value),
            "data-backtest": cell ? String(cell.backtest) : null, class: value === null ? "empty" : null,
            title: cell ? describe(cell) + ": " + C.fmt.number(value, 4) : null },
            cellLink(cell, C.fmt.number(value, 4)));
          if (value !== null) td.style.backgroundColor = scale.colour(value);
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      var caption = label() + " by " + axes.x + " (columns) and " + axes.y + " (rows)" + (keys.length > 2 ? ", best over the other parameters" : "");
      mapBox.replaceChildren(C.el("div", { class: "table-wrap" },
        C.el("table", { class: "heatmap", "data-heatmap-table": true, "data-rows": String(ys.length), "data-cols": String(xs.length) },
          C.el("caption", { class: "muted", text: caption }), C.el("thead", {}, head), body)));
      renderLegend(scale);
    }

    function renderMap(sweep) {
      if (keys.length === 1) renderBars(sweep.ranking);
      else if (keys.length >= 2) renderHeatmap(sweep.ranking);
    }

    /* Axis pickers when there are more than two parameters. */
    if (keys.length > 2) {
      document.querySelector("[data-axis-pickers]").hidden = false;
      ["x", "y"].forEach(function (axis) {
        var select = document.querySelector('[data-axis="' + axis + '"]');
        keys.forEach(function (k) { select.appendChild(C.el("option", { value: k, text: k })); });
        select.value = axes[axis];
        select.addEventListener("change", function () {
          var other = axis === "x" ? "y" : "x";
          if (select.value === axes[other]) {  // the two axes swap rather than coincide
            axes[other] = axes[axis];
            document.querySelector('[data-axis="' + other + '"]').value = axes[other];
          }
          axes[axis] = select.value;
          if (latest) renderMap(latest);
        });
      });
    }

    /* --- loading ---------------------------------------------------------------- */
    function load() {
      window.clearTimeout(timer);
      var serial = ++requestSerial;
      C.api(data.api_url + "?rank_metric=" + encodeURIComponent(metric)).then(function (sweep) {
        if (serial !== requestSerial) return;  // a newer request (another metric) is on its way
        latest = sweep;
        if (loadFailed) showError("");
        loadFailed = false;
        renderStatus(sweep);
        renderRanking(sweep);
        renderMap(sweep);
        if (isActive(sweep.status)) timer = window.setTimeout(load, POLL_MS);
      }, function (error) {
        if (serial !== requestSerial) return;
        loadFailed = true;
        showError(error.message);
        timer = window.setTimeout(load, POLL_MS * 3);
      });
    }

    metricSelect.addEventListener("change", function () { metric = metricSelect.value; load(); });
    if (cancelButton) {
      cancelButton.addEventListener("click", function () {
        cancelButton.disabled = true;
        C.api(data.cancel_url, { method: "POST" }).then(function () {
          cancelButton.disabled = false;
          load();
        }, function (error) {
          cancelButton.disabled = false;
          showError(error.message);
          load();
        });
      });
    }
    load();
  });
})();
