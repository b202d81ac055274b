/* Live candles on the market page. While a Binance series is shown, a WebSocket
   (/ws/market/<symbol>/<timeframe>/, marketdata.consumers.MarketCandleConsumer) brings
   its forming and closed candles, which Central.market.live draws in place; showing
   another series closes the socket and opens that series' one. Series of other sources
   (imported files) have no live feed and no live line.

   [data-live-status] says where the feed stands: "connecting"; "live" (subscribed, and
   the chart's end shows single candles, so new ones appear as they form); "paused"
   (subscribed, but the chart's end is drawn in buckets: zoom in to the latest candles
   to follow them); "offline" (refused or closed for good; a reload retries).
   [data-last-price] is the last close: the stored one, then each live candle's. */
(function () {
  "use strict";
  var C = window.Central;
  var LIVE_SOURCE = "binance";
  var LABELS = { connecting: "connecting…", live: "live", paused: "live updates paused", offline: "offline" };

  var chartBox = document.getElementById("market-chart");
  var line = document.getElementById("market-live");
  var badge = line.querySelector("[data-live-status]");
  var price = line.querySelector("[data-last-price]");
  var note = line.querySelector("[data-live-note]");

  var feed = null;      // {series, socket, subscribed, received (a candle came), price (a live one came)}

  function setStatus(status, text) {
    badge.setAttribute("data-live-status", status);
    badge.className = "badge live-" + status;
    badge.textContent = LABELS[status];
    note.textContent = text || "";
  }

  /* After a subscription, a candle or a redraw: live or paused, by what the chart shows
     (decided once the series' candles are drawn). */
  function refresh() {
    if (!feed || !feed.subscribed) return;
    var drawable = C.market.live.drawable();
    if (drawable === null) return;
    if (drawable) {
      setStatus("live", feed.received ? "" : "waiting for the stream's first candle");
    } else {
      setStatus("paused", "the chart's end shows buckets: zoom in to the latest candles to follow them");
    }
  }

  function showPrice(value) {
    // Every digit the exchange gives (a coin may trade at 0.00001234), none padded.
    price.textContent = Number(value).toLocaleString("en-US", { maximumFractionDigits: 8 });
    price.setAttribute("data-value", String(value));
  }

  function stop() {
    if (feed && feed.socket) feed.socket.close();
    feed = null;
  }

  function onMessage(current, message) {
    if (feed !== current) return; // a message of a series no longer shown
    if (message.type === "market.subscribed") {
      // A second subscription is a reconnect: fetch what was stored meanwhile.
      if (current.subscribedOnce) C.market.live.catchUp();
      current.subscribedOnce = current.subscribed = true;
      refresh();
    } else if (message.type === "market.candle") {
      if (message.symbol !== current.series.symbol || message.timeframe !== current.series.timeframe) return;
      current.received = current.price = true;
      showPrice(message.candle.close);
      C.market.live.apply(message.candle, message.closed);
      refresh();
    }
  }

  function start(series) {
    stop();
    price.textContent = "–";
    line.hidden = series.source !== LIVE_SOURCE;
    if (line.hidden) return;
    var current = { series: series, subscribed: false, subscribedOnce: false, received: false, price: false };
    feed = current;
    setStatus("connecting");
    var path = "/ws/market/" + encodeURIComponent(series.symbol) + "/" + encodeURIComponent(series.timeframe) + "/";
    current.socket = C.watch(path, function (message) { onMessage(current, message); }, {
      onRetry: function () {
        if (feed !== current) return;
        current.subscribed = false;
        setStatus("connecting", "connection lost, reconnecting");
      },
      onClose: function (code) {
        if (feed !== current) return;
        current.subscribed = false;
        setStatus("offline", code === 4403 ? "sign in again to follow live candles" : "reload the page to retry");
      },
    });
  }

  chartBox.addEventListener("market:series", function (event) { start(event.detail); });
  chartBox.addEventListener("market:drawn", function () {
    if (!feed) return;
    var rows = C.marketChart.rows();
    if (!feed.price && rows.length) showPrice(rows[rows.length - 1].close);
    refresh();
  });
})();
