/* What the backtest and sweep forms share (Central.runOptions): the engine overrides of
   templates/backtest/partials/run_options.html (the strategy's own settings as greyed
   placeholders, a copied run's settings as values, the API's `options` object built from
   the field names) and the strategy-parameter fields. Field names are the API's JSON
   paths ("options.risk.stop_loss", "parameters.fast"), so Central.showErrors puts each
   400 message next to its field. Load after central.js, before the form's own script. */
(function () {
  "use strict";
  var C = window.Central;
  var OPTION_FIELDS = ["cash", "fee", "slippage", "direction", "fill"];
  var SIZING_FIELDS = ["mode", "value", "atr_window", "atr_multiple"];
  var RISK_FIELDS = ["stop_loss", "take_profit", "trailing_stop", "max_position_size",
    "max_drawdown", "daily_loss_limit", "kill_switch_drawdown"];
  var TEXT_OPTIONS = ["direction", "fill", "mode"];

  /* A number when the text is one; otherwise the text, so the API names the problem. */
  function number(text) {
    var n = Number(text);
    return text !== "" && isFinite(n) ? n : text;
  }

  /* "2024-01-02T00:00:00Z" -> "2024-01-02T00:00" (datetime-local, read as UTC), and back. */
  function toLocalInput(iso) { return iso ? String(iso).replace("Z", "").slice(0, 16) : ""; }
  function fromLocalInput(value) { return value ? (value.length === 16 ? value + ":00" : value) + "Z" : null; }

  function field(form, name) { return form.querySelector('[name="' + name + '"]'); }

  /* Every option field with the key path under `options` it stands for. */
  function optionPaths() {
    return OPTION_FIELDS.map(function (k) { return [k]; })
      .concat(SIZING_FIELDS.map(function (k) { return ["sizing", k]; }))
      .concat(RISK_FIELDS.map(function (k) { return ["risk", k]; }));
  }

  function lookup(object, path) {
    return path.reduce(function (node, key) { return node && typeof node === "object" ? node[key] : undefined; }, object);
  }

  /* The strategy's own settings (its `config`) greyed in the empty fields. */
  function showDefaults(form, config) {
    config = config || {};
    optionPaths().forEach(function (path) {
      var input = field(form, "options." + path.join("."));
      if (!input) return;
      var value = lookup(config, path);
      var unset = value === undefined || value === null;
      if (input.tagName === "SELECT") {
        var first = input.querySelector('option[value=""]');
        if (first) first.textContent = unset ? "strategy's" : "strategy's (" + value + ")";
      } else {
        input.placeholder = unset ? "" : String(value);
      }
    });
  }

  /* A copied run's settings as values (null and missing ones leave the field empty). */
  function fill(form, options) {
    optionPaths().forEach(function (path) {
      var input = field(form, "options." + path.join("."));
      var value = lookup(options || {}, path);
      if (input && value !== undefined && value !== null) input.value = String(value);
    });
  }

  /* Central.formValues(form) -> {options, parameters}: only the non-empty fields, nested
     as the API takes them; the ATR settings only go with the risk sizing they belong to. */
  function read(values) {
    var options = {};
    var parameters = {};
    Object.keys(values).forEach(function (name) {
      var parts = name.split(".");
      if (parts[0] === "parameters") parameters[parts.slice(1).join(".")] = number(values[name]);
      if (parts[0] !== "options" || parts.length < 2) return;
      var value = TEXT_OPTIONS.indexOf(parts[parts.length - 1]) >= 0 ? values[name] : number(values[name]);
      if (parts.length === 2) options[parts[1]] = value;
      else { options[parts[1]] = options[parts[1]] || {}; options[parts[1]][parts[2]] = value; }
    });
    if (options.sizing && options.sizing.mode !== "risk") {
      delete options.sizing.atr_window; delete options.sizing.atr_multiple;
    }
    return { options: options, parameters: parameters };
  }

  /* One labelled input per strategy parameter, its default greyed: name "parameters.<p>",
     id idPrefix + "-param-" + <p>; `values` holds what to fill in. */
  function parameterFields(parameters, idPrefix, values) {
    values = values || {};
    return Object.keys(parameters || {}).map(function (name) {
      var id = idPrefix + "-param-" + name.replace(/[^A-Za-z0-9_-]/g, "_");
      var given = values[name];
      return C.el("div", { "data-parameter": name },
        C.el("label", { for: id, text: name }),
        C.el("input", { id: id, name: "parameters." + name, type: typeof parameters[name] === "number" ? "number" : "text",
          step: "any", placeholder: String(parameters[name]),
          value: given === undefined || given === null || given === "" ? null : String(given) }));
    });
  }

  C.runOptions = {
    OPTION_FIELDS: OPTION_FIELDS, SIZING_FIELDS: SIZING_FIELDS, RISK_FIELDS: RISK_FIELDS,
    number: number, toLocalInput: toLocalInput, fromLocalInput: fromLocalInput,
    showDefaults: showDefaults, fill: fill, read: read, parameterFields: parameterFields,
  };
})();
