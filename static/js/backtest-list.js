/* The backtests list: the picked runs (two or more) open the comparison page. */
(function () {
  "use strict";
  var C = window.Central;

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("compare-form");
    if (!form) return;
    var hint = form.querySelector("[data-compare-hint]");

    function picked() {
      return Array.prototype.map.call(form.querySelectorAll('input[name="ids"]:checked'), function (box) { return box.value; });
    }
    function update() {
      if (!hint) return;
      var count = picked().length;
      hint.textContent = count < 2 ? "Pick two or more runs." : count + " runs picked.";
    }
    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      C.clearErrors(form);
      var ids = picked();
      if (ids.length < 2) {
        C.showErrors(form, { message: "Pick at least two backtests to compare." });
        return;
      }
      window.location.assign(form.getAttribute("data-compare-url") + "?ids=" + ids.join(","));
    });
    update();
  });
})();
