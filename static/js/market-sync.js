/* Operators' part of the market-data page: start a Binance sync, follow the recent
   sync runs live (one progress socket per pending or running run) and cancel them.
   Everything goes through /api/market-data/ and /ws/market-data/sync-runs/<id>/; the
   server refuses all of it to anyone without the sync permission. */
(function () {
  "use strict";
  var C = window.Central;
  var API = "/api/market-data/";
  var ACTIVE = ["pending", "running"];
  var DEFAULT_TIMEFRAME = "1h";
  var DEFAULT_DAYS_BACK = 7;

  var form = document.getElementById("sync-form");
  var timeframeSelect = document.getElementById("sync-timeframe");
  var symbolInput = document.getElementById("sync-symbol");
  var startInput = document.getElementById("sync-start");
  var feedback = document.getElementById("sync-feedback");
  var runsBox = document.getElementById("sync-runs");
  var runsError = document.getElementById("sync-runs-error");

  var runs = [];      // newest first, as the API lists them
  var sockets = {};   // run id -> the socket following it

  function isActive(run) { return ACTIVE.indexOf(run.status) >= 0; }

  /* datetime-local gives "2024-01-01T00:00" (or with seconds); the API wants a zone. */
  function utc(value) {
    if (!value) return undefined;
    return (value.length === 16 ? value + ":00" : value) + "Z";
  }

  function progressOf(run) {
    if (run.progress !== null && run.progress !== undefined) return run.progress;
    if (run.status === "pending") return 0;
    return isActive(run) ? null : 1;
  }

  function progressCell(run) {
    if (run.status === "failed" || run.status === "cancelled") {
      return C.el("span", { class: "muted", "data-progress": true, text: "stopped" });
    }
    var value = progressOf(run);
    var bar = C.el("progress", { max: "1", value: value === null ? null : String(value),
      "aria-label": "Progress of sync run " + run.id });
    var text = value === null ? "running" : C.fmt.number(value * 100, 0) + " %";
    return C.el("span", { class: "sync-progress" }, bar, C.el("span", { class: "muted", "data-progress": true, text: text }));
  }

  function statusCell(run) {
    // A running sync is downloading or filling holes ("gaps"); that phase is worth saying.
    var label = run.status + (run.status === "running" && run.phase ? " · " + run.phase : "");
    return C.el("span", { class: "badge " + run.status, "data-status": run.status, text: label });
  }

  function notesCell(run) {
    var notes = [];
    if (run.error) notes.push(run.error);
    if (run.gaps_found) notes.push(run.gaps_filled + " of " + run.gaps_found + " holes filled");
    if (run.unfilled_gaps && run.unfilled_gaps.length) notes.push(run.unfilled_gaps.length + " gaps Binance has no data for");
    return C.el("span", { class: run.error ? "error-text" : "muted", text: notes.join("; ") || "–" });
  }

  function actionsCell(run) {
    if (!isActive(run)) return "";
    return C.el("button", { type: "button", class: "danger", "data-cancel": run.id, text: "Cancel",
      "aria-label": "Cancel sync run " + run.id, onclick: function (event) { cancel(run, event.currentTarget); } });
  }

  var table = new C.DataTable(runsBox, {
    caption: "Newest first",
    pageSize: 10,
    rowId: function (run) { return run.id; },
    columns: [
      { key: "id", label: "#", num: true },
      { key: "symbol", label: "Symbol" },
      { key: "timeframe", label: "Timeframe" },
      { key: "start", label: "Range (UTC)", format: function (run) {
        return C.fmt.date(run.start) + " → " + (run.end ? C.fmt.date(run.end) : "now");
      } },
      { key: "status", label: "Status", format: statusCell },
      { key: "progress", label: "Progress", sortable: false, format: progressCell },
      { key: "rows_inserted", label: "Candles stored", num: true, format: function (run) {
        return C.fmt.number(run.rows_inserted, 0) + (run.rows_updated ? " (+" + C.fmt.number(run.rows_updated, 0) + " updated)" : "");
      } },
      { key: "requests_made", label: "Requests", num: true },
      { key: "requested_by", label: "By", format: function (run) { return (run.requested_by || "–") + " · " + run.trigger; } },
      { key: "created_at", label: "Created", format: function (run) { return C.fmt.date(run.created_at); } },
      { key: "error", label: "Notes", sortable: false, format: notesCell },
      { key: "actions", label: "", sortable: false, format: actionsCell },
    ],
  });

  function render() { table.setRows(runs); }

  /* A newer state of a run (from the API or its socket) replaces the one shown; a
     socket snapshot of a running run carries no progress, so the last known is kept. */
  function update(message) {
    var run = runs.filter(function (r) { return r.id === message.id; })[0];
    var previous = run ? Object.assign({}, run) : null;
    if (!run) { run = {}; runs.unshift(run); }
    Object.assign(run, message);
    if ((message.progress === null || message.progress === undefined) && previous) run.progress = previous.progress;
    render();
    if (isActive(run)) follow(run);
    if (previous && isActive(previous) && !isActive(run)) finished(run);
  }

  function follow(run) {
    if (sockets[run.id]) return;
    sockets[run.id] = C.watch("/ws/market-data/sync-runs/" + run.id + "/", update, {
      onClose: function () { delete sockets[run.id]; },
    });
  }

  function finished(run) {
    if (run.status === "succeeded") {
      feedback.textContent = "Sync #" + run.id + " of " + run.symbol + " " + run.timeframe + " succeeded: " +
        C.fmt.number(run.rows_inserted, 0) + " candles stored.";
      C.market.reload({ symbol: run.symbol, timeframe: run.timeframe });
    } else {
      feedback.textContent = "Sync #" + run.id + " " + run.status + (run.error ? ": " + run.error : ".");
    }
  }

  function cancel(run, button) {
    button.disabled = true;
    runsError.hidden = true;
    C.api(API + "sync-runs/" + run.id + "/cancel/", { method: "POST" }).then(update, function (error) {
      runsError.textContent = "Could not cancel sync run #" + run.id + ": " + error.message;
      runsError.hidden = false;
      button.disabled = false;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    C.clearErrors(form);
    var values = C.formValues(form);
    var body = { symbol: values.symbol, timeframe: values.timeframe, start: utc(values.start) };
    if (values.end) body.end = utc(values.end);
    var submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    feedback.textContent = "";
    C.api(API + "sync/", { body: body }).then(function (run) {
      feedback.textContent = "Sync #" + run.id + " queued.";
      update(run);
    }, function (error) {
      C.showErrors(form, error);
    }).then(function () { submit.disabled = false; });
  });

  function fillForm(timeframes) {
    var chosen = (C.market.selection() || {}).timeframe || DEFAULT_TIMEFRAME;
    timeframeSelect.replaceChildren.apply(timeframeSelect, timeframes.map(function (tf) {
      return C.el("option", { value: tf.code, text: tf.code, selected: tf.code === chosen });
    }));
    if (!symbolInput.value) symbolInput.value = (C.market.selection() || {}).symbol || "";
    if (!startInput.value) {
      var day = new Date(Date.now() - DEFAULT_DAYS_BACK * 86400000);
      startInput.value = day.toISOString().slice(0, 10) + "T00:00";
    }
  }

  C.market.timeframes.then(fillForm);

  C.api(API + "sync-runs/").then(function (page) {
    runs = page.results || page;
    render();
    runs.filter(isActive).forEach(follow);
  }, function (error) {
    runsBox.replaceChildren();
    runsError.textContent = "Could not load the sync runs: " + error.message;
    runsError.hidden = false;
  });
})();
