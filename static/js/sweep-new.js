/* The sweep launch form: builds the body POST /api/sweeps/ takes (strategy or template,
   data range, grid, fixed values of the parameters outside the grid, rank metric, engine
   options with sizing and risk), shows the API's errors next to the fields they name,
   and opens the new sweep's page once it is accepted. */
(function () {
  "use strict";
  var C = window.Central;
  var R = C.runOptions;
  var rowSerial = 0;

  /* "5, 10 20" -> [5, 10, 20]; a token that is not a number is sent as typed, so the
     API names it. */
  function parseValues(text) {
    return text.split(/[\s,;]+/).filter(Boolean).map(function (token) {
      var n = Number(token);
      return token.trim() !== "" && isFinite(n) ? n : token;
    });
  }

  /* from, to, step -> the values, both ends included (decimals kept as typed). */
  function rangeValues(from, to, step) {
    var decimals = Math.max.apply(null, [from, to, step].map(function (v) {
      var s = String(v); return s.indexOf(".") >= 0 ? s.length - s.indexOf(".") - 1 : 0;
    }));
    var values = [];
    for (var v = from; step > 0 ? v <= to + 1e-9 : v >= to - 1e-9; v += step) {
      values.push(Number(v.toFixed(decimals)));
      if (values.length > 500) break;
    }
    return values;
  }

  /* An error shown in place like the API's own 400 answers. */
  function fieldError(key, message) {
    var data = {};
    data[key] = [message];
    return { status: 400, data: data };
  }

  /* A row's error goes once its values are edited. */
  function clearFieldError(input) {
    input.removeAttribute("aria-invalid");
    input.parentNode.querySelectorAll(".field-error[data-generated]").forEach(function (n) { n.remove(); });
  }

  /* The API names grid problems "grid.fast[1]": the row's values box is "grid.fast". */
  function gridErrorsOnRows(error) {
    if (!error || error.status !== 400 || !error.data || typeof error.data !== "object") return error;
    var data = {};
    Object.keys(error.data).forEach(function (key) {
      var target = key.replace(/^(grid\.[^.[]+)\[\d+\]$/, "$1");
      data[target] = (data[target] || []).concat(error.data[key]);
    });
    return { status: error.status, data: data, message: error.message };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = C.pageData();
    var form = document.querySelector("[data-sweep-form]");
    var strategySelect = form.querySelector("[data-strategy-select]");
    var rows = form.querySelector("[data-grid-rows]");
    var combinations = form.querySelector("[data-combinations]");
    var submit = form.querySelector("[data-submit]");
    var fixedBox = form.querySelector("[data-fixed-params]");
    var fixedHelp = form.querySelector("[data-fixed-help]");

    function choice() {
      var value = strategySelect.value;
      if (value.indexOf("template:") === 0) {
        var name = value.slice(9);
        return data.templates.filter(function (t) { return t.name === name; })[0];
      }
      return data.strategies.filter(function (s) { return String(s.id) === value; })[0];
    }

    function parameterNames() {
      var picked = choice();
      return picked ? Object.keys(picked.parameters) : [];
    }

    /* Strategies first, then templates. */
    if (data.strategies.length) {
      var group = C.el("optgroup", { label: "Strategies" });
      data.strategies.forEach(function (s) { group.appendChild(C.el("option", { value: String(s.id), text: s.name })); });
      strategySelect.appendChild(group);
    }
    var templateGroup = C.el("optgroup", { label: "Templates" });
    data.templates.forEach(function (t) { templateGroup.appendChild(C.el("option", { value: "template:" + t.name, text: t.title + " (template)" })); });
    strategySelect.appendChild(templateGroup);
    if (data.selected) strategySelect.value = String(data.selected);

    /* The first stored series, as a starting point. */
    var hint = form.querySelector("[data-series-hint]");
    if (data.series.length) {
      form.elements.symbol.value = data.series[0].symbol;
      form.elements.timeframe.value = data.series[0].timeframe;
      hint.textContent = "Stored: " + data.series.map(function (s) {
        return s.symbol + " " + s.timeframe + " (" + C.fmt.date(s.first) + " → " + C.fmt.date(s.last) + ")";
      }).join("; ");
    } else {
      hint.textContent = "No candles are stored yet: import or sync market data first.";
    }

    function gridNames() {
      return Array.prototype.map.call(rows.querySelectorAll("[data-param]"), function (s) { return s.value; });
    }

    /* A parameter in the grid leaves the fixed list (its field disabled, so it is not
       sent, and hidden; what was typed stays for when it leaves the grid again). */
    function syncFixed() {
      var inGrid = gridNames();
      var shown = 0;
      fixedBox.querySelectorAll("[data-parameter]").forEach(function (box) {
        var gridded = inGrid.indexOf(box.getAttribute("data-parameter")) >= 0;
        box.hidden = gridded;
        box.querySelector("input").disabled = gridded;
        if (!gridded) shown += 1;
      });
      fixedHelp.textContent = !choice() ? "Pick a strategy to see its parameters."
        : !fixedBox.children.length ? "This strategy has no parameters."
        : shown ? "A value here holds for every cell; empty fields keep the strategy's values (shown greyed)."
        : "Every parameter is in the grid.";
    }

    /* The chosen strategy's (or template's) parameters and engine settings. */
    function strategyChanged() {
      var picked = choice();
      R.showDefaults(form, picked && picked.config);
      fixedBox.replaceChildren.apply(fixedBox, R.parameterFields(picked ? picked.parameters : {}, "sweep"));
      resetRows();
    }

    function updateCount() {
      var total = 1;
      var any = false;
      rows.querySelectorAll("[data-grid-row]").forEach(function (row) {
        var values = parseValues(row.querySelector("[data-values]").value);
        any = true;
        total *= values.length;
      });
      combinations.textContent = any ? total + (total === 1 ? " combination" : " combinations") : "Add at least one parameter.";
      combinations.setAttribute("data-count", String(any ? total : 0));
    }

    function syncErrorKey(row) {
      var name = row.querySelector("[data-param]").value;
      row.querySelector("[data-values]").setAttribute("data-error-for", "grid." + name);
    }

    function addRow(name) {
      var n = ++rowSerial;
      var names = parameterNames();
      var select = C.el("select", { id: "grid-param-" + n, "data-param": true });
      names.forEach(function (p) { select.appendChild(C.el("option", { value: p, text: p })); });
      if (!names.length) select.appendChild(C.el("option", { value: "", text: "(no parameters)" }));
      if (name) select.value = name;
      var picked = choice();
      var fallback = picked && picked.parameters[select.value];
      var values = C.el("input", { id: "grid-values-" + n, "data-values": true, autocomplete: "off",
        placeholder: fallback !== undefined ? "e.g. " + fallback : "e.g. 5, 10, 20" });
      var from = C.el("input", { id: "grid-from-" + n, inputmode: "decimal", "data-from": true });
      var to = C.el("input", { id: "grid-to-" + n, inputmode: "decimal", "data-to": true });
      var step = C.el("input", { id: "grid-step-" + n, inputmode: "decimal", "data-step": true });
      var row = C.el("div", { class: "grid-row", "data-grid-row": true },
        C.el("div", {}, C.el("label", { for: select.id, text: "Parameter" }), select),
        C.el("div", { class: "grid-values" }, C.el("label", { for: values.id, text: "Values" }), values),
        C.el("div", {}, C.el("label", { for: from.id, text: "From" }), from),
        C.el("div", {}, C.el("label", { for: to.id, text: "To" }), to),
        C.el("div", {}, C.el("label", { for: step.id, text: "Step" }), step),
        C.el("div", { class: "grid-row-actions" },
          C.el("button", { type: "button", "data-fill": true, "aria-label": "Fill row " + n + " from the range", onclick: function () {
            var a = Number(from.value), b = Number(to.value), s = Number(step.value);
            if (from.value === "" || to.value === "" || !isFinite(a) || !isFinite(b) || !isFinite(s) || s === 0 || (b - a) / s < 0) {
              C.showErrors(form, fieldError(values.getAttribute("data-error-for"), "give From, To and a Step that leads from one to the other"));
              return;
            }
            values.value = rangeValues(a, b, s).join(", ");
            clearFieldError(values);
            updateCount();
          } }, "Fill"),
          C.el("button", { type: "button", class: "link", "aria-label": "Remove row " + n, onclick: function () { row.remove(); updateCount(); syncFixed(); } }, "Remove")));
      select.addEventListener("change", function () { syncErrorKey(row); syncFixed(); });
      values.addEventListener("input", function () { clearFieldError(values); updateCount(); });
      rows.appendChild(row);
      syncErrorKey(row);
      updateCount();
      syncFixed();
      return row;
    }

    function resetRows() {
      rows.replaceChildren();
      parameterNames().slice(0, 2).forEach(function (name) { addRow(name); });
      updateCount();
      syncFixed();
    }

    strategySelect.addEventListener("change", strategyChanged);
    form.querySelector("[data-add-row]").addEventListener("click", function () {
      var used = gridNames();
      var next = parameterNames().filter(function (p) { return used.indexOf(p) < 0; })[0];
      addRow(next).querySelector("[data-param]").focus();
    });
    strategyChanged();
    /* An option's or fixed value's error goes once that field is edited. */
    form.addEventListener("input", function (event) {
      if (event.target.hasAttribute("aria-invalid")) clearFieldError(event.target);
    });
    form.addEventListener("change", function (event) {
      if (event.target.hasAttribute("aria-invalid")) clearFieldError(event.target);
    });

    /* Empty fields are left out: the strategy's own values apply. */
    function body() {
      var values = C.formValues(form);
      var chosen = R.read(values);
      var request = { grid: {}, parameters: chosen.parameters, options: chosen.options };
      var twice = null;
      Object.keys(values).forEach(function (key) {
        if (["name", "symbol", "timeframe", "source", "rank_metric"].indexOf(key) >= 0) {
          request[key] = values[key];
        } else if (key === "start" || key === "end") {
          request[key] = R.fromLocalInput(values[key]);
        }
      });
      if (strategySelect.value.indexOf("template:") === 0) request.template = strategySelect.value.slice(9);
      else if (strategySelect.value) request.strategy = Number(strategySelect.value);
      rows.querySelectorAll("[data-grid-row]").forEach(function (row) {
        var name = row.querySelector("[data-param]").value;
        if (name in request.grid) twice = fieldError("grid." + name, "is chosen in two rows: keep one");
        request.grid[name] = parseValues(row.querySelector("[data-values]").value);
      });
      return { request: request, problem: twice };
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var built = body();
      if (built.problem) { C.showErrors(form, built.problem); return; }
      submit.disabled = true;
      C.api(data.api_url, { body: built.request }).then(function (sweep) {
        window.location.assign(data.sweep_page.replace("/0/", "/" + sweep.id + "/"));
      }, function (error) {
        submit.disabled = false;
        C.showErrors(form, gridErrorsOnRows(error));
      });
    });
  });
})();
