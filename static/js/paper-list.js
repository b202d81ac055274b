/* The paper-session start form: symbols and timeframes with stored candles from the
   market-data API, the strategy's settings greyed (Central.runOptions), submission to
   POST /api/paper-sessions/ with the API's errors beside their fields. */
(function () {
  "use strict";
  var C = window.Central;
  var R = C.runOptions;

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("paper-form");
    if (!form) return;
    var strategies = {};
    (C.pageData("page-data").strategies || []).forEach(function (s) { strategies[String(s.id)] = s; });
    var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
    var symbolSelect = field("symbol");
    var timeframeSelect = field("timeframe");
    var parametersBox = form.querySelector("[data-parameters]");
    var parametersHelp = form.querySelector("[data-parameters-help]");
    var symbols = [];

    function strategyChanged() {
      var strategy = strategies[field("strategy").value];
      var config = (strategy && strategy.config) || {};
      R.showDefaults(form, config);
      var parameters = config.parameters || {};
      parametersBox.replaceChildren.apply(parametersBox, R.parameterFields(parameters, "pt", {}));
      parametersHelp.textContent = !strategy ? "Pick a strategy to see its parameters."
        : Object.keys(parameters).length ? "Empty fields keep the strategy's values (shown greyed)." : "This strategy has no parameters.";
    }

    function fillTimeframes() {
      var symbol = symbols.filter(function (s) { return s.name === symbolSelect.value; })[0];
      var codes = symbol ? symbol.series.map(function (s) { return s.timeframe; }) : [];
      timeframeSelect.replaceChildren.apply(timeframeSelect, codes.map(function (code) {
        return C.el("option", { value: code, text: code });
      }));
    }

    C.api("/api/market-data/symbols/").then(function (answer) {
      symbols = answer.filter(function (s) { return s.series && s.series.length; });
      var options = symbols.map(function (s) { return C.el("option", { value: s.name, text: s.name }); });
      if (!options.length) options = [C.el("option", { value: "", text: "No candles stored yet" })];
      else options.unshift(C.el("option", { value: "", text: "— pick a symbol —" }));
      symbolSelect.replaceChildren.apply(symbolSelect, options);
      if (symbols.length === 1) symbolSelect.value = symbols[0].name;
      fillTimeframes();
      form.setAttribute("data-markets-loaded", "true");
    }, function (error) { C.showErrors(form, error); });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var values = C.formValues(form);
      var chosen = R.read(values);
      var body = { strategy: values.strategy ? R.number(values.strategy) : null, symbol: values.symbol || "",
        timeframe: values.timeframe || "", parameters: chosen.parameters, options: chosen.options };
      var button = form.querySelector("[data-submit]");
      button.disabled = true;
      C.api("/api/paper-sessions/", { body: body }).then(function (session) {
        window.location.assign(form.getAttribute("data-session-base") + session.id + "/");
      }, function (error) {
        button.disabled = false;
        C.showErrors(form, error);
      });
    });
    field("strategy").addEventListener("change", strategyChanged);
    symbolSelect.addEventListener("change", fillTimeframes);
    strategyChanged();
  });
})();
