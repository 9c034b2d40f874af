// Printers board: poll the JSON endpoint and swap the cards whose data changed.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var url = board.dataset.pollUrl;
  var every = parseInt(board.dataset.pollMs || "3000", 10);
  var state = window.__board = { polls: 0, errors: 0, updated: 0, lastError: null };
  var revs = {};
  board.querySelectorAll("[data-printer]").forEach(function (el) { revs[el.dataset.printer] = null; });

  function apply(data) {
    var seen = {};
    data.printers.forEach(function (p, index) {
      seen[p.id] = true;
      var el = board.querySelector('[data-printer="' + p.id + '"]');
      if (el && revs[p.id] === p.rev) { return; }
      // never swap a card while someone is pressing one of its buttons, choosing in one of its
      // menus or has its "Neu drucken" open (the choice would be gone)
      var busy = el && el.contains(document.activeElement) &&
        ["BUTTON", "SELECT"].indexOf(document.activeElement.tagName) >= 0;
      if (busy || (el && el.querySelector("details[open]"))) { return; }
      var tpl = document.createElement("template");
      tpl.innerHTML = p.html.trim();
      var fresh = tpl.content.firstElementChild;
      if (el) { el.replaceWith(fresh); } else { board.appendChild(fresh); }
      revs[p.id] = p.rev;
      state.updated += 1;
    });
    board.querySelectorAll("[data-printer]").forEach(function (el) {
      if (!seen[el.dataset.printer]) { el.remove(); }
    });
    var summary = document.querySelector("[data-summary]");
    if (summary && data.summary_html) { summary.innerHTML = data.summary_html; }
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) { state.polls += 1; apply(data); })
      .catch(function (err) { state.errors += 1; state.lastError = String(err); })
      .finally(function () { setTimeout(poll, document.hidden ? every * 4 : every); });
  }
  setTimeout(poll, every);

})();
