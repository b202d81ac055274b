/* The market-data page: pick a stored series, see it as candles with volume.

   The chart first shows the whole stored range downsampled by the API (about two
   candles per pixel); when the visible range needs finer candles than it has, it
   fetches that window (padded) at a finer bucket and shows it in place of the coarse
   candles there, keeping the coarse ones outside. Zooming back out drops the window.

   For the browser tests: the chart box carries data-candle-count (candles drawn) and
   data-bucket-seconds (bucket of the last fetch for the visible window), and
   Central.marketChart holds the chart. Central.market lets market-sync.js and
   market-import.js reload the series list once a sync or an import has stored candles,
   and market-live.js draw live candles (Central.market.live); the chart box fires
   "market:series" when another series is shown and "market:drawn" after each redraw. */
(function () {
  "use strict";
  var C = window.Central;
  var API = "/api/market-data/";
  var MAX_POINTS = 4000; // never ask for more candles than this in one fetch
  var DEBOUNCE_MS = 250;
  // The API's buckets are aligned to Monday 2000-01-03 00:00 UTC (marketdata.selectors).
  var BUCKET_ORIGIN = Date.UTC(2000, 0, 3) / 1000;
  var MONTH = "1M";

  var initial = C.pageData();
  var form = document.getElementById("series-picker");
  var symbolSelect = document.getElementById("pick-symbol");
  var timeframeSelect = document.getElementById("pick-timeframe");
  var sourceSelect = document.getElementById("pick-source");
  var sourceField = document.getElementById("pick-source-field");
  var view = document.getElementById("market-view");
  var empty = document.getElementById("market-empty");
  var errorBox = document.getElementById("market-error");
  var chartBox = document.getElementById("market-chart");
  var summary = document.getElementById("market-summary");
  var title = view.querySelector("[data-series-title]");

  var state = {
    symbols: [],        // /symbols/: [{name, series: [{source, timeframe, first_timestamp, ...}]}]
    timeframes: [],     // /timeframes/: [{code, seconds}], finest first
    series: null,       // the selected series: {symbol, source, timeframe, candle_count, ...}
    base: null,         // the whole range, downsampled: {bucket, downsampled, rows}
    detail: null,       // the finer window: {start, end, bucket, rows}; start/end in UTC seconds
    rows: [],           // what the chart shows
    request: 0,         // the number of the newest candle request (older answers are dropped)
    wholeInView: false, // every candle is in view (kept so on resize)
    chart: null,
  };

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  function tfSeconds(code) {
    var found = state.timeframes.filter(function (tf) { return tf.code === code; })[0];
    return found ? found.seconds : 60;
  }

  /* "5-minute", "4-hour", "1-day", "3-month": a bucket width in words. */
  function bucketLabel(seconds, timeframe) {
    if (timeframe === MONTH) return Math.max(1, Math.round(seconds / tfSeconds(MONTH))) + "-month";
    var units = [[604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds % units[i][0] === 0) return seconds / units[i][0] + "-" + units[i][1];
    }
    return seconds + "-second";
  }

  /* Candles to ask for over the whole chart: about two per pixel. */
  function pointsForWidth() {
    var width = chartBox.clientWidth || 800;
    return Math.max(200, Math.min(MAX_POINTS, Math.round(2 * width)));
  }

  function alignDown(t, width) { return BUCKET_ORIGIN + Math.floor((t - BUCKET_ORIGIN) / width) * width; }
  function alignUp(t, width) { return BUCKET_ORIGIN + Math.ceil((t - BUCKET_ORIGIN) / width) * width; }

  function candlesUrl(series, params) {
    var query = new URLSearchParams(Object.assign({ source: series.source }, params));
    return API + encodeURIComponent(series.symbol) + "/" + encodeURIComponent(series.timeframe) + "/?" + query;
  }

  function isoSeconds(t) { return new Date(t * 1000).toISOString().replace(".000Z", "Z"); }

  /* Fetch candles of the selected series; resolves to {bucket, downsampled, rows} or to
     null when a newer request has been made meanwhile. */
  function fetchCandles(params) {
    var series = state.series;
    var number = ++state.request;
    chartBox.setAttribute("aria-busy", "true");
    return C.api(candlesUrl(series, params)).then(function (answer) {
      if (number !== state.request || series !== state.series) return null;
      chartBox.removeAttribute("aria-busy");
      answer.candles.forEach(function (row) { row.t = C.charts.time(row.time); });
      return { bucket: answer.bucket_seconds, downsampled: answer.downsampled, rows: answer.candles };
    }, function (error) {
      if (number === state.request) {
        chartBox.removeAttribute("aria-busy");
        showError("Could not load candles: " + error.message);
      }
      return null;
    });
  }

  /* --- the chart ------------------------------------------------------------------ */

  function ensureChart() {
    if (state.chart) return state.chart;
    var handle = C.charts.candles(chartBox, { volume: true });
    // The merged data can hold more candles than pixels: allow very thin bars.
    handle.chart.timeScale().applyOptions({ minBarSpacing: 0.01 });
    var timer = null;
    handle.chart.timeScale().subscribeVisibleTimeRangeChange(function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refine, DEBOUNCE_MS);
    });
    // A chart showing the whole series keeps showing all of it when its box resizes
    // (the library keeps the bar width and would cut the older part off).
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (state.wholeInView) handle.chart.timeScale().fitContent();
      }).observe(chartBox);
    }
    state.chart = handle;
    C.marketChart = {
      chart: handle.chart, candles: handle.candles, volume: handle.volume, element: chartBox,
      rows: function () { return state.rows; },
      bucketSeconds: function () { return Number(chartBox.getAttribute("data-bucket-seconds")); },
    };
    return handle;
  }

  /* Draw base + detail; keepView leaves the visible time range where it was (setData
     alone would keep the bar indices, which jump when the density changes). */
  function draw(keepView, bucketInView) {
    var base = state.base.rows;
    var rows = base;
    if (state.detail) {
      var d = state.detail;
      rows = base.filter(function (r) { return r.t < d.start; })
        .concat(d.rows, base.filter(function (r) { return r.t >= d.end; }));
    }
    var timeScale = state.chart.chart.timeScale();
    var range = keepView ? timeScale.getVisibleRange() : null;
    state.rows = rows;
    state.chart.setCandles(rows);
    if (range) {
      timeScale.setVisibleRange(range);
    } else {
      timeScale.fitContent();
      state.wholeInView = true;
    }
    chartBox.setAttribute("data-bucket-seconds", String(bucketInView));
    describe(bucketInView);
    chartBox.dispatchEvent(new CustomEvent("market:drawn"));
  }

  function describe(bucket) {
    var series = state.series;
    var total = C.fmt.number(series.candle_count, 0);
    var resolution = document.querySelector('[data-stat="bucket"]');
    if (!state.detail && !state.base.downsampled) {
      summary.textContent = "Showing all " + total + " candles (" + series.timeframe + ").";
      resolution.textContent = series.timeframe + " candles";
      return;
    }
    var label = bucketLabel(bucket, series.timeframe);
    var inView = bucket === tfSeconds(series.timeframe) ? "full " + series.timeframe + " resolution in view"
      : label + " buckets in view";
    summary.textContent = "Showing " + C.fmt.number(state.rows.length, 0) + " of " + total + " candles, " + inView +
      (state.detail ? " (" + bucketLabel(state.base.bucket, series.timeframe) + " buckets elsewhere)." : ".");
    resolution.textContent = bucket === tfSeconds(series.timeframe) ? series.timeframe + " candles" : label + " buckets";
  }

  /* The window to fetch for a visible range: padded by a quarter of its span on each
     side (panning a little needs no new fetch) and widened to the coarse buckets'
     edges, so no coarse candle overlaps it. */
  function windowFor(from, to, span) {
    var start = Math.floor(from - span / 4), end = Math.ceil(to + span / 4);
    if (state.series.timeframe === MONTH) return { start: start, end: end };
    return { start: alignDown(start, state.base.bucket), end: alignUp(end, state.base.bucket) };
  }

  /* After the visible range changed: fetch finer candles for it if the ones shown are
     at least twice as coarse as two per pixel and the API can give finer ones; drop
     the finer window once the whole range's candles are fine enough again. */
  function refine() {
    if (!state.base || !state.chart) return;
    var range = state.chart.chart.timeScale().getVisibleRange();
    if (!range) return;
    var from = Number(range.from), to = Number(range.to);
    var rows = state.rows;
    state.wholeInView = rows.length > 0 && from <= rows[0].t && to >= rows[rows.length - 1].t;
    var tf = tfSeconds(state.series.timeframe);
    var span = Math.max(to - from, tf);
    var points = pointsForWidth();
    var needed = span / points;
    var d = state.detail;
    var covering = d && d.start <= from && d.end > to ? d : state.base;
    var win = windowFor(from, to + tf, span);
    var expected = Math.max(tf, Math.ceil((win.end - win.start) / points / tf) * tf);
    if (covering.bucket > tf && covering.bucket >= 2 * needed && expected < covering.bucket) {
      loadWindow(win, points);
    } else if (d && covering === state.base && state.base.bucket < 2 * needed) {
      state.detail = null;
      draw(true, state.base.bucket);
    }
  }

  function loadWindow(win, points) {
    var params = { start: isoSeconds(win.start), end: isoSeconds(win.end), max_points: points };
    fetchCandles(params).then(function (answer) {
      if (!answer) return;
      state.detail = { start: win.start, end: win.end, bucket: answer.bucket, rows: answer.rows };
      draw(true, answer.bucket);
    });
  }

  function loadSeries() {
    var series = state.series;
    showError("");
    state.base = null;
    state.detail = null;
    title.textContent = series.symbol + " · " + series.timeframe + (series.source !== "binance" ? " · " + series.source : "");
    document.querySelector('[data-stat="first"]').textContent = C.fmt.date(series.first_timestamp);
    document.querySelector('[data-stat="last"]').textContent = C.fmt.date(series.last_timestamp);
    document.querySelector('[data-stat="count"]').textContent = C.fmt.number(series.candle_count, 0);
    summary.textContent = "Loading candles…";
    ensureChart();
    return fetchCandles({ max_points: pointsForWidth() }).then(function (answer) {
      if (!answer) return;
      state.base = answer;
      draw(false, answer.bucket);
    });
  }

  /* --- the pickers ---------------------------------------------------------------- */

  function option(value, label, selected) {
    return C.el("option", { value: value, text: label, selected: selected });
  }

  function currentSymbol() {
    return state.symbols.filter(function (s) { return s.name === symbolSelect.value; })[0] || null;
  }

  function seriesOf(symbol, timeframe, source) {
    return symbol.series.filter(function (s) {
      return s.timeframe === timeframe && (source === undefined || s.source === source);
    });
  }

  /* Fill the pickers from state.symbols, selecting `wanted` where it exists. */
  function fillPickers(wanted) {
    var names = state.symbols.map(function (s) { return s.name; });
    var symbolName = names.indexOf(wanted.symbol) >= 0 ? wanted.symbol : names[0];
    symbolSelect.replaceChildren.apply(symbolSelect, names.map(function (n) { return option(n, n, n === symbolName); }));
    symbolSelect.disabled = false;
    fillTimeframes(wanted);
  }

  function fillTimeframes(wanted) {
    var symbol = currentSymbol();
    var stored = state.timeframes.map(function (tf) { return tf.code; }).filter(function (code) {
      return seriesOf(symbol, code).length > 0;
    });
    var code = stored.indexOf(wanted.timeframe) >= 0 ? wanted.timeframe : stored[0];
    timeframeSelect.replaceChildren.apply(timeframeSelect, stored.map(function (c) { return option(c, c, c === code); }));
    timeframeSelect.disabled = false;
    fillSources(wanted);
  }

  function fillSources(wanted) {
    var sources = seriesOf(currentSymbol(), timeframeSelect.value).map(function (s) { return s.source; });
    var source = sources.indexOf(wanted.source) >= 0 ? wanted.source
      : sources.indexOf("binance") >= 0 ? "binance" : sources[0];
    sourceSelect.replaceChildren.apply(sourceSelect, sources.map(function (s) { return option(s, s, s === source); }));
    sourceField.hidden = sources.length < 2;
  }

  function selection() {
    return { symbol: symbolSelect.value, timeframe: timeframeSelect.value, source: sourceSelect.value };
  }

  function selectedSeries() {
    var picked = selection();
    var found = seriesOf(currentSymbol(), picked.timeframe, picked.source)[0];
    return found ? Object.assign({ symbol: picked.symbol }, found) : null;
  }

  /* Keep the address in step with the pickers, so the view can be linked to. */
  function updateUrl(series) {
    var params = new URLSearchParams(window.location.search);
    params.set("symbol", series.symbol);
    params.set("timeframe", series.timeframe);
    if (sourceField.hidden) params.delete("source"); else params.set("source", series.source);
    window.history.replaceState(null, "", window.location.pathname + "?" + params);
  }

  function show(series) {
    state.series = series;
    updateUrl(series);
    chartBox.dispatchEvent(new CustomEvent("market:series", { detail: series }));
    return loadSeries();
  }

  function showSelected() { var s = selectedSeries(); return s ? show(s) : Promise.resolve(); }

  symbolSelect.addEventListener("change", function () { fillTimeframes(selection()); showSelected(); });
  timeframeSelect.addEventListener("change", function () { fillSources(selection()); showSelected(); });
  sourceSelect.addEventListener("change", showSelected);
  form.addEventListener("submit", function (event) { event.preventDefault(); });

  function applySymbols(symbols, wanted) {
    state.symbols = symbols;
    var none = symbols.length === 0;
    empty.hidden = !none;
    view.hidden = none;
    if (none) {
      [symbolSelect, timeframeSelect].forEach(function (select) {
        select.replaceChildren(option("", "No stored series", true));
        select.disabled = true;
      });
      return null;
    }
    fillPickers(wanted);
    return selectedSeries();
  }

  var timeframesLoaded = C.api(API + "timeframes/").then(function (timeframes) {
    state.timeframes = timeframes;
    return timeframes;
  });

  function start() {
    Promise.all([timeframesLoaded, C.api(API + "symbols/")]).then(function (answers) {
      var series = applySymbols(answers[1], initial);
      if (!series) return;
      show(series);
      var asked = [initial.symbol, initial.timeframe].filter(Boolean).join(" ");
      if ((initial.symbol && initial.symbol !== series.symbol) || (initial.timeframe && initial.timeframe !== series.timeframe)) {
        showError("No " + asked + " candles are stored; showing " + series.symbol + " " + series.timeframe + " instead.");
      }
    }).catch(function (error) { showError("Could not load the stored series: " + error.message); });
  }

  /* Reload the series list (after a sync or an import): keep the current choice if
     there is one, otherwise pick `prefer` (with options.select, pick `prefer` anyway);
     reload the chart when the shown series has changed or grown. */
  function reload(prefer, options) {
    var select = options && options.select && prefer;
    return C.api(API + "symbols/").then(function (symbols) {
      var shown = state.series;
      var series = applySymbols(symbols, (select ? prefer : shown) || prefer || {});
      if (!series) return;
      if (!shown || series.symbol !== shown.symbol || series.timeframe !== shown.timeframe ||
          series.source !== shown.source || series.candle_count !== shown.candle_count) {
        return show(series);
      }
    });
  }

  /* --- live candles ---------------------------------------------------------------

     Live candles (market-live.js) are drawn only where the chart shows the stored
     candles themselves at the series' end: a bucket cannot take a candle in without
     knowing which of its candles it already holds (a closed candle may be stored and
     bucketed already), so downsampled ends are left as they are and the page says
     that live updates are paused until the user zooms in. A live candle joins the
     loaded rows (the whole range, or the finer window holding its time), so redraws
     on pan and zoom keep it; a forming candle replaces itself until its closed
     version replaces it for good. */

  /* The loaded candles drawn at time t: the finer window where it covers t. */
  function layerAt(t) {
    var d = state.detail;
    return d && d.start <= t && t < d.end ? d : state.base;
  }

  /* Can a live candle opening at t (UTC seconds; default: after the last candle
     drawn) be drawn as itself? */
  function liveDrawable(t) {
    if (!state.base || !state.series) return false;
    var rows = state.rows;
    var last = rows.length ? rows[rows.length - 1].t : -Infinity;
    if (t === undefined) t = last;
    return t >= last && layerAt(t).bucket === tfSeconds(state.series.timeframe);
  }

  function upsertLast(rows, row) {
    var last = rows[rows.length - 1];
    if (last && last.t === row.t) rows[rows.length - 1] = row; else rows.push(row);
  }

  /* Draw one live candle in place ({time, open, high, low, close, volume}); closed:
     the candle is final (and stored). Returns whether the chart changed. */
  function applyLive(candle, closed) {
    var row = { time: candle.time, open: candle.open, high: candle.high, low: candle.low,
      close: candle.close, volume: candle.volume, t: C.charts.time(candle.time) };
    if (closed) countStored(row);
    if (!liveDrawable(row.t)) return false;
    var layer = layerAt(row.t);
    upsertLast(layer.rows, row);
    if (state.rows !== layer.rows) upsertLast(state.rows, row);
    var handle = state.chart;
    handle.candles.update({ time: row.t, open: row.open, high: row.high, low: row.low, close: row.close });
    if (handle.volume) {
      var color = C.cssVar(row.close >= row.open ? "--up" : "--down") + "80";
      handle.volume.update({ time: row.t, value: row.volume, color: color });
    }
    chartBox.setAttribute("data-candle-count", String(state.rows.length));
    return true;
  }

  /* A closed candle after the last stored one is now stored too: the cards follow. */
  function countStored(row) {
    var series = state.series;
    if (!series || (series.last_timestamp && C.charts.time(series.last_timestamp) >= row.t)) return;
    series.last_timestamp = row.time;
    series.candle_count += 1;
    document.querySelector('[data-stat="last"]').textContent = C.fmt.date(series.last_timestamp);
    document.querySelector('[data-stat="count"]').textContent = C.fmt.number(series.candle_count, 0);
    if (state.base) describe(Number(chartBox.getAttribute("data-bucket-seconds")));
  }

  /* After a reconnect: the candles stored since the last one drawn (closed candles
     sent while the socket was down), drawn as closed ones. */
  function catchUp() {
    var series = state.series;
    if (!liveDrawable()) return Promise.resolve();
    var from = state.rows.length ? state.rows[state.rows.length - 1].t : 0;
    return C.api(candlesUrl(series, { start: isoSeconds(from), max_points: MAX_POINTS })).then(function (answer) {
      if (series !== state.series || answer.downsampled) return;
      answer.candles.forEach(function (candle) { applyLive(candle, true); });
    }, function () { /* the next live candles still arrive; the gap shows until a reload */ });
  }

  C.market = {
    live: {
      apply: applyLive,
      catchUp: catchUp,
      // null while the series' candles are loading (nothing is drawn yet)
      drawable: function () { return state.base ? liveDrawable() : null; },
    },
    timeframes: timeframesLoaded,
    reload: reload,
    selection: function () { return state.series ? { symbol: state.series.symbol, timeframe: state.series.timeframe } : null; },
  };

  start();
})();
