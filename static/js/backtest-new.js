/* The new-backtest form: symbols and timeframes from the market-data API, the chosen
   strategy's settings as placeholders and its parameters as fields, a copied run's
   settings as values (?from=), and submission to POST /api/backtests/ with the API's
   errors shown beside their fields. */
(function () {
  "use strict";
  var C = window.Central;
  var R = C.runOptions;

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

    function strategyChanged() {
      var strategy = strategies[field("strategy").value];
      var config = (strategy && strategy.config) || {};
      R.showDefaults(form, config);
      var parameters = config.parameters || {};
      var names = Object.keys(parameters);
      var given = String(prefill.strategy) === field("strategy").value ? prefill.parameters : {};
      parametersBox.replaceChildren.apply(parametersBox, R.parameterFields(parameters, "bt", given));
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
      field("start").value = R.toLocalInput(prefill.start);
      field("end").value = R.toLocalInput(prefill.end);
      R.fill(form, prefill.options);
    }

    /* The API request from the form: empty fields are left out (the strategy's own
       setting applies); a copied run's other risk limits are carried over. */
    function requestBody() {
      var values = C.formValues(form);
      var chosen = R.read(values);
      var body = { strategy: values.strategy ? R.number(values.strategy) : null, symbol: values.symbol || "",
        timeframe: values.timeframe || "", parameters: chosen.parameters, options: chosen.options };
      if (values.start) body.start = R.fromLocalInput(values.start);
      if (values.end) body.end = R.fromLocalInput(values.end);
      if (carriedRisk) body.options.risk = Object.assign({}, carriedRisk, body.options.risk || {});
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
