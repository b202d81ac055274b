/* The comparison page: each backtest's equity curve from the equity API, normalised to
   100 at its first point and overlaid on one chart with a legend; drawdowns (percent
   below each run's running peak) on a second chart when asked for. The chart box gets
   data-series-count once every curve is drawn. */
(function () {
  "use strict";
  var C = window.Central;
  var charts = C.charts;

  function normalised(points) {
    var first = points.length ? points[0].equity : 0;
    return points.map(function (p) {
      return { time: charts.time(p.t), value: first ? (p.equity / first) * 100 : 0 };
    });
  }

  function drawdowns(points) {
    return points.map(function (p) { return { time: charts.time(p.t), value: -p.drawdown * 100 }; });
  }

  function legend(container, runs) {
    container.replaceChildren.apply(container, runs.map(function (run, i) {
      var swatch = C.el("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.backgroundColor = charts.color(i);
      return C.el("li", { "data-run": run.id }, swatch, C.el("a", { href: run.page_url, text: run.label }));
    }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var runs = C.pageData().runs || [];
    var box = document.querySelector("[data-compare-chart]");
    if (!box || !runs.length) return;
    var ddBox = document.querySelector("[data-drawdown-chart]");
    var toggle = document.querySelector("[data-show-drawdowns]");
    var errorBox = document.querySelector("[data-chart-error]");
    legend(document.querySelector("[data-compare-legend]"), runs);

    var chart = charts.create(box);
    var ddChart = null;
    var curves = [];

    function drawDrawdowns() {
      if (ddChart) return;
      ddChart = charts.create(ddBox);
      curves.forEach(function (points, i) {
        if (points) charts.addLine(ddChart, { color: charts.color(i), lineWidth: 1, title: "#" + runs[i].id }).setData(drawdowns(points));
      });
      ddChart.timeScale().fitContent();
      ddBox.setAttribute("data-series-count", String(curves.filter(Boolean).length));
    }

    toggle.addEventListener("change", function () {
      ddBox.hidden = !toggle.checked;
      if (toggle.checked) drawDrawdowns();
    });

    Promise.all(runs.map(function (run, i) {
      return C.api(run.equity_url + "?max_points=1500").then(function (equity) {
        curves[i] = equity.points;
        charts.addLine(chart, { color: charts.color(i), title: "#" + run.id }).setData(normalised(equity.points));
        return true;
      }, function (error) {
        errorBox.hidden = false;
        errorBox.textContent = (errorBox.textContent ? errorBox.textContent + " " : "") + run.label + ": " + error.message;
        return false;
      });
    })).then(function (drawn) {
      chart.timeScale().fitContent();
      box.setAttribute("data-series-count", String(drawn.filter(Boolean).length));
    });
  });
})();
