/* Central's browser core: the REST API client, form errors, live progress sockets,
   formatting, a sortable/filterable/paged table and the theme toggle. Pages build on
   window.Central; there is no build step and nothing is fetched from outside. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* An API error: `status`, the parsed body in `data`, a readable `message`. */
  function ApiError(status, data) {
    this.name = "ApiError";
    this.status = status;
    this.data = data;
    this.message = describeError(data, status);
  }
  ApiError.prototype = Object.create(Error.prototype);

  function describeError(data, status) {
    if (data && typeof data === "object") {
      if (typeof data.detail === "string") return data.detail;
      var parts = [];
      Object.keys(data).forEach(function (key) {
        var value = data[key];
        var text = Array.isArray(value) ? value.map(flatten).join(" ") : flatten(value);
        parts.push(key === "non_field_errors" ? text : key + ": " + text);
      });
      if (parts.length) return parts.join("; ");
    }
    if (typeof data === "string" && data) return data;
    return "The server answered " + status + ".";
  }

  function flatten(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return value.map(flatten).join(" ");
    if (typeof value === "object") {
      return Object.keys(value).map(function (k) { return k + ": " + flatten(value[k]); }).join("; ");
    }
    return String(value);
  }

  /* fetch() against the API with the session cookie and the CSRF token. `body` is sent
     as JSON, `form` (a FormData) as multipart. Resolves to the parsed JSON (or null for
     204); rejects with an ApiError carrying the field errors. */
  function api(path, options) {
    options = options || {};
    var method = (options.method || (options.body || options.form ? "POST" : "GET")).toUpperCase();
    var headers = { Accept: "application/json" };
    var init = { method: method, credentials: "same-origin", headers: headers };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    if (options.form) {
      init.body = options.form;
    } else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    return fetch(path, init).then(function (response) {
      if (response.status === 204) return null;
      var type = response.headers.get("Content-Type") || "";
      var parsed = type.indexOf("json") >= 0 ? response.json() : response.text();
      return parsed.then(function (data) {
        if (!response.ok) throw new ApiError(response.status, data);
        return data;
      });
    });
  }

  /* Every page of a paginated list endpoint, concatenated (for charts and tables). */
  function apiAll(path) {
    var rows = [];
    function next(url) {
      return api(url).then(function (page) {
        if (Array.isArray(page)) return rows.concat(page);
        rows = rows.concat(page.results || []);
        return page.next ? next(page.next) : rows;
      });
    }
    return next(path);
  }

  /* Create an element: el("td", {class: "num", text: "3"}, child, ...). Text is never
     parsed as HTML, so server data cannot inject markup. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.indexOf("on") === 0 && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* The JSON a template put in {{ value|json_script:"page-data" }}. */
  function pageData(id) {
    var node = document.getElementById(id || "page-data");
    return node ? JSON.parse(node.textContent) : {};
  }

  /* Field errors shown in place: each key of an API 400 body is matched to the form
     control with that name (or data-error-for="key"); the rest go to the form's
     .form-errors box. Nested keys (rules.long.0.left) are matched on the full dotted
     path first, then on shorter prefixes. */
  function clearErrors(form) {
    form.querySelectorAll(".field-error[data-generated]").forEach(function (n) { n.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    var box = form.querySelector(".form-errors");
    if (box) { box.textContent = ""; box.hidden = true; }
  }

  function flattenErrors(data, prefix, out) {
    if (Array.isArray(data) && data.every(function (v) { return typeof v === "string"; })) {
      out.push([prefix, data.join(" ")]);
    } else if (Array.isArray(data)) {
      data.forEach(function (v, i) { flattenErrors(v, prefix ? prefix + "." + i : String(i), out); });
    } else if (data && typeof data === "object") {
      Object.keys(data).forEach(function (k) { flattenErrors(data[k], prefix ? prefix + "." + k : k, out); });
    } else if (data !== null && data !== undefined) {
      out.push([prefix, String(data)]);
    }
    return out;
  }

  function fieldFor(form, path) {
    var parts = path.split(".");
    while (parts.length) {
      var key = parts.join(".");
      var escaped = window.CSS && CSS.escape ? CSS.escape(key) : key;
      var field = form.querySelector('[data-error-for="' + escaped + '"]') ||
        form.querySelector('[name="' + escaped + '"]');
      if (field) return field;
      parts.pop();
    }
    return null;
  }

  /* options.focus false: leave the focus where it is (live checks while typing). */
  function showErrors(form, error, options) {
    clearErrors(form);
    var box = form.querySelector(".form-errors");
    var leftover = [];
    var data = error && error.data;
    if (error && error.status === 400 && data && typeof data === "object" && typeof data.detail !== "string") {
      flattenErrors(data, "", []).forEach(function (pair) {
        var field = pair[0] && pair[0] !== "non_field_errors" ? fieldFor(form, pair[0]) : null;
        if (!field) { leftover.push(pair[0] && pair[0] !== "non_field_errors" ? pair[0] + ": " + pair[1] : pair[1]); return; }
        field.setAttribute("aria-invalid", "true");
        var id = "error-" + Math.random().toString(36).slice(2);
        var message = el("p", { class: "field-error", id: id, "data-generated": true, role: "alert", text: pair[1] });
        field.setAttribute("aria-describedby", id);
        field.insertAdjacentElement("afterend", message);
      });
    } else {
      leftover.push(error && error.message ? error.message : String(error));
    }
    if (leftover.length) {
      if (!box) { box = el("div", { class: "form-errors", role: "alert" }); form.prepend(box); }
      box.textContent = leftover.join("\n");
      box.hidden = false;
    }
    if (options && options.focus === false) return;
    var first = form.querySelector('[aria-invalid="true"]') || box;
    if (first && first.focus) first.focus();
  }

  /* Values of a form as an object; empty inputs are left out, numbers stay strings
     (the API parses and names bad ones). */
  function formValues(form) {
    var values = {};
    new FormData(form).forEach(function (value, key) {
      if (value === "" || key === "csrfmiddlewaretoken") return;
      values[key] = value;
    });
    return values;
  }

  /* A live progress socket (the run-progress consumers): calls onMessage with each
     parsed message, reconnects with backoff while the page is open unless the server
     said it is done (normal close) or refused access (4xxx). options.onClose(code)
     is called when it stops, options.onRetry(code) before each reconnect. */
  function watch(path, onMessage, options) {
    options = options || {};
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var delay = 500;
    var socket = null;
    var stopped = false;
    function open() {
      socket = new WebSocket(scheme + window.location.host + path);
      socket.addEventListener("open", function () { delay = 500; });
      socket.addEventListener("message", function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        onMessage(message);
      });
      socket.addEventListener("close", function (event) {
        if (stopped || event.code === 1000 || event.code >= 4000) {
          if (options.onClose) options.onClose(event.code);
          return;
        }
        if (options.onRetry) options.onRetry(event.code);
        window.setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      });
    }
    open();
    return { close: function () { stopped = true; if (socket) socket.close(); } };
  }

  var fmt = {
    number: function (value, digits) {
      if (value === null || value === undefined || value === "") return "–";
      var n = Number(value);
      if (!isFinite(n)) return String(value);
      return n.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits,
        minimumFractionDigits: digits === undefined ? 0 : Math.min(digits, 2) });
    },
    pct: function (value, digits) {
      if (value === null || value === undefined || value === "") return "–";
      return fmt.number(value, digits === undefined ? 2 : digits) + " %";
    },
    date: function (value) {
      if (!value) return "–";
      var d = new Date(value);
      return isNaN(d) ? String(value) : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
    },
    duration: function (seconds) {
      if (seconds === null || seconds === undefined) return "–";
      var s = Math.round(Number(seconds));
      if (s < 60) return s + " s";
      if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
      return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    },
  };

  /* A client-side table: sorts on header click, filters on a text box (any column, or
     the filter function given), pages. columns: [{key, label, num, format(row), value(row)}].
     The header buttons and pager are keyboard reachable. */
  function DataTable(container, options) {
    this.container = container;
    this.columns = options.columns;
    this.pageSize = options.pageSize || 25;
    this.onRowClick = options.onRowClick || null;
    this.rowClass = options.rowClass || null;
    this.rowId = options.rowId || null;
    this.caption = options.caption || "";
    this.rows = [];
    this.filterText = "";
    this.filterFn = null;
    this.sortKey = options.sortKey || null;
    this.sortDir = options.sortDir || 1;
    this.page = 0;
    this.setRows(options.rows || []);
  }
  DataTable.prototype.value = function (column, row) {
    return column.value ? column.value(row) : row[column.key];
  };
  DataTable.prototype.setRows = function (rows) { this.rows = rows.slice(); this.page = 0; this.render(); };
  DataTable.prototype.setFilter = function (text, fn) {
    this.filterText = (text || "").toLowerCase(); this.filterFn = fn || null; this.page = 0; this.render();
  };
  DataTable.prototype.visibleRows = function () {
    var self = this;
    var rows = this.rows.filter(function (row) {
      if (self.filterFn && !self.filterFn(row)) return false;
      if (!self.filterText) return true;
      return self.columns.some(function (c) {
        var v = c.format ? c.format(row) : self.value(c, row);
        return v !== null && v !== undefined && String(v).toLowerCase().indexOf(self.filterText) >= 0;
      });
    });
    if (this.sortKey) {
      var column = this.columns.filter(function (c) { return c.key === self.sortKey; })[0];
      rows.sort(function (a, b) {
        var x = self.value(column, a), y = self.value(column, b);
        if (column.num) { x = x === null || x === undefined ? -Infinity : Number(x); y = y === null || y === undefined ? -Infinity : Number(y); }
        return (x > y ? 1 : x < y ? -1 : 0) * self.sortDir;
      });
    }
    return rows;
  };
  DataTable.prototype.pageOf = function (predicate) {
    var rows = this.visibleRows();
    for (var i = 0; i < rows.length; i++) if (predicate(rows[i])) return Math.floor(i / this.pageSize);
    return -1;
  };
  DataTable.prototype.showPage = function (page) { this.page = page; this.render(); };
  DataTable.prototype.render = function () {
    var self = this;
    var rows = this.visibleRows();
    var pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    this.page = Math.min(this.page, pages - 1);
    var start = this.page * this.pageSize;
    var head = el("tr", {});
    this.columns.forEach(function (c) {
      var th = el("th", { scope: "col", class: c.num ? "num" : null,
        "aria-sort": self.sortKey === c.key ? (self.sortDir > 0 ? "ascending" : "descending") : null });
      if (c.sortable === false) th.textContent = c.label;
      else th.appendChild(el("button", { type: "button", class: "sort", "data-sort": c.key, text: c.label, onclick: function () {
        self.sortDir = self.sortKey === c.key ? -self.sortDir : 1; self.sortKey = c.key; self.render();
      } }));
      head.appendChild(th);
    });
    var body = el("tbody", {});
    rows.slice(start, start + this.pageSize).forEach(function (row) {
      var tr = el("tr", { class: [self.onRowClick ? "clickable" : "", self.rowClass ? self.rowClass(row) : ""].join(" ").trim() || null,
        "data-row-id": self.rowId ? self.rowId(row) : null, tabindex: self.onRowClick ? "0" : null });
      self.columns.forEach(function (c) {
        var content = c.format ? c.format(row) : self.value(c, row);
        var td = el("td", { class: (c.num ? "num " : "") + (c.cellClass ? c.cellClass(row) : "") || null });
        if (content instanceof Node) td.appendChild(content); else td.textContent = content === null || content === undefined ? "–" : content;
        tr.appendChild(td);
      });
      if (self.onRowClick) {
        tr.addEventListener("click", function () { self.onRowClick(row, tr); });
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter") self.onRowClick(row, tr); });
      }
      body.appendChild(tr);
    });
    var table = el("table", {}, this.caption ? el("caption", { class: "muted", text: this.caption }) : null, el("thead", {}, head), body);
    var pager = el("div", { class: "pager" },
      el("button", { type: "button", "data-page": "prev", disabled: this.page === 0, onclick: function () { self.showPage(self.page - 1); } }, "Previous"),
      el("span", { "data-page-status": true, text: "Page " + (this.page + 1) + " of " + pages + " · " + rows.length + " rows" }),
      el("button", { type: "button", "data-page": "next", disabled: this.page >= pages - 1, onclick: function () { self.showPage(self.page + 1); } }, "Next"));
    this.container.replaceChildren(el("div", { class: "table-wrap" }, table), pager);
  };

  var themeListeners = [];
  function onTheme(listener) { themeListeners.push(listener); }
  function theme() { return document.documentElement.getAttribute("data-theme") || "light"; }
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var next = theme() === "dark" ? "light" : "dark";
        document.documentElement.setAttribute("data-theme", next);
        try { window.localStorage.setItem("central-theme", next); } catch (e) { /* storage off */ }
        themeListeners.forEach(function (listener) { listener(next); });
      });
    });
  });

  window.Central = {
    api: api, apiAll: apiAll, ApiError: ApiError, csrfToken: csrfToken, el: el, pageData: pageData,
    showErrors: showErrors, clearErrors: clearErrors, formValues: formValues, watch: watch,
    fmt: fmt, DataTable: DataTable, onTheme: onTheme, theme: theme, cssVar: cssVar,
  };
})();
