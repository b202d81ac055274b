/* The settings page (templates/accounts/settings.html): API tokens and exchange
   credentials through /api/tokens/ and /api/credentials/, revoking shares through each
   object's /shares/ endpoint. A new token's key is shown once, from the creation
   response, and kept nowhere else; a credential's key and secret are sent once and
   never come back (the list shows the key's last four characters). */
(function () {
  "use strict";
  var C = window.Central;
  var data = C.pageData();
  var CHECK_POLL_MS = 1000;
  var CHECK_POLL_LIMIT = 120; // about two minutes, then the row says to reload

  /* A small table of `rows` in `container` (a user has a handful of tokens and
     credentials: no sorting or paging), or `emptyText` when there are none. Each cell
     carries its column's label, shown beside it when the table stacks on phones. */
  function table(container, rows, columns, caption, emptyText) {
    if (!rows.length) {
      container.replaceChildren(C.el("p", { class: "muted", text: emptyText }));
      return;
    }
    function cells(row) {
      return columns.map(function (column) {
        var content = column.format ? column.format(row) : row[column.key];
        return C.el("td", { "data-label": column.label }, content === null || content === undefined ? "–" : content);
      });
    }
    var head = C.el.apply(null, ["tr", {}].concat(columns.map(function (column) {
      return C.el("th", { scope: "col", text: column.label });
    })));
    var body = C.el.apply(null, ["tbody", {}].concat(rows.map(function (row) {
      return C.el.apply(null, ["tr", { "data-row-id": row.id }].concat(cells(row)));
    })));
    container.replaceChildren(C.el("div", { class: "table-wrap" },
      C.el("table", { class: "stack-on-phone" }, C.el("caption", { text: caption }), C.el("thead", {}, head), body)));
  }

  function listError(container, error) {
    container.replaceChildren(C.el("p", { class: "error-text", role: "alert", text: error.message }));
  }

  /* ---- API tokens ---------------------------------------------------------------- */
  function setUpTokens(section) {
    var list = section.querySelector("[data-token-list]");
    var form = section.querySelector("[data-token-form]");
    var shown = section.querySelector("[data-new-token]");
    var keyInput = section.querySelector("[data-new-token-key]");
    var copyStatus = section.querySelector("[data-copy-status]");

    function revokeButton(token) {
      return C.el("button", { type: "button", class: "danger", "data-revoke-token": token.id,
        "aria-label": "Revoke token " + token.name, onclick: function () {
          if (!window.confirm("Revoke the token “" + token.name + "”? Whatever uses it stops working at once.")) return;
          C.api(data.tokens_url + token.id + "/", { method: "DELETE" }).then(load, function (error) { listError(list, error); });
        } }, "Revoke");
    }

    function load() {
      return C.apiAll(data.tokens_url).then(function (tokens) {
        table(list, tokens, [
          { key: "name", label: "Name" },
          { key: "prefix", label: "Key starts with", format: function (t) { return t.prefix + "…"; } },
          { key: "created_at", label: "Created", format: function (t) { return C.fmt.date(t.created_at); } },
          { key: "last_used_at", label: "Last used", format: function (t) { return t.last_used_at ? C.fmt.date(t.last_used_at) : "never"; } },
          { key: "actions", label: "", format: revokeButton },
        ], "Your working tokens", "You have no API tokens.");
      }, function (error) { listError(list, error); });
    }

    function hideKey() {
      keyInput.value = "";
      copyStatus.textContent = "";
      shown.hidden = true;
    }

    section.querySelector("[data-copy-token]").addEventListener("click", function () {
      function copiedByHand() {
        keyInput.focus();
        keyInput.select();
        var done = false;
        try { done = document.execCommand("copy"); } catch (e) { done = false; }
        copyStatus.textContent = done ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy it.";
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(keyInput.value).then(function () {
          copyStatus.textContent = "Copied.";
        }, copiedByHand);
      } else {
        copiedByHand();
      }
    });
    section.querySelector("[data-new-token-done]").addEventListener("click", hideKey);

    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        C.clearErrors(form);
        hideKey();
        C.api(data.tokens_url, { body: { name: form.elements.namedItem("name").value } }).then(function (token) {
          form.reset();
          section.querySelector("[data-new-token-name]").textContent = token.name;
          keyInput.value = token.key;
          shown.hidden = false;
          keyInput.focus();
          keyInput.select();
          return load();
        }, function (error) { C.showErrors(form, error); });
      });
    }
    load();
  }

  /* ---- Exchange credentials -------------------------------------------------------- */
  function setUpCredentials(section) {
    var list = section.querySelector("[data-credential-list]");
    var form = section.querySelector("[data-credential-form]");
    var credentials = [];
    var polling = {};

    function statusCell(c) {
      var status = c.check_status || "";
      return C.el("span", {},
        C.el("span", { class: "badge check-" + (status || "unchecked"), "data-check-status": status || "unchecked",
          text: data.check_statuses[status] || status }),
        c.check_detail ? C.el("span", { class: "check-detail", "data-check-detail": true, text: " " + c.check_detail }) : null,
        c.checked_at ? C.el("span", { class: "muted", text: " · " + C.fmt.date(c.checked_at) }) : null);
    }

    function actions(c) {
      return C.el("span", { class: "row-actions" },
        C.el("button", { type: "button", "data-check": c.id, disabled: c.check_status === "pending",
          "aria-label": "Check " + c.label + " with the exchange", onclick: function () { check(c); } }, "Check"),
        C.el("button", { type: "button", class: "danger", "data-delete": c.id, "aria-label": "Delete " + c.label,
          onclick: function () { remove(c); } }, "Delete"));
    }

    function render() {
      table(list, credentials, [
        { key: "label", label: "Label" },
        { key: "exchange", label: "Exchange", format: function (c) { return data.exchanges[c.exchange] || c.exchange; } },
        { key: "key_last_four", label: "Key", format: function (c) { return "…" + c.key_last_four; } },
        { key: "created_at", label: "Added", format: function (c) { return C.fmt.date(c.created_at); } },
        { key: "last_used_at", label: "Last used", format: function (c) { return c.last_used_at ? C.fmt.date(c.last_used_at) : "never"; } },
        { key: "check_status", label: "Check", format: statusCell },
        { key: "actions", label: "", format: actions },
      ], "Your exchange credentials", "You have no exchange credentials.");
    }

    function replace(updated) {
      credentials = credentials.map(function (c) { return c.id === updated.id ? updated : c; });
      render();
    }

    /* The worker writes the outcome on the credential: read it until it is no longer pending. */
    function poll(id, tries) {
      if (polling[id] && tries === 0) return;
      polling[id] = true;
      window.setTimeout(function () {
        C.api(data.credentials_url + id + "/").then(function (c) {
          replace(c);
          if (c.check_status === "pending" && tries < CHECK_POLL_LIMIT) { poll(id, tries + 1); return; }
          delete polling[id];
        }, function (error) {
          delete polling[id];
          if (error.status !== 404) listError(list, error);
        });
      }, CHECK_POLL_MS);
    }

    function check(c) {
      C.api(data.credentials_url + c.id + "/check/", { method: "POST" }).then(function (queued) {
        replace(queued);
        poll(queued.id, 0);
      }, function (error) { listError(list, error); });
    }

    function remove(c) {
      if (!window.confirm("Delete the credential “" + c.label + "”? Central forgets its key and secret.")) return;
      C.api(data.credentials_url + c.id + "/", { method: "DELETE" }).then(load, function (error) { listError(list, error); });
    }

    function load() {
      return C.apiAll(data.credentials_url).then(function (rows) {
        credentials = rows;
        render();
        rows.forEach(function (c) { if (c.check_status === "pending") poll(c.id, 0); });
      }, function (error) { listError(list, error); });
    }

    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        C.clearErrors(form);
        var body = {
          label: form.elements.label.value,
          exchange: form.elements.exchange.value,
          api_key: form.elements.api_key.value,
          api_secret: form.elements.api_secret.value,
        };
        C.api(data.credentials_url, { body: body }).then(function () {
          form.reset();
          return load();
        }, function (error) {
          form.elements.api_secret.value = "";
          C.showErrors(form, error);
        });
      });
    }
    load();
  }

  /* ---- Sharing ------------------------------------------------------------------------ */
  function setUpSharing() {
    var errorBox = document.querySelector("[data-revoke-error]");
    document.querySelectorAll("[data-revoke]").forEach(function (button) {
      button.addEventListener("click", function () {
        var query = "?grantee_type=" + encodeURIComponent(button.getAttribute("data-grantee-type")) +
          "&grantee=" + encodeURIComponent(button.getAttribute("data-grantee"));
        errorBox.hidden = true;
        C.api(button.getAttribute("data-shares-url") + query, { method: "DELETE" }).then(function () {
          var row = button.closest("tr");
          button.closest("li").remove();
          if (!row.querySelector("[data-share]")) row.remove();
          if (!document.querySelector("[data-shared-object]")) {
            var table = document.querySelector("[data-shared-by]");
            if (table) table.closest(".table-wrap").remove();
            document.querySelector("[data-shared-by-empty]").hidden = false;
          }
        }, function (error) {
          errorBox.textContent = error.message;
          errorBox.hidden = false;
        });
      });
    });

    var form = document.querySelector("[data-share-something]");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var body = {
        grantee_type: form.elements.grantee_type.value,
        grantee: form.elements.grantee.value,
        permission: form.elements.permission.value,
      };
      C.api(form.elements.object.value, { body: body }).then(function () {
        // "Shared by me" is read on the server in bulk: show it afresh.
        window.location.hash = "sharing";
        window.location.reload();
      }, function (error) { C.showErrors(form, error); });
    });
  }

  var tokens = document.querySelector("[data-tokens]");
  if (tokens) setUpTokens(tokens);
  var credentialSection = document.querySelector("[data-credentials]");
  if (credentialSection) setUpCredentials(credentialSection);
  setUpSharing();
})();
