/* The transactions page (templates/replay/transactions.html): upload a file or fetch
   from Binance, the imports with their sharing, the fills (filtered, server-paged) with
   their per-symbol summary, and launching a replay. Every read and write is the REST
   API's, so its validation and permissions apply. */
(function () {
  "use strict";
  var C = window.Central;
  var el = C.el;
  var fmt = C.fmt;
  var page = C.pageData();
  var PAGE_SIZE = 50;

  /* A datetime-local value ("2024-01-01T10:00") read as UTC, in ISO 8601. */
  function utc(value) {
    if (!value) return undefined;
    return value + (value.length === 16 ? ":00" : "") + "Z";
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (value === undefined || value === null || value === "") return;
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  /* A time to the second, UTC (fills are often seconds apart). */
  function seconds(iso) { return new Date(iso).toISOString().replace("T", " ").slice(0, 19); }

  function badge(status) { return el("span", { class: "badge " + status, text: status }); }

  function rejectItems(rejects) {
    return rejects.map(function (reject) {
      return el("li", { "data-upload-error": true, "data-line": reject.line,
        text: "line " + reject.line + ", field " + reject.field + ": " + reject.reason });
    });
  }

  /* ---- Upload ---------------------------------------------------------------------- */

  function setUpUpload(form) {
    var format = form.querySelector('[name="format"]');
    var mapping = form.querySelector("[data-mapping]");
    var result = document.querySelector("[data-upload-result]");
    var submit = form.querySelector("[data-upload-submit]");
    var busy = form.querySelector("[data-upload-busy]");
    function toggleMapping() { mapping.hidden = format.value !== "generic"; }
    format.addEventListener("change", toggleMapping);
    toggleMapping();

    function mappingValue() {
      var map = {};
      form.querySelectorAll("[data-mapping-field]").forEach(function (input) {
        if (input.value.trim()) map[input.getAttribute("data-mapping-field")] = input.value.trim();
      });
      return Object.keys(map).length ? JSON.stringify(map) : null;
    }

    function showResult(kind, title, rejects, more) {
      var children = [el("p", { "data-upload-summary": true, text: title })];
      if (rejects && rejects.length) {
        children.push(el("ul", { "data-upload-errors": true }, ...rejectItems(rejects)));
        if (more) children.push(el("p", { class: "help", text: more }));
      }
      result.className = "alert " + kind;
      result.setAttribute("data-outcome", kind === "error" ? "refused" : "imported");
      result.replaceChildren.apply(result, children);
      result.hidden = false;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      result.hidden = true;
      var body = new FormData();
      var file = form.querySelector('[name="file"]').files[0];
      if (file) body.append("file", file);
      body.append("format", format.value);
      if (format.value === "generic") {
        var map = mappingValue();
        if (map) body.append("mapping", map);
        body.append("exchange", form.querySelector('[name="exchange"]').value || "binance");
      }
      body.append("skip_invalid", form.querySelector('[name="skip_invalid"]').checked ? "true" : "false");
      submit.disabled = true;
      busy.hidden = false;
      C.api("/api/transactions/history/upload/", { method: "POST", form: body }).then(function (batch) {
        var title = "Imported " + (batch.file_name || "the file") + " (" + batch.format + "): " +
          batch.inserted + " added, " + batch.skipped + " already imported (duplicates), " +
          batch.rejected + " rejected, of " + batch.rows_total + " rows.";
        var more = batch.rejected > batch.rejects.length ? "The first " + batch.rejects.length + " rejected rows are listed." : "";
        showResult(batch.rejected ? "warn" : "ok", title, batch.rejects, more);
        form.querySelector('[name="file"]').value = "";
        refreshAll();
      }, function (error) {
        var data = error.data || {};
        if (error.status === 400 && Array.isArray(data.rejects)) {
          var title = "Nothing was imported: " + data.rejected + " of " + data.rows_total +
            " rows are invalid. Fix these lines, or tick “Skip invalid rows”.";
          var more = data.rejected > data.rejects.length ? "The first " + data.rejects.length + " problems are listed." : "";
          showResult("error", title, data.rejects, more);
        } else {
          C.showErrors(form, error);
        }
      }).finally(function () {
        submit.disabled = false;
        busy.hidden = true;
      });
    });
  }

  /* ---- Fetch from Binance ------------------------------------------------------------ */

  function setUpFetch(form) {
    var select = form.querySelector('[name="credential"]');
    var status = document.querySelector("[data-fetch-status]");
    var none = form.querySelector("[data-no-credentials]");
    C.apiAll("/api/credentials/").then(function (credentials) {
      if (!credentials.length) {
        select.replaceChildren(el("option", { value: "", text: "no stored key" }));
        select.disabled = true;
        form.querySelector('button[type="submit"]').disabled = true;
        none.hidden = false;
        return;
      }
      select.replaceChildren.apply(select, credentials.map(function (c) {
        return el("option", { value: c.id, text: c.label + " (" + c.exchange + ", …" + c.key_last_four + ")" });
      }));
    }, function (error) {
      select.replaceChildren(el("option", { value: "", text: "could not load: " + error.message }));
    });

    function follow(batch) {
      var counts = batch.inserted + " added, " + batch.skipped + " already imported";
      var text = "Import #" + batch.id + " from Binance: " + batch.status +
        (batch.status === "queued" ? "" : " · " + counts) + (batch.error ? " · " + batch.error : "");
      status.className = "alert " + (batch.status === "failed" ? "error" : batch.status === "completed" ? "ok" : "warn");
      status.setAttribute("data-import-status", batch.status);
      status.replaceChildren(badge(batch.status), " ", text);
      status.hidden = false;
      if (batch.status === "completed" || batch.status === "failed" || batch.status === "cancelled") {
        refreshAll();
        return;
      }
      window.setTimeout(function () {
        C.api("/api/transactions/imports/" + batch.id + "/").then(follow, function (error) {
          status.textContent = error.message;
        });
      }, 1000);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var values = C.formValues(form);
      var body = {
        credential: values.credential ? Number(values.credential) : null,
        symbols: (values.symbols || "").split(/[\s,;]+/).filter(Boolean),
      };
      if (values.start_time) body.start_time = utc(values.start_time);
      C.api("/api/transactions/history/fetch/", { body: body }).then(follow, function (error) {
        C.showErrors(form, error);
      });
    });
  }

  /* ---- Imports ----------------------------------------------------------------------- */

  var importsTable = null;
  var importDetail = document.querySelector("[data-import-detail]");

  function canShareImport(batch) { return page.share_all_imports || batch.owner === page.username; }

  function openShare(batch) {
    var template = document.getElementById("import-share-template");
    var panel = template.content.firstElementChild.cloneNode(true);
    panel.setAttribute("data-share-url", "/api/transactions/imports/" + batch.id + "/shares/");
    panel.setAttribute("data-import", batch.id);
    var heading = panel.querySelector("h2");
    heading.textContent = "Sharing import #" + batch.id + (batch.file_name ? " (" + batch.file_name + ")" : "");
    panel.querySelector(".help").textContent = "Who else may see this import and its fills. “View” reads them; “change” also lets them manage the import.";
    importDetail.replaceChildren(panel);
    C.share.setUp(panel);
    panel.querySelector('[name="grantee"]').focus();
  }

  function showRejects(batch) {
    importDetail.replaceChildren(el("section", { class: "panel", "data-import": batch.id },
      el("h3", { text: "Rows rejected by import #" + batch.id }),
      el("ul", {}, ...rejectItems(batch.rejects)),
      batch.rejected > batch.rejects.length ? el("p", { class: "help", text: "The first " + batch.rejects.length + " are listed." }) : null));
  }

  function describeSource(batch) {
    if (batch.file_name) return batch.file_name;
    var symbols = (batch.parameters && batch.parameters.symbols) || [];
    return "Binance API" + (symbols.length ? ": " + symbols.join(", ") : "");
  }

  function loadImports() {
    var container = document.querySelector("[data-imports]");
    return C.api("/api/transactions/imports/?page_size=100").then(function (answer) {
      var batches = answer.results || [];
      var select = document.querySelector('[data-transaction-filters] [name="import_batch"]');
      var chosen = select.value;
      select.replaceChildren.apply(select, [el("option", { value: "", text: "any" })].concat(batches.map(function (b) {
        return el("option", { value: b.id, text: "#" + b.id + " " + describeSource(b), selected: String(b.id) === chosen });
      })));
      if (!batches.length) { container.replaceChildren(el("p", { class: "muted", text: "No imports yet." })); return; }
      var columns = [
        { key: "id", label: "#", num: true },
        { key: "file_name", label: "Source", value: describeSource },
        { key: "format", label: "Format" },
        { key: "status", label: "Status", format: function (b) { return badge(b.status); } },
        { key: "rows_total", label: "Rows", num: true },
        { key: "inserted", label: "Added", num: true },
        { key: "skipped", label: "Duplicates", num: true },
        { key: "rejected", label: "Rejected", num: true },
        { key: "owner", label: "Owner" },
        { key: "created_at", label: "Imported", format: function (b) { return fmt.date(b.created_at); } },
        { key: "actions", label: "Actions", sortable: false, format: function (b) {
          return el("span", { class: "actions-cell" },
            el("button", { type: "button", class: "link", "data-show-import": b.id, onclick: function () {
              var filters = document.querySelector("[data-transaction-filters]");
              filters.querySelector('[name="import_batch"]').value = String(b.id);
              applyFilters();
              document.querySelector("[data-transactions]").scrollIntoView({ block: "start" });
            } }, "Fills"),
            b.rejects && b.rejects.length ? el("button", { type: "button", class: "link", onclick: function () { showRejects(b); } }, "Rejects") : null,
            canShareImport(b) ? el("button", { type: "button", class: "link", "data-share-import": b.id, onclick: function () { openShare(b); } }, "Share") : null,
            b.error ? el("span", { class: "error-text", text: b.error }) : null);
        } },
      ];
      var caption = answer.count > batches.length ? "The " + batches.length + " newest of " + answer.count + " imports." : "";
      if (!importsTable) {
        importsTable = new C.DataTable(container, { columns: columns, rows: batches, pageSize: 10, rowId: function (b) { return b.id; }, caption: caption });
      } else {
        importsTable.caption = caption;
        importsTable.setRows(batches);
      }
    }, function (error) {
      container.replaceChildren(el("p", { class: "error-text", text: error.message }));
    });
  }

  /* ---- Fills: filters, summary, server-paged list ------------------------------------ */

  var filtersForm = document.querySelector("[data-transaction-filters]");
  var listState = { page: 1, ordering: "-transaction_time", filters: {} };
  var SORTABLE = { transaction_time: "Time", symbol: "Symbol", price: "Price", quantity: "Quantity" };

  function currentFilters() {
    var values = C.formValues(filtersForm);
    return { symbol: values.symbol, side: values.side, start: utc(values.start), end: utc(values.end), import_batch: values.import_batch };
  }

  function applyFilters() {
    C.clearErrors(filtersForm);
    listState.filters = currentFilters();
    listState.page = 1;
    loadSummary();
    loadTransactions();
  }

  function deleteFill(row) {
    if (!window.confirm("Delete this fill (" + row.side + " " + row.quantity + " " + row.symbol + ")? Its replay results go with it; importing its file again brings it back.")) return;
    C.api("/api/transactions/history/" + row.id + "/", { method: "DELETE" }).then(function () {
      loadSummary();
      loadTransactions();
    }, function (error) { window.alert(error.message); });
  }

  function loadTransactions() {
    var container = document.querySelector("[data-transactions]");
    var params = Object.assign({}, listState.filters, { page: listState.page, page_size: PAGE_SIZE, ordering: listState.ordering });
    return C.api("/api/transactions/history/" + query(params)).then(function (answer) {
      renderTransactions(container, answer);
    }, function (error) {
      if (error.status === 404 && listState.page > 1) { listState.page = 1; return loadTransactions(); }
      if (error.status === 400) C.showErrors(filtersForm, error);
      else container.replaceChildren(el("p", { class: "error-text", text: error.message }));
    });
  }

  function renderTransactions(container, answer) {
    var rows = answer.results || [];
    container.setAttribute("data-total-count", String(answer.count));
    var pages = Math.max(1, Math.ceil(answer.count / PAGE_SIZE));
    var sortKey = listState.ordering.replace(/^-/, "");
    var descending = listState.ordering.charAt(0) === "-";
    var head = el("tr", {});
    [["transaction_time", "Time"], ["symbol", "Symbol"], ["side", "Side"], ["transaction_type", "Type"],
      ["price", "Price", true], ["quantity", "Quantity", true], ["value", "Value", true], ["fee", "Fee", true],
      ["import_batch", "Import"], ["owner", "Owner"], ["is_replayed", "Replayed"], ["actions", ""]].forEach(function (column) {
      var key = column[0];
      var th = el("th", { scope: "col", class: column[2] ? "num" : null,
        "aria-sort": key === sortKey ? (descending ? "descending" : "ascending") : null });
      if (SORTABLE[key]) {
        th.appendChild(el("button", { type: "button", class: "sort", "data-sort": key, text: column[1], onclick: function () {
          listState.ordering = key === sortKey && !descending ? "-" + key : key;
          listState.page = 1;
          loadTransactions();
        } }));
      } else {
        th.textContent = column[1];
      }
      head.appendChild(th);
    });
    var body = el("tbody", {});
    rows.forEach(function (row) {
      body.appendChild(el("tr", { "data-row-id": row.id },
        el("td", { text: seconds(row.transaction_time) }),
        el("td", { text: row.symbol }),
        el("td", { class: row.side === "buy" ? "up" : "down", text: row.side }),
        el("td", { text: row.transaction_type }),
        el("td", { class: "num", text: row.price }),
        el("td", { class: "num", text: row.quantity }),
        el("td", { class: "num", text: fmt.number(row.value, 8) }),
        el("td", { class: "num", text: row.fee === null ? "–" : row.fee + (row.fee_asset ? " " + row.fee_asset : "") }),
        el("td", { text: row.import_batch ? "#" + row.import_batch : "–" }),
        el("td", { text: row.owner }),
        el("td", { text: row.is_replayed ? "yes" : "no" }),
        el("td", {}, row.owner === page.username ? el("button", { type: "button", class: "link", "data-delete-fill": row.id,
          "aria-label": "Delete fill " + row.id, onclick: function () { deleteFill(row); } }, "Delete") : null)));
    });
    if (!rows.length) {
      body.appendChild(el("tr", {}, el("td", { colspan: "12", class: "muted", text: "No fills match." })));
    }
    var pager = el("div", { class: "pager" },
      el("button", { type: "button", "data-page": "prev", disabled: listState.page <= 1, onclick: function () { listState.page -= 1; loadTransactions(); } }, "Previous"),
      el("span", { "data-page-status": true, text: "Page " + listState.page + " of " + pages + " · " + answer.count + " fills" }),
      el("button", { type: "button", "data-page": "next", disabled: listState.page >= pages, onclick: function () { listState.page += 1; loadTransactions(); } }, "Next"));
    container.replaceChildren(el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), body)), pager);
  }

  function loadSummary() {
    var container = document.querySelector("[data-transaction-summary]");
    var params = Object.assign({}, listState.filters);
    return C.api("/api/transactions/summary/" + query(params)).then(function (rows) {
      if (!rows.length) { container.replaceChildren(el("p", { class: "muted", text: "No fills." })); return rows; }
      var total = rows.reduce(function (sum, r) { return sum + r.count; }, 0);
      var first = rows.map(function (r) { return r.first_time; }).sort()[0];
      var last = rows.map(function (r) { return r.last_time; }).sort().slice(-1)[0];
      var cards = el("div", { class: "cards" },
        card("Fills", fmt.number(total, 0)), card("Symbols", rows.length), card("First", fmt.date(first)), card("Last", fmt.date(last)));
      var body = el("tbody", {});
      rows.forEach(function (r) {
        var fees = Object.keys(r.fees).map(function (asset) { return r.fees[asset] + (asset ? " " + asset : ""); }).join(", ");
        body.appendChild(el("tr", { "data-symbol": r.symbol },
          el("td", { text: r.symbol }), el("td", { class: "num", text: r.count }),
          el("td", { class: "num", text: r.buy_count + " / " + r.sell_count }),
          el("td", { class: "num", text: r.buy_quantity + " / " + r.sell_quantity }),
          el("td", { class: "num", text: fmt.number(r.buy_value, 8) + " / " + fmt.number(r.sell_value, 8) }),
          el("td", { text: fees || "–" }),
          el("td", { text: fmt.date(r.first_time) }), el("td", { text: fmt.date(r.last_time) })));
      });
      var table = el("table", {}, el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "Symbol" }), el("th", { scope: "col", class: "num", text: "Fills" }),
        el("th", { scope: "col", class: "num", text: "Buys / sells" }), el("th", { scope: "col", class: "num", text: "Bought / sold (base)" }),
        el("th", { scope: "col", class: "num", text: "Spent / received (quote)" }), el("th", { scope: "col", text: "Fees" }),
        el("th", { scope: "col", text: "First" }), el("th", { scope: "col", text: "Last" }))), body);
      container.replaceChildren(cards, el("div", { class: "table-wrap" }, table));
      return rows;
    }, function (error) {
      container.replaceChildren(el("p", { class: "error-text", text: error.message }));
      return [];
    });
  }

  function card(label, value) {
    return el("div", { class: "card" }, el("div", { class: "label", text: label }), el("div", { class: "value", text: String(value) }));
  }

  /* Symbols the user has fills in (unfiltered): the filter's suggestions and the
     replay form's choices. */
  function loadSymbols() {
    return C.api("/api/transactions/summary/").then(function (rows) {
      var symbols = rows.map(function (r) { return r.symbol; });
      document.getElementById("symbol-options").replaceChildren.apply(document.getElementById("symbol-options"),
        symbols.map(function (s) { return el("option", { value: s }); }));
      var select = document.querySelector('[data-replay-form] [name="symbol"]');
      if (select) {
        var chosen = select.value;
        select.replaceChildren.apply(select, [el("option", { value: "", text: "every symbol" })].concat(symbols.map(function (s) {
          return el("option", { value: s, text: s, selected: s === chosen });
        })));
      }
    }, function () { /* the summary panel shows the error */ });
  }

  /* ---- Replays ------------------------------------------------------------------------ */

  function setUpReplay(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var values = C.formValues(form);
      var body = { timeframe: values.timeframe, fill: values.fill };
      if (values.symbol) body.symbol = values.symbol;
      if (values.source) body.source = values.source;
      if (values.name) body.name = values.name;
      if (values.start) body.start = utc(values.start);
      if (values.end) body.end = utc(values.end);
      var submit = form.querySelector("[data-replay-submit]");
      submit.disabled = true;
      C.api("/api/replays/", { body: body }).then(function (run) {
        window.location.assign("/replays/" + run.id + "/");
      }, function (error) {
        submit.disabled = false;
        C.showErrors(form, error);
      });
    });
  }

  var replaysTable = null;
  function loadReplays() {
    var container = document.querySelector("[data-recent-replays]");
    return C.api("/api/replays/?page_size=20").then(function (answer) {
      var runs = answer.results || [];
      if (!runs.length) { container.replaceChildren(el("p", { class: "muted", text: "No replays yet." })); return; }
      var columns = [
        { key: "id", label: "Replay", num: true, format: function (r) { return el("a", { href: "/replays/" + r.id + "/", text: "#" + r.id }); } },
        { key: "name", label: "Name" },
        { key: "symbol", label: "Symbol", format: function (r) { return r.symbol || "every symbol"; } },
        { key: "timeframe", label: "Candles" },
        { key: "fill", label: "Fill" },
        { key: "status", label: "Status", format: function (r) { return badge(r.status); } },
        { key: "progress", label: "Progress", num: true, format: function (r) { return fmt.pct(r.progress, 0); } },
        { key: "transaction_count", label: "Fills", num: true },
        { key: "owner", label: "Owner" },
        { key: "created_at", label: "Started", format: function (r) { return fmt.date(r.created_at); } },
      ];
      if (!replaysTable) replaysTable = new C.DataTable(container, { columns: columns, rows: runs, pageSize: 10, rowId: function (r) { return r.id; } });
      else replaysTable.setRows(runs);
    }, function (error) {
      container.replaceChildren(el("p", { class: "error-text", text: error.message }));
    });
  }

  function refreshAll() {
    loadImports();
    loadSymbols();
    loadSummary();
    loadTransactions();
  }

  var uploadForm = document.querySelector("[data-upload-form]");
  if (uploadForm) setUpUpload(uploadForm);
  var fetchForm = document.querySelector("[data-fetch-form]");
  if (fetchForm) setUpFetch(fetchForm);
  var replayForm = document.querySelector("[data-replay-form]");
  if (replayForm) setUpReplay(replayForm);
  filtersForm.addEventListener("submit", function (event) { event.preventDefault(); applyFilters(); });
  filtersForm.addEventListener("reset", function () { window.setTimeout(applyFilters, 0); });
  refreshAll();
  loadReplays();
})();
