/* The strategy list: filter rows, duplicate a strategy, list the templates. */
(function () {
  "use strict";
  var C = window.Central;
  var page = C.pageData();
  var errors = document.querySelector("[data-list-errors]");

  function showError(error) {
    errors.textContent = error.message || String(error);
    errors.hidden = false;
  }

  document.querySelectorAll("[data-duplicate]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      errors.hidden = true;
      C.strategies.duplicateById(button.getAttribute("data-duplicate"), page.list_url).then(function (copy) {
        window.location.assign(page.pages_url + copy.id + "/?saved=1");
      }, function (error) {
        button.disabled = false;
        showError(error);
      });
    });
  });

  var filter = document.querySelector("[data-strategy-filter]");
  if (filter) {
    var empty = document.querySelector("[data-filter-empty]");
    filter.addEventListener("input", function () {
      var text = filter.value.trim().toLowerCase();
      var shown = 0;
      document.querySelectorAll("[data-strategy-row]").forEach(function (row) {
        var match = !text || row.getAttribute("data-filter-text").indexOf(text) >= 0;
        row.hidden = !match;
        if (match) shown += 1;
      });
      empty.hidden = shown > 0;
    });
  }

  var links = document.querySelector("[data-template-links]");
  if (links) {
    C.api(page.templates_url).then(function (templates) {
      links.replaceChildren.apply(links, templates.map(function (template) {
        return C.el("li", {},
          C.el("a", { href: page.new_url + "?template=" + encodeURIComponent(template.name), "data-template-link": template.name, text: template.title }),
          " — ", C.el("span", { class: "muted", text: template.description }));
      }));
    }, function (error) {
      links.replaceChildren(C.el("li", { class: "error-text", text: error.message }));
    });
  }
})();
