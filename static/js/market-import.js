/* The import part of the market-data page (users with the import permission): upload a
   Binance kline file or a generic OHLCV CSV to POST /api/market-data/import/ and show
   what happened — candles stored, already stored, rejected, and every rejected row with
   its line and field. The API decides everything (formats, validation, all-or-nothing,
   permission); after an import that stored candles the page's series list and chart
   reload (Central.market.reload from market.js) with the imported series selected.

   For the browser tests: #import-result carries data-state (ok, warn, refused, error);
   each listed problem is an [data-import-error] item with data-line and data-field. */
(function () {
  "use strict";
  var C = window.Central;
  var URL = "/api/market-data/import/";
  // data.binance.vision's names: BTCUSDT-1m-2024-01-01.zip, ETHUSDT-1h-2025-01.csv, …
  var BINANCE_NAME = /^([A-Za-z0-9]+)-(\d+[smhdwM])-\d{4}-\d{2}/;

  var form = document.getElementById("import-form");
  var fileInput = document.getElementById("import-file");
  var symbolInput = document.getElementById("import-symbol");
  var timeframeSelect = document.getElementById("import-timeframe");
  var sourceInput = document.getElementById("import-source");
  var busy = document.getElementById("import-busy");
  var result = document.getElementById("import-result");
  var submit = form.querySelector('button[type="submit"]');
  var el = C.el;

  /* The symbol as the API will store it (services.normalise_symbol), only to select the
     imported series afterwards; the API still validates what was typed. */
  function symbolName(raw) { return String(raw || "").trim().replace(/[/\-_ ]/g, "").toUpperCase(); }

  function fillTimeframes(timeframes) {
    var chosen = timeframeSelect.value;
    timeframeSelect.replaceChildren.apply(timeframeSelect, [el("option", { value: "", text: "Choose…" })].concat(
      timeframes.map(function (tf) { return el("option", { value: tf.code, text: tf.code, selected: tf.code === chosen }); })));
  }

  /* A Binance file name says its symbol and timeframe: fill them in unless typed. */
  [symbolInput, timeframeSelect].forEach(function (input) {
    input.addEventListener("input", function () { input.setAttribute("data-touched", ""); });
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    var match = file && BINANCE_NAME.exec(file.name);
    if (!match) return;
    if (!symbolInput.hasAttribute("data-touched")) symbolInput.value = match[1].toUpperCase();
    var known = Array.prototype.some.call(timeframeSelect.options, function (o) { return o.value === match[2]; });
    if (known && !timeframeSelect.hasAttribute("data-touched")) timeframeSelect.value = match[2];
  });

  function rejectList(rejects) {
    return el.apply(null, ["ol", { class: "import-errors", "data-import-errors": true }].concat(
      rejects.map(function (reject) {
        return el("li", { "data-import-error": true, "data-line": String(reject.line), "data-field": reject.field },
          el("strong", { text: "Line " + reject.line }), ", field ", el("code", { text: reject.field }), ": " + reject.reason);
      })));
  }

  function showResult(state, summary, rejects, note) {
    var kind = state === "ok" ? "ok" : state === "warn" ? "warn" : "error";
    result.replaceChildren(el("div", { class: "alert " + kind },
      el("p", { "data-import-summary": true, text: summary }),
      rejects && rejects.length ? rejectList(rejects) : null,
      note ? el("p", { class: "help", text: note }) : null));
    result.setAttribute("data-state", state);
    result.hidden = false;
  }

  function count(n, one, many) { return C.fmt.number(n, 0) + " " + (n === 1 ? one : many); }

  function imported(answer, wanted) {
    var parts = [
      count(answer.inserted, "candle stored", "candles stored"),
      count(answer.skipped, "already stored (duplicate)", "already stored (duplicates)"),
      count(answer.rejected, "row rejected", "rows rejected"),
    ];
    if (answer.updated) parts.splice(1, 0, count(answer.updated, "candle updated", "candles updated"));
    var summary = "Imported " + wanted.symbol + " " + wanted.timeframe + " (" + wanted.source + "): " + parts.join(", ") + ".";
    var note = answer.rejected ? "The rejected rows were left out; the valid ones were stored." : "";
    showResult(answer.rejected ? "warn" : "ok", summary, answer.rejects, note);
    if (answer.inserted || answer.updated) {
      busy.textContent = "Loading the series…";
      return C.market.reload(wanted, { select: true }).then(function () { busy.textContent = ""; });
    }
  }

  function refused(error) {
    var data = error.data || {};
    if (error.status === 400 && Array.isArray(data.rejects)) {
      // "2 of 30 rows are invalid, nothing was imported: line 5, …": the count, then the list.
      var head = /^(\d+ of \d+ rows are invalid)/.exec(data.detail || "");
      var summary = (head ? head[1] + "; " : "The file was refused; ") + "nothing was stored.";
      showResult("refused", summary, data.rejects, "Fix these rows and upload again, or tick \u201cSkip invalid rows\u201d to store the valid ones.");
      return;
    }
    // Parameter errors and unreadable files: in place, next to the control.
    result.hidden = true;
    result.removeAttribute("data-state");
    C.showErrors(form, error);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    C.clearErrors(form);
    // Empty fields are left out, so the API's defaults apply (e.g. source binance).
    var body = new FormData(form);
    Array.from(body.keys()).forEach(function (key) { if (body.get(key) === "") body.delete(key); });
    var wanted = { symbol: symbolName(body.get("symbol")), timeframe: body.get("timeframe"),
      source: body.get("source") || sourceInput.defaultValue };
    submit.disabled = true;
    busy.textContent = "Uploading…";
    result.hidden = true;
    C.api(URL, { form: body }).then(function (answer) {
      busy.textContent = "";
      return imported(answer, wanted);
    }, function (error) {
      busy.textContent = "";
      refused(error);
    }).catch(function (error) {
      busy.textContent = "";
      showResult("error", "Imported, but the series could not be reloaded: " + error.message, null, "Reload the page to see it.");
    }).then(function () { submit.disabled = false; });
  });

  C.market.timeframes.then(fillTimeframes);
})();
