/* One paper session, live: every message on /ws/paper-sessions/<id>/ (the connect
   snapshot, each step, stop or kill) makes the page refetch the session's detail from
   the API and redraw status, breaker, cards, equity chart and trades in place. The
   Stop and Kill buttons post to the API's operators. */
(function () {
  "use strict";
  var C = window.Central;
  var STATUS_TEXT = { running: "Running", stopped: "Stopped", halted: "Halted", failed: "Failed" };
  /* The backtest result page's metric cards (label, metric, format), on session.metrics. */
  var METRIC_CARDS = [
    ["Return", "total_pnl_percentage", function (v) { return C.fmt.pct(v); }, true],
    ["Total PnL", "total_pnl", function (v) { return C.fmt.number(v, 2); }, true],
    ["Buy and hold", "buy_and_hold_return", function (v) { return C.fmt.pct(v); }],
    ["Max drawdown", "max_drawdown_percentage", function (v) { return C.fmt.pct(v); }],
    ["Sharpe ratio", "sharpe_ratio", function (v) { return C.fmt.number(v, 2); }],
    ["Sortino ratio", "sortino_ratio", function (v) { return C.fmt.number(v, 2); }],
    ["Trades", "total_trades", function (v) { return C.fmt.number(v, 0); }],
    ["Win rate", "win_rate", function (v) { return C.fmt.pct(v, 1); }],
    ["Profit factor", "profit_factor", function (v) { return C.fmt.number(v, 2); }],
    ["Exposure", "exposure_percentage", function (v) { return C.fmt.pct(v, 1); }],
    ["Fees paid", "fees_paid", function (v) { return C.fmt.number(v, 2); }],
  ];

  function sign(value) {
    var n = Number(value);
    return value === null || value === undefined || !isFinite(n) || n === 0 ? "" : n > 0 ? "up" : "down";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = C.pageData("page-data");
    var base = "/api/paper-sessions/" + data.id + "/";
    var q = function (selector) { return document.querySelector(selector); };
    var actions = document.getElementById("paper-actions");
    var chartEl = q("[data-equity-chart]");
    var chart = C.charts.create(chartEl);
    var line = C.charts.addLine(chart, { color: C.cssVar("--accent") });
    var table = new C.DataTable(q("[data-trades-table]"), {
      caption: "Closed trades of the session",
      pageSize: 20,
      sortKey: "exit_time",
      sortDir: -1,
      rowId: function (row) { return row.id; },
      columns: [
        { key: "side", label: "Side" },
        { key: "entry_time", label: "Entry (UTC)", format: function (r) { return C.fmt.date(r.entry_time); } },
        { key: "entry_price", label: "Entry price", num: true, value: function (r) { return Number(r.entry_price); }, format: function (r) { return C.fmt.number(Number(r.entry_price), 2); } },
        { key: "exit_time", label: "Exit (UTC)", format: function (r) { return C.fmt.date(r.exit_time); } },
        { key: "exit_price", label: "Exit price", num: true, value: function (r) { return Number(r.exit_price); }, format: function (r) { return C.fmt.number(Number(r.exit_price), 2); } },
        { key: "pnl", label: "P&L", num: true, value: function (r) { return Number(r.pnl); }, format: function (r) { return C.fmt.number(Number(r.pnl), 2); },
          cellClass: function (r) { return Number(r.pnl) >= 0 ? "up" : "down"; } },
        { key: "exit_reason", label: "Exit reason" },
      ],
      rows: [],
    });
    var loading = false;
    var again = false;

    function positionText(position) {
      var open = position && position.open_trade;
      if (!open) return position && position.pending_order ? "order pending" : "flat";
      return open.side + " " + C.fmt.number(open.quantity, 6) + " @ " + C.fmt.number(open.entry_price, 2);
    }

    function metricCards(metrics) {
      var box = q("[data-metrics]");
      box.replaceChildren.apply(box, METRIC_CARDS.map(function (card) {
        var value = metrics ? metrics[card[1]] : null;
        return C.el("div", { class: "card", "data-metric": card[1] },
          C.el("div", { class: "label", text: card[0] }),
          C.el("div", { class: "value " + (card[3] ? sign(value) : ""), text: card[2](value) }));
      }));
    }

    function show(session) {
      var badge = q("[data-status]");
      badge.className = "badge " + session.status;
      badge.textContent = STATUS_TEXT[session.status] || session.status;
      var halted = q("[data-halted]");
      halted.hidden = !session.halted_reason && !session.error;
      q("[data-halted-title]").textContent = session.error ? "Failed" : "Circuit breaker: " + session.halted_reason;
      q("[data-halted-text]").textContent = session.error || "";
      q("[data-equity]").textContent = C.fmt.number(Number(session.equity), 2);
      q("[data-position]").textContent = positionText(session.position);
      q("[data-bars]").textContent = String(session.bars_stepped);
      q("[data-last]").textContent = C.fmt.date(session.last_timestamp).replace(" UTC", "");
      q("[data-trade-count]").textContent = String(session.trades.length);
      metricCards(session.metrics);
      var points = session.equity_curve.map(function (p) { return { time: C.charts.time(p.t), value: p.equity }; });
      line.setData(points);
      chart.timeScale().fitContent();
      chartEl.setAttribute("data-point-count", String(points.length));
      q("[data-no-equity]").hidden = points.length > 0;
      table.setRows(session.trades);
      actions.querySelectorAll("[data-stop], [data-kill]").forEach(function (button) {
        button.hidden = session.status !== "running";
      });
      document.body.setAttribute("data-session-status", session.status);
    }

    /* One fetch at a time; messages arriving meanwhile cause one more afterwards. */
    function refresh() {
      if (loading) { again = true; return; }
      loading = true;
      C.api(base).then(show, function (error) { C.showErrors(actions, error); }).then(function () {
        loading = false;
        if (again) { again = false; refresh(); }
      });
    }

    function operate(selector, path) {
      var button = actions.querySelector(selector);
      if (!button) return;
      button.addEventListener("click", function () {
        C.clearErrors(actions);
        button.disabled = true;
        C.api(base + path, { method: "POST" }).then(show, function (error) {
          C.showErrors(actions, error);
        }).then(function () { button.disabled = false; });
      });
    }

    operate("[data-stop]", "stop/");
    operate("[data-kill]", "kill/");
    refresh();
    if (data.status === "running") C.watch("/ws/paper-sessions/" + data.id + "/", refresh);
  });
})();
