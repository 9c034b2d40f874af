// Part page: follow a pending analysis, and keep price and delivery date in step with the
// options (material, colour, quantity, infill, layer height, units) as the firm changes them;
// ask before deleting the part.
// State for tests: window.__price = {requests, answers, last}.

const texts = JSON.parse(document.getElementById("part-texts").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const state = (window.__price = { requests: 0, answers: 0, pending: 0, last: null, error: null });

// --- a button with data-confirm (delete the part) asks before its form is sent --------------
document.addEventListener("submit", (ev) => {
  const btn = ev.submitter;
  if (btn && btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) ev.preventDefault();
});

// --- pending analysis: poll, then reload once it is done --------------------------------------
const pending = document.getElementById("analysis-pending");
if (pending) {
  let delay = 400;
  const poll = async () => {
    try {
      const resp = await fetch(pending.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (resp.ok && (await resp.json()).status !== "pending") {
        window.location.reload();
        return;
      }
    } catch (e) { /* network hiccup: try again */ }
    delay = Math.min(delay * 1.5, 5000);
    setTimeout(poll, delay);
  };
  setTimeout(poll, delay);
}

// --- live price ------------------------------------------------------------------------------
const form = document.getElementById("options-form");
const box = document.getElementById("price-box");

function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
}

function fillColours() {
  const material = form.material.selectedOptions[0];
  const colours = JSON.parse(material.dataset.colours || "[]");
  const select = form.colour;
  const keep = select.value;
  select.replaceChildren();
  const any = document.createElement("option");
  any.value = "any";
  any.textContent = texts.any;
  select.append(any);
  for (const [value, label] of colours) { // [stored name, name in the page's language]
    const opt = document.createElement("option");
    opt.value = value;
    opt.textContent = label;
    select.append(opt);
  }
  select.value = colours.some(([value]) => value === keep) ? keep : "any";
}

function showNote(id, text) { // a hint that is there only when the answer has one
  const node = document.getElementById(id);
  if (!node) return;
  node.textContent = text || "";
  node.hidden = !text;
}

let seq = 0;
let timer = null;
// a guest's page has no quote button (ordering needs an account), only the price
// (and no price, no quote and no cart for a part that cannot be printed as chosen)
function setQuoteButton(enabled) {
  for (const id of ["make-quote", "add-to-cart"]) {
    const button = document.getElementById(id);
    if (button) button.disabled = !enabled;
  }
}
// options the server refuses (quantity 0, infill 150, ...): no figures of the last good answer
// stay in the box, the message stands at its top and the field it names is marked
const FIGURES = ["price-gross", "price-net", "price-vat", "delivery-date", "est-grams", "est-time"];
function showInvalid(error) {
  for (const id of FIGURES) setText(id, "–");
  document.getElementById("price-lines")?.replaceChildren();
  for (const id of ["delivery-note", "supports-warning", "supports-info", "printer-class-note",
    "orientation-note"]) {
    showNote(id, null);
  }
  document.getElementById("price-result")?.classList.add("price-invalid");
  // the part itself cannot be priced so (too large in that unit, ...): its size of the last
  // good answer is not the size the message speaks of (which names the size): no size line
  if (error && error.field === "part") {
    setText("units-size", "–");
    sizeLine(false);
  }
  const field = error && error.field && form.elements.namedItem(error.field);
  if (field && field.setAttribute) {
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", "price-error");
    field.closest(".field")?.classList.add("has-error");
  }
}
function sizeLine(shown) {
  const line = document.getElementById("units-size")?.parentElement;
  if (line) line.hidden = !shown;
}
function clearInvalid() {
  document.getElementById("price-result")?.classList.remove("price-invalid");
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    node.removeAttribute("aria-describedby");
    node.closest(".field")?.classList.remove("has-error");
  }
}
async function update() {
  const mine = ++seq;
  let retrying = false;
  box.classList.add("loading");
  const body = Object.fromEntries(new FormData(form).entries());
  delete body.csrf_token;
  state.requests += 1;
  try {
    const resp = await fetch(box.dataset.priceUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    const data = await resp.json();
    if (mine !== seq) return; // a newer request is on its way
    if (resp.status === 202) {
      // a worker is estimating these options from the mesh: ask again shortly; meanwhile the
      // figures on show are those of the options before, and the box says so
      retrying = true;
      state.pending += 1;
      working(true);
      timer = setTimeout(update, data.retry_ms || 1000);
      return;
    }
    working(false);
    const err = document.getElementById("price-error");
    clearInvalid();
    if (!resp.ok) {
      err.textContent = (data.error && data.error.message) || texts.failed;
      // the page's own refusal says the same already: once at the top of the box is enough
      const refusedNow = document.getElementById("price-refused");
      err.hidden = Boolean(refusedNow && !refusedNow.hidden
        && refusedNow.textContent.trim() === err.textContent.trim());
      state.error = err.textContent;
      setQuoteButton(false);
      showInvalid(data.error);
      return;
    }
    err.hidden = true;
    state.error = null;
    setQuoteButton(true);
    const refused = document.getElementById("price-refused");
    if (refused) refused.hidden = true; // the options chosen now can be priced
    // every figure comes formatted from the server (marketplace/formatting.py)
    const shown = data.display;
    setText("price-gross", shown.gross);
    setText("price-net", shown.net);
    setText("price-vat", shown.vat);
    setText("delivery-date", shown.delivery_date);
    showNote("delivery-note", shown.delivery_note);
    showNote("supports-warning", shown.supports_warning);
    showNote("printer-class-note", shown.printer_class);
    showNote("orientation-note", shown.orientation_note);
    const sup = data.supports || {};
    showNote("supports-info", sup.with_supports ? texts.with_supports
      : (sup.needed ? null : texts.no_supports_needed));
    setText("est-grams", shown.material);
    setText("est-time", shown.print_time);
    setText("units-size", shown.size);
    sizeLine(true);
    const table = document.getElementById("price-lines");
    table.replaceChildren();
    for (const line of shown.lines) {
      const tr = document.createElement("tr");
      const label = document.createElement("td");
      label.textContent = line.text;
      const amount = document.createElement("td");
      amount.className = "num";
      amount.textContent = line.amount;
      tr.append(label, amount);
      table.append(tr);
    }
    state.answers += 1;
    state.last = data;
    saveOptions(body);
    // the 3D view's "show orientation" follows the orientation the part is priced in
    document.dispatchEvent(new CustomEvent("print-rotation",
      { detail: (data.orientation && data.orientation.rotation) || null }));
  } catch (e) {
    if (mine === seq) state.error = String(e);
  } finally {
    // dimmed until the answer for these options is on show (not while it is being made)
    if (mine === seq && !retrying) {
      box.classList.remove("loading");
      working(false);
    }
  }
}
function working(on) {
  const note = document.getElementById("price-working");
  if (note) note.hidden = !on;
  box.setAttribute("aria-busy", on ? "true" : "false");
  if (on) setQuoteButton(false); // no quote of figures that are about to change
}

// one unit for the page: the price box's choice and the figures' re-analyse choice follow
// each other; while they differ from the analysed unit, a note says what still shows it
const reanalyse = document.getElementById("units-reanalyse");
function syncUnits(value) {
  if (form?.units && form.units.value !== value) form.units.value = value;
  if (reanalyse && reanalyse.value !== value) reanalyse.value = value;
  const stale = document.getElementById("units-stale");
  if (stale && reanalyse) stale.hidden = value === reanalyse.dataset.analysed;
}
if (form?.units && reanalyse) {
  syncUnits(form.units.value);
  form.units.addEventListener("change", () => syncUnits(form.units.value));
  reanalyse.addEventListener("change", () => {
    syncUnits(reanalyse.value);
    form.dispatchEvent(new Event("change")); // price the part in that unit at once
  });
}

// The options last priced for this part in this browser: a guest who signs up (the part
// moves to the new account) or anyone coming back finds the part as they left it, unless the
// page was rendered with options of its own (from its address, or a form sent back with an
// error: data-options-chosen). The unit is not kept: it belongs to the analysis ("Neu
// analysieren"). Only options the server priced are kept (the request of a good answer).
// The browser keeps them for the KEPT_PARTS parts priced last (each entry says when: "at").
const KEPT = ["material", "colour", "quantity", "infill", "layer_height", "supports"];
const KEPT_PARTS = 100;
const SAVED_PREFIX = "druckhub.options:";
const savedKey = box && `${SAVED_PREFIX}${box.dataset.priceUrl}`;
function saveOptions(priced) {
  try {
    localStorage.setItem(savedKey, JSON.stringify(
      { ...Object.fromEntries(KEPT.map((name) => [name, priced[name]])), at: Date.now() }));
    const keys = Object.keys(localStorage).filter((key) => key.startsWith(SAVED_PREFIX));
    if (keys.length <= KEPT_PARTS) return;
    const when = (key) => {
      try { return Number(JSON.parse(localStorage.getItem(key)).at) || 0; } catch (e) { return 0; }
    };
    const at = new Map(keys.map((key) => [key, when(key)]));
    keys.sort((a, b) => at.get(a) - at.get(b));
    keys.slice(0, keys.length - KEPT_PARTS).forEach((key) => localStorage.removeItem(key));
  } catch (e) { /* storage off or full: nothing to keep */ }
}
function restoreOptions() {
  if ("optionsChosen" in form.dataset) return;
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(savedKey) || "null"); } catch (e) { return; }
  if (!saved || typeof saved !== "object") return;
  for (const name of KEPT) {
    const field = form.elements.namedItem(name);
    const value = saved[name];
    if (!field || typeof value !== "string") continue;
    // a select takes only a value it offers (a material the hub dropped stays as rendered)
    if (field.tagName === "SELECT" && ![...field.options].some((o) => o.value === value)) continue;
    field.value = value;
    if (name === "material") fillColours(); // the colours of that material, then its colour
  }
}

if (form && box) {
  restoreOptions();
  form.material.addEventListener("change", fillColours);
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 150);
  });
  form.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 50);
  });
  update();
}
