/* One backtest's page: live progress over the WebSocket while it waits or runs, then
   the result drawn in place (no reload): metric cards, candles with the strategy's
   indicators and the trades' entries and exits, equity and drawdown, and a trades
   table whose rows focus the chart on their trade. */
(function () {
  "use strict";
  var C = window.Central;
  var status = C.backtestStatus;

  var CARDS = [
    ["Final balance", function (b, m) { return C.fmt.number(b.final_balance, 2); }],
    ["Return", function (b, m) { return C.fmt.pct(m.total_pnl_percentage); }, function (b, m) { return sign(m.total_pnl_percentage); }],
    ["Total PnL", function (b, m) { return C.fmt.number(m.total_pnl, 2); }, function (b, m) { return sign(m.total_pnl); }],
    ["Buy and hold", function (b, m) { return C.fmt.pct(m.buy_and_hold_return); }],
    ["Max drawdown", function (b, m) { return C.fmt.pct(m.max_drawdown_percentage); }],
    ["Sharpe ratio", function (b, m) { return C.fmt.number(m.sharpe_ratio, 2); }],
    ["Sortino ratio", function (b, m) { return C.fmt.number(m.sortino_ratio, 2); }],
    ["Trades", function (b, m) { return C.fmt.number(m.total_trades, 0); }],
    ["Win rate", function (b, m) { return C.fmt.pct(m.win_rate, 1); }],
    ["Profit factor", function (b, m) { return C.fmt.number(m.profit_factor, 2); }],
    ["Exposure", function (b, m) { return C.fmt.pct(m.exposure_percentage, 1); }],
    ["Fees paid", function (b, m) { return C.fmt.number(m.fees_paid, 2); }],
  ];

  function sign(value) {
    var n = Number(value);
    return !isFinite(n) || n === 0 ? null : n > 0 ? "up" : "down";
  }

  function query(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== null && params[k] !== undefined && params[k] !== ""; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }

  /* The last candle time at or before `t` (markers sit on a drawn bar, also when the
     candles are downsampled into buckets). */
  function snap(times, t) {
    var lo = 0, hi = times.length - 1, found = times.length ? times[0] : t;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = times[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = C.pageData("page-data");
    var root = document.getElementById("run");
    var livePanel = root.querySelector("[data-live-panel]");
    var badge = root.querySelector("[data-status-badge]");
    var progressBar = root.querySelector("[data-progress]");
    var progressText = root.querySelector("[data-progress-text]");
    var queueText = root.querySelector("[data-queue-position]");
    var cancelBox = root.querySelector("[data-cancel-box]");
    var errorBox = root.querySelector("[data-run-error]");
    var cancelledBox = root.querySelector("[data-run-cancelled]");
    var resultBox = root.querySelector("[data-result]");
    var base = "/api/backtests/" + data.id + "/";
    var loading = false;

    function showState(message) {
      root.setAttribute("data-status", message.status);
      status.setBadge(badge, message.status);
      var progress = Math.max(0, Math.min(100, Number(message.progress) || 0));
      progressBar.value = progress;
      progressBar.textContent = Math.round(progress) + " %";
      progressText.textContent = message.status === "queued" ? "Waiting for a worker…" : Math.round(progress) + " %";
      if (message.status !== "queued") queueText.textContent = "";
      if (cancelBox) cancelBox.hidden = !status.isActive(message.status);
      if (message.status === "failed") {
        errorBox.querySelector("[data-run-error-text]").textContent = message.error || "failed without a message";
        errorBox.hidden = false;
      }
      cancelledBox.hidden = message.status !== "cancelled";
      if (message.status === "completed") loadResult();
    }

    function metricCards(backtest) {
      var metrics = (backtest.summary && backtest.summary.metrics) || {};
      var box = resultBox.querySelector("[data-metrics]");
      box.replaceChildren.apply(box, CARDS.map(function (card) {
        return C.el("div", { class: "card", "data-metric": card[0] },
          C.el("div", { class: "label", text: card[0] }),
          C.el("div", { class: "value " + (card[2] ? card[2](backtest, metrics) || "" : ""), text: card[1](backtest, metrics) }));
      }));
      var duration = backtest.duration_seconds;
      if (duration !== null && duration !== undefined) {
        box.appendChild(C.el("div", { class: "card" }, C.el("div", { class: "label", text: "Run time" }),
          C.el("div", { class: "value", text: C.fmt.duration(duration) })));
      }
    }

    function legendItem(box, color, label) {
      var swatch = C.el("span", { class: "swatch" });
      swatch.style.background = color;
      box.appendChild(C.el("span", {}, swatch, label));
    }

    function priceChart(candleData, trades) {
      var el = document.getElementById("candle-chart");
      var view = C.charts.candles(el);
      view.setCandles(candleData.candles);
      var legend = resultBox.querySelector("[data-overlay-legend]");
      legend.replaceChildren();
      var oscillators = [];
      (data.overlays || []).forEach(function (overlay, i) {
        var color = C.charts.color(i);
        if (overlay.pane !== "price") { oscillators.push([overlay, color]); return; }
        C.charts.addLine(view.chart, { color: color, lineWidth: 1 }).setData(overlay.points.map(function (p) {
          return { time: C.charts.time(p[0]), value: p[1] };
        }));
        legendItem(legend, color, overlay.label);
      });
      var times = candleData.candles.map(function (c) { return C.charts.time(c.time); });
      var markers = C.charts.tradeMarkers(trades).map(function (m) { return Object.assign(m, { time: snap(times, m.time) }); });
      C.charts.setMarkers(el, view.candles, markers);
      view.chart.timeScale().fitContent();
      if (oscillators.length) oscillatorChart(view.chart, oscillators, legend);
      return view;
    }

    /* Indicators on their own scale (RSI, MACD, ...) under the candles, following
       their visible range. */
    function oscillatorChart(mainChart, oscillators, legend) {
      var el = document.getElementById("oscillator-chart");
      el.hidden = false;
      var chart = C.charts.create(el);
      oscillators.forEach(function (pair) {
        C.charts.addLine(chart, { color: pair[1], lineWidth: 1 }).setData(pair[0].points.map(function (p) {
          return { time: C.charts.time(p[0]), value: p[1] };
        }));
        legendItem(legend, pair[1], pair[0].label + " (lower pane)");
      });
      chart.timeScale().fitContent();
      mainChart.timeScale().subscribeVisibleTimeRangeChange(function (range) {
        if (range) chart.timeScale().setVisibleRange(range);
      });
    }

    function equityCharts(equity) {
      var equityEl = document.getElementById("equity-chart");
      var equityChart = C.charts.create(equityEl);
      C.charts.addLine(equityChart, { color: C.cssVar("--accent") }).setData(equity.points.map(function (p) {
        return { time: C.charts.time(p.t), value: p.equity };
      }));
      equityChart.timeScale().fitContent();
      equityEl.setAttribute("data-point-count", String(equity.points.length));
      var drawdownEl = document.getElementById("drawdown-chart");
      var drawdownChart = C.charts.create(drawdownEl);
      var down = C.cssVar("--down");
      drawdownChart.addAreaSeries({ lineColor: down, topColor: down + "10", bottomColor: down + "60", lineWidth: 1,
        priceFormat: { type: "custom", formatter: function (v) { return v.toFixed(2) + " %"; } } })
        .setData(equity.points.map(function (p) { return { time: C.charts.time(p.t), value: -100 * p.drawdown }; }));
      drawdownChart.timeScale().fitContent();
      drawdownEl.setAttribute("data-point-count", String(equity.points.length));
    }

    function tradesTable(trades, view) {
      var selected = null;
      var container = resultBox.querySelector("[data-trades-table]");
      var table = new C.DataTable(container, {
        rows: trades,
        pageSize: 20,
        caption: trades.length + " trades",
        rowId: function (t) { return t.id; },
        rowClass: function (t) { return t.id === selected ? "selected" : ""; },
        columns: [
          { key: "id", label: "#", num: true },
          { key: "side", label: "Side" },
          { key: "entry_time", label: "Entry", format: function (t) { return C.fmt.date(t.entry_time); } },
          { key: "entry_price", label: "Entry price", num: true, format: function (t) { return C.fmt.number(t.entry_price, 4); } },
          { key: "exit_time", label: "Exit", format: function (t) { return C.fmt.date(t.exit_time); } },
          { key: "exit_price", label: "Exit price", num: true, format: function (t) { return C.fmt.number(t.exit_price, 4); } },
          { key: "quantity", label: "Quantity", num: true, format: function (t) { return C.fmt.number(t.quantity, 6); } },
          { key: "pnl", label: "PnL", num: true, format: function (t) { return C.fmt.number(t.pnl, 2); }, cellClass: function (t) { return sign(t.pnl) || ""; } },
          { key: "pnl_percentage", label: "PnL %", num: true, format: function (t) { return C.fmt.pct(t.pnl_percentage); }, cellClass: function (t) { return sign(t.pnl) || ""; } },
          { key: "fees", label: "Fees", num: true, format: function (t) { return C.fmt.number(t.fees, 2); } },
          { key: "entry_reason", label: "Entry reason" },
          { key: "exit_reason", label: "Exit reason" },
        ],
        onRowClick: function (trade) {
          selected = trade.id;
          table.render();
          var from = C.charts.time(trade.entry_time);
          var to = trade.exit_time ? C.charts.time(trade.exit_time) : from;
          C.charts.focus(view.chart, from, to);
          var row = container.querySelector('tr[data-row-id="' + trade.id + '"]');
          if (row) row.focus();
          root.setAttribute("data-selected-trade", String(trade.id));
        },
      });
      var text = resultBox.querySelector("[data-trade-filter]");
      var side = resultBox.querySelector("[data-trade-side]");
      function filter() {
        var wanted = side.value;
        table.setFilter(text.value, wanted ? function (t) { return t.side === wanted; } : null);
      }
      text.addEventListener("input", filter);
      side.addEventListener("change", filter);
    }

    function loadResult() {
      if (loading) return;
      loading = true;
      var candlesUrl = "/api/market-data/" + encodeURIComponent(data.symbol) + "/" + encodeURIComponent(data.timeframe) + "/?" +
        query({ source: data.source, start: data.start, end: data.end, max_points: data.chart_points });
      Promise.all([
        C.api(base),
        C.apiAll(base + "trades/?page_size=1000"),
        C.api(base + "equity/?max_points=2000"),
        C.api(candlesUrl),
      ]).then(function (answers) {
        var backtest = answers[0], trades = answers[1];
        resultBox.hidden = false;
        metricCards(backtest);
        var view = priceChart(answers[3], trades);
        equityCharts(answers[2]);
        tradesTable(trades, view);
        document.querySelectorAll("[data-export]").forEach(function (link) { link.hidden = false; });
        root.setAttribute("data-result-ready", "true");
      }, function (error) {
        loading = false;
        errorBox.querySelector("[data-run-error-text]").textContent = "The result could not be loaded: " + error.message;
        errorBox.hidden = false;
      });
    }

    var cancel = root.querySelector("[data-cancel]");
    if (cancel) {
      cancel.addEventListener("click", function () {
        cancel.disabled = true;
        C.api(base + "cancel/", { method: "POST" }).then(showState, function (error) {
          cancel.disabled = false;
          progressText.textContent = error.message;
        });
      });
    }

    if (status.isActive(data.status)) {
      C.watch("/ws/backtests/" + data.id + "/", showState);
    } else {
      if (livePanel && data.status === "completed") livePanel.hidden = true;
      if (data.status === "completed") loadResult();
    }
  });
})();
