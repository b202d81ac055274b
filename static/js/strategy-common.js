/* What the strategy list and the strategy page share: making a copy of a strategy
   through the API (Central.strategies.duplicate). */
(function () {
  "use strict";
  var C = window.Central;
  var MAX_NAME = 200;

  function copyName(name, attempt) {
    var suffix = attempt > 1 ? " (" + attempt + ")" : "";
    return ("Copy of " + name).slice(0, MAX_NAME - suffix.length) + suffix;
  }

  function nameTaken(error) {
    return error && error.status === 400 && error.data && error.data.name && Object.keys(error.data).length === 1;
  }

  /* A new strategy of the user's with `strategy`'s rules and config, named "Copy of …"
     (or "Copy of … (2)", … when the user already has one of that name: their names are
     looked up first, and a name taken meanwhile is retried). Resolves to the copy. */
  function duplicate(strategy, listUrl) {
    var query = "?owner=me&search=" + encodeURIComponent(copyName(strategy.name, 1));
    function attempt(n, taken) {
      while (taken[copyName(strategy.name, n)]) n += 1;
      var body = {
        name: copyName(strategy.name, n),
        description: strategy.description || "",
        entry_rules: strategy.entry_rules,
        exit_rules: strategy.exit_rules,
        config: strategy.config,
      };
      return C.api(listUrl, { body: body }).catch(function (error) {
        if (nameTaken(error) && n < 50) return attempt(n + 1, taken);
        throw error;
      });
    }
    return C.apiAll(listUrl + query).then(function (mine) {
      var taken = {};
      mine.forEach(function (s) { taken[s.name] = true; });
      return attempt(1, taken);
    });
  }

  /* The strategy `id` fetched from the API, then duplicated. */
  function duplicateById(id, listUrl) {
    return C.api(listUrl + id + "/").then(function (strategy) { return duplicate(strategy, listUrl); });
  }

  C.strategies = { duplicate: duplicate, duplicateById: duplicateById };
})();
