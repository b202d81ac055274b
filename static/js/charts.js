/* Chart helpers over TradingView Lightweight Charts (vendored in static/vendor): themed
   charts that follow the light/dark toggle and resize with their box, candles with
   volume, line series and trade markers. Times are UTC seconds. */
(function () {
  "use strict";
  var LWC = window.LightweightCharts;
  var PALETTE = ["#1f6feb", "#d97706", "#7c3aed", "#059669", "#db2777", "#0891b2", "#65a30d", "#dc2626"];

  function time(iso) { return Math.floor(new Date(iso).getTime() / 1000); }

  function themeOptions() {
    var c = window.Central.cssVar;
    return {
      // No attribution logo: the library injects a <style> element for it, which the CSP
      // (style-src 'self') refuses with a console error.
      layout: { background: { type: "solid", color: c("--bg") }, textColor: c("--text"), attributionLogo: false },
      grid: { vertLines: { color: c("--chart-grid") }, horzLines: { color: c("--chart-grid") } },
      rightPriceScale: { borderColor: c("--border") },
      timeScale: { borderColor: c("--border"), timeVisible: true, secondsVisible: false },
    };
  }

  /* A chart in `container` that fills it, themed now and on every theme switch. */
  function create(container, options) {
    var chart = LWC.createChart(container, Object.assign({ autoSize: true }, themeOptions(), options || {}));
    window.Central.onTheme(function () { chart.applyOptions(themeOptions()); });
    container.setAttribute("data-chart-ready", "true");
    return chart;
  }

  function upDown() {
    var c = window.Central.cssVar;
    return { up: c("--up"), down: c("--down") };
  }

  /* A candlestick chart with a volume histogram under it. setCandles() takes the
     market-data API's candles ({time, open, high, low, close, volume}). */
  function candles(container, options) {
    options = options || {};
    var chart = create(container, options.chart);
    var colors = upDown();
    var candleSeries = chart.addCandlestickSeries({
      upColor: colors.up, downColor: colors.down, wickUpColor: colors.up, wickDownColor: colors.down,
      borderVisible: false,
    });
    var volumeSeries = null;
    if (options.volume !== false) {
      volumeSeries = chart.addHistogramSeries({ priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false, priceLineVisible: false });
      chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
      candleSeries.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
    }
    var lastRows = null;
    function setVolume() {
      if (!volumeSeries || !lastRows) return;
      volumeSeries.setData(lastRows.map(function (r) {
        return { time: time(r.time), value: r.volume, color: r.close >= r.open ? colors.up + "80" : colors.down + "80" };
      }));
    }
    function setCandles(rows) {
      lastRows = rows;
      candleSeries.setData(rows.map(function (r) {
        return { time: time(r.time), open: r.open, high: r.high, low: r.low, close: r.close };
      }));
      setVolume();
      container.setAttribute("data-candle-count", String(rows.length));
    }
    // Up/down colours follow the theme (the volume bars carry theirs per bar).
    window.Central.onTheme(function () {
      colors = upDown();
      candleSeries.applyOptions({ upColor: colors.up, downColor: colors.down, wickUpColor: colors.up, wickDownColor: colors.down });
      setVolume();
    });
    return { chart: chart, candles: candleSeries, volume: volumeSeries, setCandles: setCandles };
  }

  /* Markers on a series, sorted by time as the library requires; `data-marker-count`
     on the container says how many are drawn (the browser tests read it). */
  function setMarkers(container, series, markers) {
    var sorted = markers.slice().sort(function (a, b) { return a.time - b.time; });
    series.setMarkers(sorted);
    container.setAttribute("data-marker-count", String(sorted.length));
  }

  function addLine(chart, options) {
    options = options || {};
    return chart.addLineSeries(Object.assign({ lineWidth: 2, priceLineVisible: false, lastValueVisible: false }, options));
  }

  /* Entry/exit markers for backtest trades ({entry_time, exit_time, side, ...}). */
  function tradeMarkers(trades) {
    var colors = upDown();
    var markers = [];
    trades.forEach(function (t) {
      var long = (t.side || t.direction || "long").toLowerCase() !== "short";
      markers.push({ time: time(t.entry_time), position: long ? "belowBar" : "aboveBar", color: long ? colors.up : colors.down,
        shape: long ? "arrowUp" : "arrowDown", text: (long ? "Long" : "Short") });
      if (t.exit_time) {
        markers.push({ time: time(t.exit_time), position: long ? "aboveBar" : "belowBar", color: window.Central.cssVar("--muted"),
          shape: "circle", text: "Exit" });
      }
    });
    return markers;
  }

  /* Show `[from, to]` (UTC seconds) with some room around it. */
  function focus(chart, from, to) {
    var pad = Math.max(60, Math.round((to - from) * 2));
    chart.timeScale().setVisibleRange({ from: from - pad, to: to + pad });
  }

  window.Central.charts = {
    create: create, candles: candles, addLine: addLine, setMarkers: setMarkers, tradeMarkers: tradeMarkers,
    focus: focus, time: time, color: function (i) { return PALETTE[i % PALETTE.length]; },
  };
})();
