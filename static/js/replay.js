/* One replay (templates/replay/replay.html): live progress over /ws/replays/<id>/ that
   turns into the result in place (summary, comparison with a backtest, candles with
   the real and replayed fills, the executions), and cancelling. */
(function () {
  "use strict";
  var C = window.Central;
  var el = C.el;
  var fmt = C.fmt;
  var charts = C.charts;
  var page = C.pageData();
  var root = document.querySelector("[data-replay]");
  var progress = root.querySelector("[data-progress]");
  var progressText = root.querySelector("[data-progress-text]");
  var detail = root.querySelector("[data-progress-detail]");
  var badge = root.querySelector("[data-status-badge]");
  var errorBox = root.querySelector("[data-error]");
  var cancelButton = root.querySelector("[data-cancel]");
  var result = root.querySelector("[data-result]");
  var FINAL = ["completed", "failed", "cancelled"];
  var EXECUTION_PAGE = 1000;
  var MAX_EXECUTION_PAGES = 20; // the browser keeps at most 20,000 executions
  var COLORS = { replayed: charts.color(0), real: charts.color(1) };
  var loaded = false;
  var socket = null;

  /* ---- Progress ------------------------------------------------------------------- */

  function setState(message) {
    var status = message.status;
    root.setAttribute("data-status", status);
    badge.className = "badge " + status;
    badge.textContent = status;
    var value = Math.max(0, Math.min(100, Number(message.progress) || 0));
    progress.value = value;
    progress.setAttribute("data-value", String(Math.round(value)));
    progressText.textContent = fmt.number(value, 0) + " %";
    describe(message);
    if (message.error) {
      errorBox.textContent = message.error;
      errorBox.hidden = false;
    }
    var final = FINAL.indexOf(status) >= 0;
    if (cancelButton) cancelButton.hidden = final;
    if (status === "completed" && !loaded) {
      loaded = true;
      loadResult();
    }
    return final;
  }

  /* "4 transactions · 3 replayed · 1 without a candle" */
  function describe(message) {
    var parts = [];
    if (message.transaction_count) parts.push(message.transaction_count + " transactions");
    if (message.completed !== null && message.completed !== undefined) parts.push(message.completed + " replayed");
    if (message.failed) parts.push(message.failed + " without a candle");
    if (message.status === "cancelled") parts.push("cancelled: nothing was kept");
    detail.textContent = parts.join(" · ");
  }

  function watch() {
    socket = C.watch(page.ws, function (message) {
      if (setState(message) && socket) socket.close();
    }, {
      onClose: function (code) {
        // A refusal (4xxx) or an early end: the API still says where the run stands.
        if (code !== 1000 || FINAL.indexOf(root.getAttribute("data-status")) < 0) {
          C.api(page.api).then(setState, function (error) { errorBox.textContent = error.message; errorBox.hidden = false; });
        }
      },
    });
  }

  if (cancelButton) {
    cancelButton.addEventListener("click", function () {
      cancelButton.disabled = true;
      C.api(page.cancel, { method: "POST" }).then(setState, function (error) {
        errorBox.textContent = error.message;
        errorBox.hidden = false;
      }).finally(function () { cancelButton.disabled = false; });
    });
  }

  /* ---- Tables and cards ------------------------------------------------------------ */

  function card(label, value, attrs) {
    return el("div", Object.assign({ class: "card" }, attrs || {}),
      el("div", { class: "label", text: label }), el("div", { class: "value", text: String(value) }));
  }

  /* cells: [text, {num, cls}] or plain text. */
  function table(headers, rows, attrs) {
    var head = el("tr", {});
    headers.forEach(function (h) {
      var label = typeof h === "string" ? h : h[0];
      head.appendChild(el("th", { scope: "col", class: typeof h === "string" ? null : "num", text: label }));
    });
    var body = el("tbody", {});
    rows.forEach(function (row) {
      var tr = el("tr", row.attrs || {});
      row.cells.forEach(function (cell) {
        if (cell && typeof cell === "object" && !(cell instanceof Node)) {
          tr.appendChild(el("td", { class: [cell.num ? "num" : "", cell.cls || ""].join(" ").trim() || null, text: cell.text }));
        } else {
          tr.appendChild(el("td", { text: cell === null || cell === undefined ? "–" : String(cell) }));
        }
      });
      body.appendChild(tr);
    });
    return el("div", { class: "table-wrap" }, el("table", attrs || {}, el("thead", {}, head), body));
  }

  function money(value) { return fmt.number(value, 8); }
  /* Replayed − real: positive means the real fills did worse (shown in the "down" colour). */
  function costClass(value) { return value > 0 ? "down" : value < 0 ? "up" : ""; }
  function pnlClass(value) { return value > 0 ? "up" : value < 0 ? "down" : ""; }
  function num(value, cls) { return { text: money(value), num: true, cls: cls }; }

  function signedDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return (seconds < 0 ? "−" : seconds > 0 ? "+" : "") + fmt.duration(Math.abs(seconds));
  }

  /* ---- Result ---------------------------------------------------------------------- */

  function loadResult() {
    C.api(page.api).then(function (run) {
      var summary = run.summary || {};
      describe({ status: run.status, transaction_count: run.transaction_count, completed: summary.completed, failed: summary.failed });
      renderSummary(summary);
      renderComparison(summary.comparison);
      result.hidden = false;
      return loadExecutions().then(function (executions) {
        renderExecutions(executions);
        setUpChart(summary, executions);
      });
    }).catch(function (error) {
      errorBox.textContent = "Could not load the result: " + error.message;
      errorBox.hidden = false;
    });
  }

  function renderSummary(summary) {
    var totals = summary.total || {};
    var cards = [
      card("Transactions", fmt.number(summary.transactions, 0)),
      card("Replayed", fmt.number(summary.completed, 0)),
      card("Without a candle", fmt.number(summary.failed, 0), { "data-failed-count": summary.failed }),
      card("Fill model", summary.fill_model + " · " + summary.timeframe),
    ];
    Object.keys(totals).forEach(function (quote) {
      var total = totals[quote];
      cards.push(card("Slippage cost (" + quote + ")", money(total.value_difference)));
      cards.push(card("Net PnL real / replayed (" + quote + ")", money(total.real.net_pnl) + " / " + money(total.replayed.net_pnl)));
    });
    root.querySelector("[data-summary-cards]").replaceChildren.apply(root.querySelector("[data-summary-cards]"), cards);

    var notes = [];
    if (summary.failed) notes.push(summary.failed + " fills had no candle to replay against (listed with status “no candle” below); they are left out of both PnL figures.");
    if ((summary.symbols_without_candles || []).length) notes.push("No " + summary.timeframe + " candles are stored for " + summary.symbols_without_candles.join(", ") + ".");
    var missing = root.querySelector("[data-no-candles]");
    missing.textContent = notes.join(" ");
    missing.hidden = !notes.length;

    var symbols = summary.symbols || {};
    var rows = Object.keys(symbols).map(function (symbol) {
      var s = symbols[symbol];
      var unconverted = Object.keys(s.fees_unconverted || {}).map(function (a) { return s.fees_unconverted[a] + " " + a; }).join(", ");
      return { attrs: { "data-symbol": symbol }, cells: [
        symbol, s.quote_asset, { text: s.transactions, num: true }, { text: s.completed + " / " + s.failed, num: true },
        { text: fmt.pct(s.mean_slippage_pct, 4), num: true, cls: costClass(s.mean_slippage_pct) },
        num(s.value_difference, costClass(s.value_difference)),
        { text: money(s.real.realised_pnl) + " / " + money(s.replayed.realised_pnl), num: true },
        { text: money(s.real.unrealised_pnl) + " / " + money(s.replayed.unrealised_pnl), num: true },
        num(s.real.fees),
        num(s.real.net_pnl, pnlClass(s.real.net_pnl)), num(s.replayed.net_pnl, pnlClass(s.replayed.net_pnl)),
        num(s.difference.net_pnl, costClass(s.difference.net_pnl)),
        { text: fmt.number(s.open_quantity, 8), num: true },
        s.mark ? money(s.mark.price) + " at " + fmt.date(s.mark.time) : "–",
        unconverted || "–",
      ] };
    });
    root.querySelector("[data-symbol-table]").replaceChildren(table(
      ["Symbol", "Quote", ["Fills"], ["Replayed / no candle"], ["Mean slippage"], ["Slippage cost"],
        ["Realised real / replayed"], ["Unrealised real / replayed"], ["Fees"], ["Net real"], ["Net replayed"],
        ["Difference (net)"], ["Open quantity"], "Marked at", "Fees not converted"], rows, { "data-pnl-table": true }));

    var totalRows = Object.keys(totals).map(function (quote) {
      var t = totals[quote];
      return { attrs: { "data-quote": quote }, cells: [
        quote, { text: t.transactions, num: true }, { text: t.completed + " / " + t.failed, num: true },
        num(t.value_difference, costClass(t.value_difference)),
        num(t.real.net_pnl, pnlClass(t.real.net_pnl)), num(t.replayed.net_pnl, pnlClass(t.replayed.net_pnl)),
        num(t.difference.net_pnl, costClass(t.difference.net_pnl)), num(t.real.fees),
      ] };
    });
    root.querySelector("[data-total-table]").replaceChildren(table(
      ["Quote asset", ["Fills"], ["Replayed / no candle"], ["Slippage cost"], ["Net real"], ["Net replayed"], ["Difference (net)"], ["Fees"]], totalRows));
  }

  function renderComparison(comparison) {
    var section = root.querySelector("[data-comparison]");
    if (!comparison) { section.hidden = true; return; }
    section.hidden = false;
    var cards = root.querySelector("[data-comparison-cards]");
    cards.replaceChildren(
      card("Signals", comparison.signals), card("Your fills", comparison.fills),
      card("Matched fills", comparison.matched, { "data-matched": comparison.matched }),
      card("Missed signals", comparison.missed_signals, { "data-missed": comparison.missed_signals }),
      card("Unmatched fills", comparison.unmatched_fills, { "data-unmatched": comparison.unmatched_fills }),
      card("Tolerance", signedDuration(comparison.tolerance_seconds).replace(/^\+/, "±")));
    var timing = comparison.timing || {};
    root.querySelector("[data-comparison-timing]").replaceChildren(table(["Matched", "Mean", "Median", "Earliest", "Latest"], [{ cells: [
      timing.matched, signedDuration(timing.mean_s), signedDuration(timing.median_s), signedDuration(timing.min_s), signedDuration(timing.max_s),
    ] }]));
    var pnl = comparison.pnl || {};
    var real = pnl.real || {};
    root.querySelector("[data-comparison-pnl]").replaceChildren(table(["", ["Realised"], ["Unrealised"], ["Net"]], [
      { cells: ["Strategy (closed trades)", num(pnl.strategy, pnlClass(pnl.strategy)), "–", num(pnl.strategy, pnlClass(pnl.strategy))] },
      { cells: ["Your fills", num(real.realised_pnl, pnlClass(real.realised_pnl)), num(real.unrealised_pnl), num(real.net_pnl, pnlClass(real.net_pnl))] },
    ]));
    var missed = comparison.missed || [];
    var box = root.querySelector("[data-comparison-missed]");
    if (!missed.length) { box.replaceChildren(el("p", { class: "muted", text: "None: every signal was followed by a fill." })); return; }
    box.replaceChildren(el("div", {}));
    new C.DataTable(box.firstChild, {
      columns: [
        { key: "time", label: "Signal time", format: function (m) { return fmt.date(m.time); } },
        { key: "side", label: "Side" },
        { key: "kind", label: "Entry or exit" },
        { key: "trade", label: "Backtest trade", num: true },
      ],
      rows: missed, pageSize: 10,
      caption: comparison.missed_signals > missed.length ? "The first " + missed.length + " of " + comparison.missed_signals + "." : "",
    });
  }

  /* Every execution, a page of 1000 at a time, up to MAX_EXECUTION_PAGES pages. */
  function loadExecutions() {
    var rows = [];
    var pages = 0;
    var total = 0;
    function next(url) {
      return C.api(url).then(function (answer) {
        rows = rows.concat(answer.results || []);
        total = answer.count;
        pages += 1;
        if (answer.next && pages < MAX_EXECUTION_PAGES) return next(answer.next);
        rows.total = total;
        return rows;
      });
    }
    return next(page.executions + "?page_size=" + EXECUTION_PAGE);
  }

  function renderExecutions(executions) {
    var container = root.querySelector("[data-executions]");
    var symbols = [];
    executions.forEach(function (e) { if (symbols.indexOf(e.symbol) < 0) symbols.push(e.symbol); });
    var symbolSelect = root.querySelector('[data-execution-filters] [name="symbol"]');
    symbols.forEach(function (s) { symbolSelect.appendChild(el("option", { value: s, text: s })); });
    var caption = executions.total > executions.length
      ? "The first " + executions.length + " of " + executions.total + " executions (in time order)." : "";
    var executionTable = new C.DataTable(container, {
      columns: [
        { key: "transaction_time", label: "Time (UTC)", format: function (e) { return new Date(e.transaction_time).toISOString().replace("T", " ").slice(0, 19); } },
        { key: "symbol", label: "Symbol" },
        { key: "side", label: "Side", cellClass: function (e) { return e.side === "buy" ? "up" : "down"; } },
        { key: "quantity", label: "Quantity", num: true },
        { key: "price", label: "Your price", num: true },
        { key: "replay_price", label: "Replayed price", num: true },
        { key: "slippage", label: "Slippage", num: true, cellClass: function (e) { return costClass(Number(e.slippage)); } },
        { key: "slippage_pct", label: "Slippage %", num: true, format: function (e) { return fmt.pct(e.slippage_pct, 4); },
          cellClass: function (e) { return costClass(e.slippage_pct); } },
        { key: "value_difference", label: "Cost", num: true, cellClass: function (e) { return costClass(Number(e.value_difference)); } },
        { key: "fee_in_quote", label: "Fee (quote)", num: true, format: function (e) { return e.fee_in_quote === null ? "–" : fmt.number(e.fee_in_quote, 8); } },
        { key: "candle_time", label: "Candle", format: function (e) { return e.candle_time ? fmt.date(e.candle_time) : "–"; } },
        { key: "status", label: "Status", format: function (e) {
          return e.status === "failed" ? el("span", { class: "error-text", text: e.error || "no candle" }) : "replayed";
        } },
      ],
      rows: executions, pageSize: 25, caption: caption, rowId: function (e) { return e.id; },
      rowClass: function (e) { return e.status === "failed" ? "failed" : ""; },
    });
    var filters = root.querySelector("[data-execution-filters]");
    function apply() {
      var v = { text: filters.querySelector('[name="text"]').value, status: filters.querySelector('[name="status"]').value,
        side: filters.querySelector('[name="side"]').value, symbol: symbolSelect.value };
      executionTable.setFilter(v.text, function (e) {
        return (!v.status || e.status === v.status) && (!v.side || e.side === v.side) && (!v.symbol || e.symbol === v.symbol);
      });
    }
    filters.addEventListener("input", apply);
    filters.addEventListener("change", apply);
    filters.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  }

  /* ---- Chart: candles with the real fills (arrows, and dots at their price) and the
     replayed prices (circles and dots) ----------------------------------------------- */

  function setUpChart(summary, executions) {
    var container = root.querySelector("[data-replay-chart]");
    var select = root.querySelector("[data-chart-symbol]");
    var note = root.querySelector("[data-chart-note]");
    var comparison = summary.comparison || null;
    root.querySelectorAll("[data-swatch]").forEach(function (swatch) {
      var name = swatch.getAttribute("data-swatch");
      swatch.style.background = COLORS[name] || C.cssVar(name === "up" ? "--up" : name === "down" ? "--down" : "--muted");
    });
    root.querySelector("[data-legend-missed]").hidden = !(comparison && comparison.missed && comparison.missed.length);
    var symbols = Object.keys(summary.symbols || {});
    if (!symbols.length) { note.textContent = "No fills to draw."; container.hidden = true; return; }
    select.replaceChildren.apply(select, symbols.map(function (s) { return el("option", { value: s, text: s }); }));
    var view = charts.candles(container, { volume: false });
    var realSeries = charts.addLine(view.chart, { color: COLORS.real, lineVisible: false, pointMarkersVisible: true, title: "your price" });
    var replayedSeries = charts.addLine(view.chart, { color: COLORS.replayed, lineVisible: false, pointMarkersVisible: true, title: "replayed" });
    var colors = { up: C.cssVar("--up"), down: C.cssVar("--down"), muted: C.cssVar("--muted") };

    /* One point per candle: the quantity-weighted price of the fills in it. */
    function points(rows, priceOf) {
      var byTime = {};
      rows.forEach(function (e) {
        var t = charts.time(e.candle_time);
        var bucket = byTime[t] || (byTime[t] = { value: 0, quantity: 0 });
        bucket.value += Number(priceOf(e)) * Number(e.quantity);
        bucket.quantity += Number(e.quantity);
      });
      return Object.keys(byTime).map(Number).sort(function (a, b) { return a - b; }).map(function (t) {
        return { time: t, value: byTime[t].value / byTime[t].quantity };
      });
    }

    function draw(symbol) {
      var rows = executions.filter(function (e) { return e.symbol === symbol; });
      var done = rows.filter(function (e) { return e.status === "completed"; });
      var failed = rows.length - done.length;
      var times = rows.map(function (e) { return charts.time(e.transaction_time); });
      if (!times.length) { note.textContent = "No fills of " + symbol + " among the executions loaded."; return; }
      var bar = page.timeframe_seconds;
      var from = Math.min.apply(null, times) - 40 * bar;
      var to = Math.max.apply(null, times) + 40 * bar;
      var url = "/api/market-data/" + encodeURIComponent(symbol) + "/" + encodeURIComponent(page.timeframe) + "/?max_points=5000" +
        "&source=" + encodeURIComponent(page.source) +
        "&start=" + encodeURIComponent(new Date(from * 1000).toISOString()) + "&end=" + encodeURIComponent(new Date(to * 1000).toISOString());
      note.textContent = "Loading candles…";
      C.api(url).then(function (answer) {
        view.setCandles(answer.candles);
        realSeries.setData(points(done, function (e) { return e.price; }));
        replayedSeries.setData(points(done, function (e) { return e.replay_price; }));
        var markers = [];
        var labelled = done.length <= 40;
        done.forEach(function (e) {
          var t = charts.time(e.candle_time);
          var buy = e.side === "buy";
          markers.push({ time: t, position: buy ? "belowBar" : "aboveBar", color: buy ? colors.up : colors.down,
            shape: buy ? "arrowUp" : "arrowDown", text: labelled ? (buy ? "B " : "S ") + e.price : "" });
          markers.push({ time: t, position: "inBar", color: COLORS.replayed, shape: "circle", text: "" });
        });
        if (comparison && comparison.symbol === symbol) {
          (comparison.missed || []).forEach(function (m) {
            markers.push({ time: charts.time(m.time), position: m.side === "buy" ? "belowBar" : "aboveBar", color: colors.muted,
              shape: "square", text: "missed " + m.kind });
          });
        }
        charts.setMarkers(container, view.candles, markers);
        view.chart.timeScale().fitContent();
        var parts = [done.length + " fills replayed"];
        if (failed) parts.push(failed + " without a candle (not drawn)");
        if (answer.downsampled) parts.push("candles merged into " + fmt.duration(answer.bucket_seconds) + " bars to fit");
        note.textContent = parts.join(" · ");
      }, function (error) {
        container.setAttribute("data-marker-count", "0");
        note.textContent = error.status === 404 ? "No " + page.timeframe + " candles of " + symbol + " are stored." : error.message;
      });
    }

    // Keep every fill in view when the box changes width (phone rotation, window resize).
    var width = container.clientWidth;
    new ResizeObserver(function () {
      if (container.clientWidth === width) return;
      width = container.clientWidth;
      view.chart.timeScale().fitContent();
    }).observe(container);
    select.addEventListener("change", function () { draw(select.value); });
    draw(symbols[0]);
  }

  /* ---- Start ---------------------------------------------------------------------- */

  setState({ status: page.status, progress: page.progress, error: errorBox.textContent.trim() || null,
    transaction_count: page.transaction_count, completed: null, failed: null });
  if (!page.final) watch();
})();
