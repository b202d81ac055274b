/* The sharing panel (templates/partials/share_panel.html): lists who an object is
   shared with, shares it with a user or group, and revokes, all through its
   /shares/ endpoint, so the API's rules and audit entries apply. */
(function () {
  "use strict";
  var C = window.Central;

  function setUp(panel) {
    var url = panel.getAttribute("data-share-url");
    var list = panel.querySelector("[data-share-list]");
    var form = panel.querySelector("[data-share-form]");

    function render(shares) {
      if (!shares.length) { list.replaceChildren(C.el("li", { class: "muted", text: "Not shared with anyone." })); return; }
      list.replaceChildren.apply(list, shares.map(function (share) {
        var query = "?grantee_type=" + encodeURIComponent(share.grantee_type) + "&grantee=" + encodeURIComponent(share.grantee);
        return C.el("li", { "data-share": share.grantee_type + ":" + share.grantee },
          (share.grantee_type === "group" ? "Group " : "User ") + share.grantee + " · " + share.permission + " ",
          C.el("button", { type: "button", class: "link", "aria-label": "Stop sharing with " + share.grantee, onclick: function () {
            C.api(url + query, { method: "DELETE" }).then(load, function (error) { C.showErrors(form, error); });
          } }, "Stop sharing"));
      }));
    }

    function load() {
      return C.api(url).then(render, function (error) {
        list.replaceChildren(C.el("li", { class: "error-text", text: error.message }));
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      C.api(url, { body: C.formValues(form) }).then(function () {
        form.reset();
        return load();
      }, function (error) { C.showErrors(form, error); });
    });
    load();
  }

  /* For panels a page adds later (cloned from a <template>, one share_url per object). */
  C.share = { setUp: setUp };
  document.querySelectorAll("[data-share-panel]").forEach(setUp);
})();
