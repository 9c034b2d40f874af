// Hub console: auto-submitting selects, select-all, the reject-with-reason dialog, and a
// question before a button with data-confirm submits (cancel a print, hand over and invoice),
// the parcel service asked for once a tracking number is typed.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var btn = ev.submitter;
    if (btn && btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) { ev.preventDefault(); }
  });
  // a tracking number needs its parcel service: the browser asks for it before sending
  document.addEventListener("input", function (ev) {
    var el = ev.target;
    var carrier = el.matches("[data-tracking]") && el.form && el.form.querySelector("[data-carrier]");
    if (carrier) { carrier.required = el.value.trim() !== ""; }
  });
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.matches("[data-autosubmit]") && el.form) { el.form.requestSubmit(); }
    if (el.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=order][form=bulk]").forEach(function (box) {
        box.checked = el.checked;
      });
    }
  });
  document.querySelectorAll("[data-autosubmit-fallback]").forEach(function (btn) { btn.hidden = true; });

  // Tell the technician when the queue changed since the page was loaded (no auto-reload:
  // it would lose the ticked boxes and the text typed into a reason).
  var tabs = document.querySelector("[data-counts-url]");
  if (tabs) {
    var known = JSON.stringify(JSON.parse(tabs.dataset.counts));
    var banner = document.querySelector("[data-queue-changed]");
    var every = parseInt(tabs.dataset.pollMs || "15000", 10);
    var check = function () {
      fetch(tabs.dataset.countsUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && JSON.stringify(data.counts) !== known) { banner.hidden = false; }
        })
        .catch(function () {})
        .finally(function () { if (banner.hidden) { setTimeout(check, every); } });
    };
    setTimeout(check, every);
  }

  var dialog = document.getElementById("reject-dialog");
  if (!dialog) { return; }
  var form = dialog.querySelector("form");
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest("[data-reject]");
    if (link) {
      ev.preventDefault();
      form.action = link.getAttribute("href").split("?")[0];
      dialog.querySelector("[data-order-label]").textContent = link.dataset.reject;
      form.querySelector("textarea").value = "";
      dialog.showModal();
      form.querySelector("textarea").focus();
    }
    if (ev.target.matches("[data-close-dialog]")) { dialog.close(); }
  });
})();
