/* Applies the saved (or the system's) light/dark theme before the page paints. */
(function () {
  "use strict";
  var saved = null;
  try { saved = window.localStorage.getItem("central-theme"); } catch (e) { /* storage off */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", saved || (dark ? "dark" : "light"));
})();
