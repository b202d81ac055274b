/* The new-backtest form: symbols and timeframes from the market-data API, the chosen
   strategy's settings as placeholders and its parameters as fields, a copied run's
   settings as values (?from=), and submission to POST /api/backtests/ with the API's
   errors shown beside their fields. */
(function () {
  "use strict";
  var C = window.Central;
  var OPTION_FIELDS = ["cash", "fee", "slippage", "direction", "fill"];
  var SIZING_FIELDS = ["mode", "value", "atr_window", "atr_multiple"];
  var RISK_FIELDS = ["stop_loss", "take_profit", "trailing_stop"];

  /* "2024-01-02T00:00:00Z" -> "2024-01-02T00:00" (datetime-local, read as UTC). */
  function toLocalInput(iso) { return iso ? String(iso).replace("Z", "").slice(0, 16) : ""; }
  function fromLocalInput(value) { return value ? (value.length === 16 ? value + ":00" : value) + "Z" : null; }

  /* A number when the text is one; otherwise the text, so the API names the problem. */
  function number(text) {
    var n = Number(text);
    return text !== "" && isFinite(n) ? n : text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("backtest-form");
    if (!form) return;
    var data = C.pageData("page-data");
    var prefill = data.prefill || {};
    var strategies = {};
    (data.strategies || []).forEach(function (s) { strategies[String(s.id)] = s; });
    var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
    var symbolSelect = field("symbol");
    var timeframeSelect = field("timeframe");
    var rangeHint = form.querySelector("[data-series-range]");
    var parametersBox = form.querySelector("[data-parameters]");
    var parametersHelp = form.querySelector("[data-parameters-help]");
    var symbols = [];
    var timeframeOrder = [];
    var carriedRisk = (prefill.options && prefill.options.risk) || null;

    function setPlaceholder(name, value) {
      var input = field(name);
      if (!input) return;
      if (input.tagName === "SELECT") {
        var first = input.querySelector('option[value=""]');
        if (first) first.textContent = value === undefined || value === null ? "strategy's" : "strategy's (" + value + ")";
      } else {
        input.placeholder = value === undefined || value === null ? "" : String(value);
      }
    }

    function strategyChanged() {
      var strategy = strategies[field("strategy").value];
      var config = (strategy && strategy.config) || {};
      OPTION_FIELDS.forEach(function (key) { setPlaceholder("options." + key, config[key]); });
      SIZING_FIELDS.forEach(function (key) { setPlaceholder("options.sizing." + key, (config.sizing || {})[key]); });
      RISK_FIELDS.forEach(function (key) { setPlaceholder("options.risk." + key, (config.risk || {})[key]); });
      var parameters = config.parameters || {};
      var names = Object.keys(parameters);
      parametersBox.replaceChildren.apply(parametersBox, names.map(function (name) {
        var id = "bt-param-" + name.replace(/[^A-Za-z0-9_-]/g, "_");
        var given = prefill.parameters && prefill.parameters[name] !== undefined && String(prefill.strategy) === field("strategy").value
          ? prefill.parameters[name] : "";
        return C.el("div", {},
          C.el("label", { for: id, text: name }),
          C.el("input", { id: id, name: "parameters." + name, type: typeof parameters[name] === "number" ? "number" : "text",
            step: "any", placeholder: String(parameters[name]), value: given === "" ? null : String(given) }));
      }));
      parametersHelp.textContent = !strategy ? "Pick a strategy to see its parameters."
        : names.length ? "Empty fields keep the strategy's values (shown greyed)." : "This strategy has no parameters.";
    }

    function seriesOf(name) {
      var symbol = symbols.filter(function (s) { return s.name === name; })[0];
      return symbol ? symbol.series : [];
    }

    function fillTimeframes(wanted) {
      var stored = seriesOf(symbolSelect.value).map(function (s) { return s.timeframe; });
      var codes = timeframeOrder.filter(function (code) { return stored.indexOf(code) >= 0; });
      stored.forEach(function (code) { if (codes.indexOf(code) < 0) codes.push(code); });
      timeframeSelect.replaceChildren.apply(timeframeSelect, codes.map(function (code) {
        return C.el("option", { value: code, text: code });
      }));
      if (wanted && codes.indexOf(wanted) >= 0) timeframeSelect.value = wanted;
      showRange();
    }

    function showRange() {
      var series = seriesOf(symbolSelect.value).filter(function (s) { return s.timeframe === timeframeSelect.value; })[0];
      rangeHint.textContent = series
        ? "Stored: " + C.fmt.date(series.first_timestamp) + " to " + C.fmt.date(series.last_timestamp) + " · " + C.fmt.number(series.candle_count, 0) + " candles"
        : "";
    }

    function loadMarkets() {
      return Promise.all([C.api("/api/market-data/symbols/"), C.api("/api/market-data/timeframes/")]).then(function (answers) {
        symbols = answers[0].filter(function (s) { return s.series && s.series.length; });
        timeframeOrder = answers[1].map(function (t) { return t.code; });
        var options = symbols.map(function (s) { return C.el("option", { value: s.name, text: s.name }); });
        if (!options.length) options = [C.el("option", { value: "", text: "No candles stored yet" })];
        else options.unshift(C.el("option", { value: "", text: "— pick a symbol —" }));
        symbolSelect.replaceChildren.apply(symbolSelect, options);
        if (prefill.symbol && seriesOf(prefill.symbol).length) symbolSelect.value = prefill.symbol;
        else if (symbols.length === 1) symbolSelect.value = symbols[0].name;
        fillTimeframes(prefill.timeframe);
        form.setAttribute("data-markets-loaded", "true");
      }, function (error) { C.showErrors(form, error); });
    }

    function applyPrefill() {
      field("start").value = toLocalInput(prefill.start);
      field("end").value = toLocalInput(prefill.end);
      var options = prefill.options || {};
      OPTION_FIELDS.forEach(function (key) {
        if (options[key] !== undefined && options[key] !== null) field("options." + key).value = String(options[key]);
      });
      SIZING_FIELDS.forEach(function (key) {
        var sizing = options.sizing || {};
        if (sizing[key] !== undefined && sizing[key] !== null) field("options.sizing." + key).value = String(sizing[key]);
      });
      RISK_FIELDS.forEach(function (key) {
        var risk = options.risk || {};
        if (risk[key] !== undefined && risk[key] !== null) field("options.risk." + key).value = String(risk[key]);
      });
    }

    /* The API request from the form: empty fields are left out (the strategy's own
       setting applies); a copied run's other risk limits are carried over. */
    function requestBody() {
      var values = C.formValues(form);
      var body = { strategy: values.strategy ? number(values.strategy) : null, symbol: values.symbol || "",
        timeframe: values.timeframe || "", parameters: {}, options: {} };
      if (values.start) body.start = fromLocalInput(values.start);
      if (values.end) body.end = fromLocalInput(values.end);
      Object.keys(values).forEach(function (name) {
        var parts = name.split(".");
        if (parts[0] === "parameters") body.parameters[parts.slice(1).join(".")] = number(values[name]);
        if (parts[0] !== "options") return;
        var text = ["direction", "fill", "mode"].indexOf(parts[parts.length - 1]) >= 0;
        var value = text ? values[name] : number(values[name]);
        if (parts.length === 2) body.options[parts[1]] = value;
        else { body.options[parts[1]] = body.options[parts[1]] || {}; body.options[parts[1]][parts[2]] = value; }
      });
      if (carriedRisk) body.options.risk = Object.assign({}, carriedRisk, body.options.risk || {});
      if (body.options.sizing && body.options.sizing.mode !== "risk") {
        delete body.options.sizing.atr_window; delete body.options.sizing.atr_multiple;
      }
      return body;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var button = form.querySelector("[data-submit]");
      button.disabled = true;
      C.api("/api/backtests/", { body: requestBody() }).then(function (run) {
        window.location.assign(form.getAttribute("data-run-base") + run.id + "/");
      }, function (error) {
        button.disabled = false;
        C.showErrors(form, error);
      });
    });
    field("strategy").addEventListener("change", strategyChanged);
    symbolSelect.addEventListener("change", function () { fillTimeframes(timeframeSelect.value); });
    timeframeSelect.addEventListener("change", showRange);
    applyPrefill();
    strategyChanged();
    loadMarkets();
  });
})();
