/* The strategy rule builder (templates/backtest/strategies/detail.html).

   One model, {entry_rules, exit_rules, config}, exactly the JSON the API takes; the
   builder's controls and the JSON textarea both edit it. Every control that holds a part
   of the definition carries data-error-for="<the API's path to it>", so the problems of
   POST /api/strategies/validate/ (checked live, debounced) and of a refused save appear
   next to the control they name. Saving POSTs (new) or PUTs (existing) the strategy API;
   nothing is decided here that the API does not check again. */
(function () {
  "use strict";
  var C = window.Central;
  var el = C.el;
  var form = document.querySelector("[data-strategy-form]");
  if (!form) return;

  var page = C.pageData();
  var editable = !!page.editable;
  var OPERATORS = [
    [">", "is above (>)"], ["<", "is below (<)"], [">=", "is at least (≥)"], ["<=", "is at most (≤)"],
    ["crosses_above", "crosses above"], ["crosses_below", "crosses below"],
  ];
  var OPERAND_KINDS = [["indicator", "Indicator"], ["price", "Price field"], ["value", "Number"]];
  var PRICE_FIELDS = ["open", "high", "low", "close", "volume"];
  var SIDES = [
    ["entry_rules", "long", "Long entry", "Opens a long position (direction long or both)."],
    ["exit_rules", "long", "Long exit", "Closes a long position."],
    ["entry_rules", "short", "Short entry", "Opens a short position (direction short or both)."],
    ["exit_rules", "short", "Short exit", "Closes a short position."],
  ];
  var CONFIG_CHOICES = {
    direction: [["", "long only (default)"], ["long", "long only"], ["short", "short only"], ["both", "long and short"]],
    fill: [["", "next bar's open (default)"], ["next_open", "next bar's open"], ["same_close", "same bar's close (optimistic)"]],
  };
  var CONFIG_NUMBERS = [
    ["fee", "Fee per fill", "0.001", "A fraction of the traded amount: 0.001 is 0.1 %."],
    ["slippage", "Slippage per fill", "0", "A fraction of the price: 0.0005 is 0.05 %."],
    ["cash", "Starting cash", "10000", "In the quote currency."],
  ];
  var SIZING_MODES = [
    ["", "all equity (default)"], ["fraction", "a fraction of equity"], ["quantity", "a fixed quantity"],
    ["notional", "a fixed amount of quote currency"], ["risk", "a fraction of equity at risk (ATR stop)"],
  ];
  var SIZING_NUMBERS = [
    ["value", "Value", "1", "fraction/risk: 0 to 1; quantity in base units; notional in quote units."],
    ["atr_window", "ATR window (risk sizing)", "14", "Bars of the ATR that sets the stop distance."],
    ["atr_multiple", "ATR multiple (risk sizing)", "2", "The stop sits this many ATRs away."],
  ];
  var RISK_NUMBERS = [
    ["stop_loss", "Stop loss", "0.05 = 5 % against the entry"],
    ["take_profit", "Take profit", "0.1 = 10 % in favour"],
    ["trailing_stop", "Trailing stop", "0.05 = 5 % from the best price"],
    ["max_position_size", "Largest position", "a fraction of equity, up to 1"],
    ["max_drawdown", "Stop entries at drawdown", "0.3 = no new entries 30 % below the peak"],
    ["daily_loss_limit", "Daily loss limit", "0.05 = no entries for the day after a 5 % loss"],
    ["kill_switch_drawdown", "Kill switch drawdown", "close everything and stop at this drawdown"],
  ];

  var catalogue = {};
  var indicatorNames = [];
  var templates = [];
  var model = blankDefinition();
  var saved = page.strategy;

  var nameInput = form.querySelector("#strategy-name");
  var descriptionInput = form.querySelector("#strategy-description");
  var publicInput = form.querySelector("#strategy-public");
  var parametersBox = form.querySelector("[data-parameters]");
  var rulesBox = form.querySelector("[data-rules]");
  var settingsBox = form.querySelector("[data-settings]");
  var jsonInput = form.querySelector("[data-json-editor]");
  var validationStatus = form.querySelector("[data-validation-status]");
  var saveStatus = form.querySelector("[data-save-status]");
  var saveButton = form.querySelector('[data-action="save"]');

  /* --- the model ---------------------------------------------------------------- */

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function isParam(value) { return isObject(value) && typeof value.param === "string" && Object.keys(value).length === 1; }
  function copy(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); }

  function newIndicator(name) {
    var operand = { indicator: name, params: {} };
    (catalogue[name] ? catalogue[name].params : []).forEach(function (p) {
      if (p.type !== "source" && p.default !== null && p.default !== undefined) operand.params[p.name] = p.default;
    });
    return operand;
  }

  function newComparison() {
    return { left: { price: "close" }, op: ">", right: newIndicator("sma") };
  }

  function blankDefinition() {
    return {
      entry_rules: { long: { left: { price: "close" }, op: "crosses_above", right: { indicator: "sma", params: { window: 20 } } } },
      exit_rules: { long: { left: { price: "close" }, op: "crosses_below", right: { indicator: "sma", params: { window: 20 } } } },
      config: { direction: "long" },
    };
  }

  function fromStrategy(strategy) {
    return { entry_rules: copy(strategy.entry_rules), exit_rules: copy(strategy.exit_rules || {}), config: copy(strategy.config || {}) };
  }

  function definition() {
    return { entry_rules: copy(model.entry_rules), exit_rules: copy(model.exit_rules), config: copy(model.config) };
  }

  function config() {
    if (!isObject(model.config)) model.config = {};
    return model.config;
  }

  function parameters() { return isObject(model.config) && isObject(model.config.parameters) ? model.config.parameters : {}; }

  function parseNumber(text) {
    if (text === "" || text === null || text === undefined) return null;
    var n = Number(text);
    return isFinite(n) ? n : text;
  }

  function shown(value) { return value === null || value === undefined || isObject(value) ? "" : String(value); }

  /* --- controls ----------------------------------------------------------------- */

  function idFor(path, suffix) { return "f-" + (path + (suffix || "")).replace(/[^A-Za-z0-9_-]+/g, "-"); }

  function field(labelText, control, options) {
    options = options || {};
    return el("div", { class: "field" + (options.className ? " " + options.className : "") },
      el("label", { for: control.id, text: labelText, class: options.hideLabel ? "visually-hidden" : null }),
      control,
      options.help ? el("p", { class: "help", text: options.help }) : null);
  }

  function select(path, choices, value, onChange, attrs) {
    var node = el("select", Object.assign({ id: idFor(path), name: path, "data-error-for": path, "data-path": path, disabled: !editable }, attrs || {}));
    var values = choices.map(function (c) { return c[0]; });
    if (value !== undefined && value !== null && values.indexOf(value) < 0) choices = choices.concat([[value, String(value) + " (unknown)"]]);
    choices.forEach(function (c) { node.appendChild(el("option", { value: c[0], text: c[1], selected: c[0] === (value === undefined || value === null ? "" : value) })); });
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function button(text, onClick, attrs) {
    return el("button", Object.assign({ type: "button", onclick: function () { onClick(); } }, attrs || {}), text);
  }

  /* A number slot of a rule (an indicator parameter, a constant, an offset): a number,
     or {"param": name}. Bound to a parameter, its input shows and edits that
     parameter's value, so the rule's own control changes it (everywhere it is used). */
  function slot(path, holder, key, labelText, options) {
    options = options || {};
    var current = holder[key];
    var bound = isParam(current) ? current.param : "";
    var input = el("input", {
      type: "number", step: "any", id: idFor(path), name: path, "data-error-for": path, "data-path": path,
      "data-param-input": bound || null, placeholder: options.placeholder || null, disabled: !editable,
      inputmode: "decimal", autocomplete: "off",
    });
    input.value = bound ? shown(parameters()[bound]) : shown(current);
    input.addEventListener("input", function () {
      var value = parseNumber(input.value);
      if (bound) {
        config().parameters = config().parameters || {};
        config().parameters[bound] = value;
        syncParameter(bound, input);
      } else if (value === null && options.optional) {
        delete holder[key];
      } else {
        holder[key] = value;
      }
      changed();
    });
    var names = options.noParameters ? [] : Object.keys(parameters());
    if (bound && names.indexOf(bound) < 0) names.push(bound);
    var row = el("div", { class: "slot-row" });
    if (names.length) {
      var source = el("select", { id: idFor(path, "-source"), "data-path": path + ".$source", class: "slot-source", disabled: !editable },
        el("option", { value: "", text: "number", selected: !bound }));
      names.forEach(function (name) { source.appendChild(el("option", { value: name, text: "parameter " + name, selected: name === bound })); });
      source.addEventListener("change", function () {
        if (source.value) holder[key] = { param: source.value };
        else {
          var value = parseNumber(input.value);
          if (value === null && options.optional) delete holder[key]; else holder[key] = value;
        }
        rerender();
        changed();
      });
      row.appendChild(el("label", { for: source.id, class: "visually-hidden", text: labelText + ": a number or a parameter" }));
      row.appendChild(source);
    }
    row.appendChild(input);
    return el("div", { class: "field slot" + (options.className ? " " + options.className : "") },
      el("label", { for: input.id, text: labelText }), row);
  }

  function syncParameter(name, except) {
    var escaped = window.CSS && CSS.escape ? CSS.escape(name) : name;
    form.querySelectorAll('[data-param-input="' + escaped + '"]').forEach(function (input) {
      if (input !== except) input.value = shown(parameters()[name]);
    });
  }

  /* --- rules -------------------------------------------------------------------- */

  function operandKind(node) {
    if (!isObject(node)) return "";
    for (var i = 0; i < OPERAND_KINDS.length; i++) if (OPERAND_KINDS[i][0] in node) return OPERAND_KINDS[i][0];
    return "";
  }

  function renderOperand(holder, key, path, labelText) {
    var node = holder[key];
    var kind = operandKind(node);
    var box = el("div", { class: "operand", "data-operand": path });
    box.appendChild(field(labelText, select(path + ".$kind", kind ? OPERAND_KINDS : [["", "choose…"]].concat(OPERAND_KINDS), kind, function (value) {
      var replacement = value === "indicator" ? newIndicator(indicatorNames.indexOf("sma") >= 0 ? "sma" : indicatorNames[0])
        : value === "price" ? { price: "close" } : { value: 0 };
      if (isObject(node) && node.offset !== undefined) replacement.offset = node.offset;
      holder[key] = replacement;
      rerender();
      changed();
    }, { "data-error-for": path, "data-operand-kind": "" }), { className: "kind" }));
    if (kind === "indicator") renderIndicator(node, path, box);
    if (kind === "price") {
      box.appendChild(field("Field", select(path + ".price", PRICE_FIELDS.map(function (f) { return [f, f]; }), node.price, function (value) {
        node.price = value;
        changed();
      })));
    }
    if (kind === "value") box.appendChild(slot(path + ".value", node, "value", "Value", { className: "value" }));
    // Offsets are rarely parameters: the choice is offered only to one that already is.
    if (kind) box.appendChild(slot(path + ".offset", node, "offset", "Bars ago", { optional: true, placeholder: "0", className: "offset", noParameters: true }));
    return box;
  }

  function renderIndicator(node, path, box) {
    var spec = catalogue[node.indicator];
    var choices = indicatorNames.map(function (name) { return [name, name]; });
    var picker = select(path + ".indicator", choices, node.indicator, function (value) {
      var previous = isObject(node.params) ? node.params : {};
      var fresh = newIndicator(value);
      // A slot bound to a parameter stays bound; plain numbers take the new defaults.
      Object.keys(previous).forEach(function (name) {
        var known = catalogue[value] && catalogue[value].params.some(function (p) { return p.name === name; });
        if (known && isParam(previous[name])) fresh.params[name] = previous[name];
      });
      node.indicator = value;
      node.params = fresh.params;
      rerender();
      changed();
    }, { "data-indicator-select": "" });
    if (spec) picker.title = spec.description;
    box.appendChild(field("Indicator", picker, { className: "indicator" }));
    if (node.params !== undefined && !isObject(node.params)) return;  // shown by the API's error
    var params = node.params || (node.params = {});
    var paramsBox = el("div", { class: "indicator-params", "data-error-for": path + ".params" });
    (spec ? spec.params : []).forEach(function (p) {
      var paramPath = path + ".params." + p.name;
      if (p.type === "source") {
        var sources = [["", p.default + " (default)"]].concat(p.choices.map(function (c) { return [c, c]; }));
        paramsBox.appendChild(field(p.name, select(paramPath, sources, params[p.name], function (value) {
          if (value) params[p.name] = value; else delete params[p.name];
          changed();
        }, { "data-indicator-param": p.name })));
      } else {
        var control = slot(paramPath, params, p.name, p.name, { optional: true, placeholder: shown(p.default) });
        control.querySelector("input").setAttribute("data-indicator-param", p.name);
        control.title = p.description;
        paramsBox.appendChild(control);
      }
    });
    if (paramsBox.childNodes.length) box.appendChild(paramsBox);
  }

  /* A condition at `path`; `place` replaces or removes it in its parent. */
  function renderCondition(node, path, place) {
    if (isObject(node) && ("all" in node || "any" in node)) return renderGroup(node, path, place);
    if (isObject(node) && "not" in node) return renderNot(node, path, place);
    if (isObject(node) && ("left" in node || "op" in node || "right" in node)) return renderComparison(node, path, place);
    return el("div", { class: "condition unknown", "data-error-for": path },
      el("p", { class: "muted", text: "This part is not a condition the builder can show; edit it in the JSON view." }),
      editable ? button("Remove", place.remove, { "data-path": path + ".$remove" }) : null);
  }

  function conditionActions(node, path, place) {
    if (!editable) return null;
    return el("div", { class: "condition-actions" },
      button("Negate", function () { place.replace({ not: node }); rerender(); changed(); }, { "data-path": path + ".$negate", "aria-label": "Negate this condition" }),
      button("Remove", function () { place.remove(); rerender(); changed(); }, { class: "link", "data-path": path + ".$remove", "aria-label": "Remove this condition" }));
  }

  function renderComparison(node, path, place) {
    return el("div", { class: "condition", "data-condition": path, "data-error-for": path },
      renderOperand(node, "left", path + ".left", "When"),
      el("div", { class: "op" }, field("Comparison", select(path + ".op", OPERATORS, node.op, function (value) { node.op = value; changed(); }, { "data-op": "" }))),
      renderOperand(node, "right", path + ".right", "Compared with"),
      conditionActions(node, path, place));
  }

  function renderGroup(node, path, place) {
    var kind = "all" in node ? "all" : "any";
    var items = node[kind];
    var box = el("div", { class: "group", "data-group": path });
    var head = el("div", { class: "group-head" },
      field("Combine", select(path + "." + kind, [["all", "all of these hold"], ["any", "any of these holds"]], kind, function (value) {
        var list = node[kind];
        delete node[kind];
        node[value] = list;
        rerender();
        changed();
      }, { "data-combinator": "" })),
      conditionActions(node, path, place));
    box.appendChild(head);
    if (!Array.isArray(items)) {
      box.appendChild(el("p", { class: "muted", text: "Not a list; edit it in the JSON view." }));
      return box;
    }
    var list = el("ol", { class: "group-items" });
    items.forEach(function (item, index) {
      var itemPath = path + "." + kind + "[" + index + "]";
      list.appendChild(el("li", {}, renderCondition(item, itemPath, {
        replace: function (value) { items[index] = value; },
        remove: function () { items.splice(index, 1); if (!items.length) place.remove(); },
      })));
    });
    box.appendChild(list);
    if (editable) {
      box.appendChild(el("div", { class: "group-actions" },
        button("Add condition", function () { items.push(newComparison()); rerender(); changed(); }, { "data-path": path + ".$add", "data-add-condition": "" }),
        button("Add group", function () { items.push({ any: [newComparison()] }); rerender(); changed(); }, { "data-path": path + ".$addgroup" })));
    }
    return box;
  }

  function renderNot(node, path, place) {
    var box = el("div", { class: "group negated", "data-group": path });
    box.appendChild(el("div", { class: "group-head" },
      el("strong", { text: "Not:", class: "not-label" }),
      el("span", { class: "muted", text: "holds when the condition below does not" }),
      editable ? button("Remove “not”", function () { place.replace(node.not); rerender(); changed(); }, { "data-path": path + ".$unnot" }) : null,
      editable ? button("Remove", function () { place.remove(); rerender(); changed(); }, { class: "link", "data-path": path + ".$remove" }) : null));
    if (Array.isArray(node.not)) {
      box.appendChild(el("p", { class: "muted", "data-error-for": path + ".not", text: "A list here is not allowed; edit it in the JSON view." }));
    } else {
      box.appendChild(renderCondition(node.not, path + ".not", {
        replace: function (value) { node.not = value; },
        remove: place.remove,
      }));
    }
    return box;
  }

  function renderSide(group, side, title, help) {
    var path = group + "." + side;
    var section = el("section", { class: "rule-side", "data-rule": path, "aria-label": title },
      el("h3", { text: title }), el("p", { class: "help", text: help }));
    var rules = model[group];
    if (!isObject(rules)) {
      section.appendChild(el("p", { class: "muted", "data-error-for": group, text: "Not an object; edit the rules in the JSON view." }));
      return section;
    }
    var node = rules[side];
    var place = {
      replace: function (value) { rules[side] = value; },
      remove: function () { delete rules[side]; },
    };
    if (node === null || node === undefined) {
      section.appendChild(el("p", { class: "muted", "data-error-for": path, text: "No rule: this side never fires." }));
      if (editable) {
        section.appendChild(el("div", { class: "group-actions" },
          button("Add condition", function () { rules[side] = newComparison(); rerender(); changed(); }, { "data-path": path + ".$add", "data-add-condition": "" }),
          button("Add group", function () { rules[side] = { all: [newComparison()] }; rerender(); changed(); }, { "data-path": path + ".$addgroup" })));
      }
      return section;
    }
    section.appendChild(renderCondition(node, path, place));
    if (editable && !(isObject(node) && ("all" in node || "any" in node))) {
      section.appendChild(el("div", { class: "group-actions" },
        button("Add another condition", function () { rules[side] = { all: [node, newComparison()] }; rerender(); changed(); }, { "data-path": path + ".$add", "data-add-condition": "" })));
    }
    return section;
  }

  /* --- parameters and settings -------------------------------------------------- */

  function renderParameters() {
    var box = el("div", { class: "parameter-list" });
    Object.keys(parameters()).forEach(function (name) {
      var path = "config.parameters." + name;
      var input = el("input", {
        type: "number", step: "any", id: idFor(path), name: path, "data-error-for": path, "data-path": path,
        "data-param-input": name, "data-parameter": name, disabled: !editable, inputmode: "decimal", autocomplete: "off",
      });
      input.value = shown(parameters()[name]);
      input.addEventListener("input", function () {
        config().parameters[name] = parseNumber(input.value);
        syncParameter(name, input);
        changed();
      });
      box.appendChild(el("div", { class: "field parameter" },
        el("label", { for: input.id, text: name }),
        el("div", { class: "slot-row" }, input,
          editable ? button("Remove", function () { delete config().parameters[name]; rerender(); changed(); },
            { class: "link", "aria-label": "Remove parameter " + name, "data-path": path + ".$remove" }) : null)));
    });
    if (!box.childNodes.length) box.appendChild(el("p", { class: "muted", text: "None: every rule uses plain numbers." }));
    var parts = [box];
    if (editable) {
      var newName = el("input", { id: "new-parameter-name", autocomplete: "off", "data-path": "$new-parameter", pattern: "[A-Za-z_][A-Za-z0-9_]*" });
      var note = el("p", { class: "help", "aria-live": "polite" });
      var add = function () {
        var name = newName.value.trim();
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) { note.textContent = "A name is letters, digits and underscores, not starting with a digit."; return; }
        if (name in parameters()) { note.textContent = "There is already a parameter " + name + "."; return; }
        config().parameters = config().parameters || {};
        config().parameters[name] = 1;
        rerender();
        changed();
      };
      newName.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); add(); } });
      parts.push(el("div", { class: "add-parameter" },
        field("New parameter name", newName),
        button("Add parameter", add, { "data-path": "$add-parameter" }),
        note));
    }
    parametersBox.replaceChildren.apply(parametersBox, parts);
  }

  function setConfigValue(keys, value) {
    var target = config();
    var parents = [];
    for (var i = 0; i < keys.length - 1; i++) {
      if (!isObject(target[keys[i]])) target[keys[i]] = {};
      parents.push([target, keys[i]]);
      target = target[keys[i]];
    }
    if (value === null || value === "") delete target[keys[keys.length - 1]];
    else target[keys[keys.length - 1]] = value;
    for (var j = parents.length - 1; j >= 0; j--) {  // an emptied sizing or risk object goes
      var parent = parents[j][0], key = parents[j][1];
      if (isObject(parent[key]) && !Object.keys(parent[key]).length) delete parent[key];
    }
  }

  function configNumber(keys, labelText, placeholder, help) {
    var path = "config." + keys.join(".");
    var holder = config();
    for (var i = 0; i < keys.length - 1; i++) holder = isObject(holder[keys[i]]) ? holder[keys[i]] : {};
    var input = el("input", {
      type: "number", step: "any", id: idFor(path), name: path, "data-error-for": path, "data-path": path,
      placeholder: placeholder, disabled: !editable, inputmode: "decimal", autocomplete: "off",
    });
    input.value = shown(holder[keys[keys.length - 1]]);
    input.addEventListener("input", function () { setConfigValue(keys, parseNumber(input.value)); changed(); });
    return field(labelText, input, { help: help });
  }

  function renderSettings() {
    var cfg = isObject(model.config) ? model.config : {};
    var trading = el("fieldset", { "data-error-for": "config" }, el("legend", { text: "Trading" }));
    trading.appendChild(field("Direction", select("config.direction", CONFIG_CHOICES.direction, cfg.direction, function (value) {
      setConfigValue(["direction"], value); changed();
    })));
    trading.appendChild(field("Fill", select("config.fill", CONFIG_CHOICES.fill, cfg.fill, function (value) {
      setConfigValue(["fill"], value); changed();
    })));
    CONFIG_NUMBERS.forEach(function (n) { trading.appendChild(configNumber([n[0]], n[1], n[2], n[3])); });

    var sizing = isObject(cfg.sizing) ? cfg.sizing : {};
    var sizingBox = el("fieldset", { "data-error-for": "config.sizing" }, el("legend", { text: "Position size" }));
    sizingBox.appendChild(field("Size each position as", select("config.sizing.mode", SIZING_MODES, sizing.mode, function (value) {
      if (!value) delete config().sizing;
      else setConfigValue(["sizing", "mode"], value);
      rerender();
      changed();
    })));
    if (isObject(cfg.sizing)) {
      SIZING_NUMBERS.forEach(function (n) {
        if (n[0] !== "value" && sizing.mode !== "risk" && sizing[n[0]] === undefined) return;
        sizingBox.appendChild(configNumber(["sizing", n[0]], n[1], n[2], n[3]));
      });
    }

    var riskBox = el("fieldset", { "data-error-for": "config.risk" }, el("legend", { text: "Risk limits" }),
      el("p", { class: "help", text: "Fractions, each off when empty." }));
    RISK_NUMBERS.forEach(function (n) { riskBox.appendChild(configNumber(["risk", n[0]], n[1], "off", n[2])); });
    settingsBox.replaceChildren(trading, sizingBox, riskBox);
  }

  /* --- rendering, JSON view, validation ----------------------------------------- */

  function renderBuilder() {
    renderParameters();
    rulesBox.replaceChildren.apply(rulesBox, SIDES.map(function (s) { return renderSide(s[0], s[1], s[2], s[3]); }));
    renderSettings();
  }

  /* Re-draw after a change of structure, keeping the focus on the same control. */
  function rerender() {
    var active = document.activeElement;
    var path = active && form.contains(active) ? active.getAttribute("data-path") : null;
    renderBuilder();
    if (path) {
      var escaped = window.CSS && CSS.escape ? CSS.escape(path) : path;
      var again = form.querySelector('[data-path="' + escaped + '"]');
      if (again) again.focus();
    }
  }

  var jsonError = el("p", { class: "field-error", role: "alert", hidden: true, "data-json-error": "" });
  jsonInput.insertAdjacentElement("afterend", jsonError);

  function writeJson() { jsonInput.value = JSON.stringify(definition(), null, 2); }

  var jsonTimer = null;
  jsonInput.addEventListener("input", function () {
    if (!editable) return;
    window.clearTimeout(jsonTimer);
    jsonTimer = window.setTimeout(function () {
      var parsed;
      try { parsed = JSON.parse(jsonInput.value); } catch (error) {
        jsonError.textContent = "Not valid JSON yet: " + error.message;
        jsonError.hidden = false;
        return;
      }
      if (!isObject(parsed)) {
        jsonError.textContent = "The definition must be an object: {\"entry_rules\": …, \"exit_rules\": …, \"config\": …}.";
        jsonError.hidden = false;
        return;
      }
      jsonError.hidden = true;
      model = { entry_rules: parsed.entry_rules, exit_rules: parsed.exit_rules === undefined ? {} : parsed.exit_rules, config: parsed.config === undefined ? {} : parsed.config };
      renderBuilder();
      changed("json");
    }, 400);
  });

  function setStatus(node, state, text) {
    if (!node) return;
    node.setAttribute("data-state", state);
    node.textContent = text;
  }

  var validateTimer = null;
  var validateRound = 0;

  function changed(origin) {
    if (origin !== "json") writeJson();
    markUnsaved();
    scheduleValidation();
  }

  function markUnsaved() {
    if (saved) setStatus(saveStatus, "dirty", "Unsaved changes.");
  }

  function scheduleValidation() {
    if (!editable) return;
    window.clearTimeout(validateTimer);
    validateRound += 1;
    setStatus(validationStatus, "checking", "Checking…");
    validateTimer = window.setTimeout(validate, 400);
  }

  function validate() {
    var round = validateRound;
    C.api(page.validate_url, { body: definition() }).then(function (report) {
      if (round !== validateRound) return;  // a later change is being checked
      if (report.valid) {
        C.clearErrors(form);
        setStatus(validationStatus, "valid", "No problems found.");
        return;
      }
      var errors = {};
      report.problems.forEach(function (p) { (errors[p.path || "non_field_errors"] = errors[p.path || "non_field_errors"] || []).push(p.message); });
      C.showErrors(form, { status: 400, data: errors }, { focus: false });
      var count = report.problems.length;
      setStatus(validationStatus, "invalid", count + (count === 1 ? " problem" : " problems") + ": see the marked fields.");
    }, function (error) {
      if (round !== validateRound) return;
      setStatus(validationStatus, "error", "Could not check the strategy: " + error.message);
    });
  }

  /* --- templates (new strategy) ------------------------------------------------- */

  var templateSelect = document.querySelector("[data-template-select]");
  var templateDescription = document.querySelector("[data-template-description]");
  var lastTemplateTitle = "";

  function applyTemplate(key) {
    var template = templates.filter(function (t) { return t.name === key; })[0];
    var fillName = !nameInput.value.trim() || nameInput.value === lastTemplateTitle;
    if (template) {
      model = { entry_rules: copy(template.entry_rules), exit_rules: copy(template.exit_rules), config: copy(template.config) };
      if (fillName) nameInput.value = template.title;
      if (!descriptionInput.value.trim() || descriptionInput.getAttribute("data-from-template") === "true") {
        descriptionInput.value = template.description;
        descriptionInput.setAttribute("data-from-template", "true");
      }
      lastTemplateTitle = template.title;
      templateDescription.textContent = template.description;
    } else {
      model = blankDefinition();
      if (fillName) nameInput.value = "";
      lastTemplateTitle = "";
      templateDescription.textContent = "One simple rule to start from: change it, add conditions and settings below.";
    }
    form.setAttribute("data-template", template ? template.name : "");
    renderBuilder();
    changed();
  }

  /* --- saving, duplicating, deleting -------------------------------------------- */

  function strategyBody() {
    var body = definition();
    body.name = nameInput.value.trim();
    body.description = descriptionInput.value;
    if (publicInput) body.is_public = publicInput.checked;
    return body;
  }

  function detailUrl(id) { return page.list_url + id + "/"; }
  function pageUrl(id) { return page.pages_url + id + "/"; }

  function showSaved(strategy) {
    saved = strategy;
    form.setAttribute("data-strategy-id", String(strategy.id));
    var title = document.querySelector("[data-strategy-title]");
    if (title) title.textContent = strategy.name;
    var updated = document.querySelector("[data-updated-at]");
    if (updated) updated.textContent = C.fmt.date(strategy.updated_at);
    setStatus(saveStatus, "saved", "Saved.");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!editable || !saveButton) return;
    window.clearTimeout(validateTimer);
    validateRound += 1;  // a pending live check must not redraw the errors of the save
    C.clearErrors(form);
    saveButton.disabled = true;
    setStatus(saveStatus, "saving", "Saving…");
    var id = form.getAttribute("data-strategy-id");
    var request = id ? C.api(detailUrl(id), { method: "PUT", body: strategyBody() }) : C.api(page.list_url, { body: strategyBody() });
    request.then(function (strategy) {
      showSaved(strategy);
      setStatus(validationStatus, "valid", "No problems found.");
      if (!id) window.location.assign(pageUrl(strategy.id) + "?saved=1");
      else saveButton.disabled = false;
    }, function (error) {
      saveButton.disabled = false;
      setStatus(saveStatus, "failed", "Not saved.");
      C.showErrors(form, error);
    });
  });

  var duplicateButton = form.querySelector('[data-action="duplicate"]');
  if (duplicateButton) {
    duplicateButton.addEventListener("click", function () {
      duplicateButton.disabled = true;
      C.clearErrors(form);
      C.strategies.duplicate(saved, page.list_url).then(function (strategyCopy) {
        window.location.assign(pageUrl(strategyCopy.id) + "?saved=1");
      }, function (error) {
        duplicateButton.disabled = false;
        C.showErrors(form, error);
      });
    });
  }

  var deleteButton = form.querySelector('[data-action="delete"]');
  if (deleteButton) {
    deleteButton.addEventListener("click", function () {
      if (!window.confirm("Delete the strategy “" + saved.name + "”? Its backtests are kept.")) return;
      deleteButton.disabled = true;
      C.api(detailUrl(saved.id), { method: "DELETE" }).then(function () {
        window.location.assign(page.pages_url);
      }, function (error) {
        deleteButton.disabled = false;
        C.showErrors(form, error);
      });
    });
  }

  [nameInput, descriptionInput, publicInput].forEach(function (input) {
    if (!input) return;
    input.addEventListener("input", function () {
      if (input === descriptionInput) descriptionInput.removeAttribute("data-from-template");
      markUnsaved();
    });
  });

  /* --- start -------------------------------------------------------------------- */

  var loads = [C.api(page.indicators_url)];
  if (!saved) loads.push(C.api(page.templates_url));
  Promise.all(loads).then(function (answers) {
    answers[0].forEach(function (spec) { catalogue[spec.name] = spec; });
    indicatorNames = answers[0].map(function (spec) { return spec.name; });
    if (saved) {
      model = fromStrategy(saved);
      renderBuilder();
      writeJson();
      if (editable) scheduleValidation();
    } else {
      templates = answers[1];
      templates.forEach(function (t) {
        templateSelect.appendChild(el("option", { value: t.name, text: t.title, selected: t.name === page.template }));
      });
      templateSelect.addEventListener("change", function () { applyTemplate(templateSelect.value); });
      applyTemplate(templateSelect.value);
    }
    form.setAttribute("data-ready", "true");
  }, function (error) {
    C.showErrors(form, error);
  });
})();
