/* "Compare my trades with a backtest" (templates/replay/replay_new.html): launches
   POST /api/backtests/<id>/replay/ and goes to the new replay's page. */
(function () {
  "use strict";
  var C = window.Central;
  var page = C.pageData();
  var form = document.querySelector("[data-compare-form]");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    C.clearErrors(form);
    var values = C.formValues(form);
    var body = { fill: values.fill, timeframe: values.timeframe };
    if (values.tolerance_seconds !== undefined) body.tolerance_seconds = Number(values.tolerance_seconds);
    var submit = form.querySelector("[data-compare-submit]");
    submit.disabled = true;
    C.api(page.launch, { body: body }).then(function (run) {
      window.location.assign("/replays/" + run.id + "/");
    }, function (error) {
      submit.disabled = false;
      C.showErrors(form, error);
    });
  });
})();
