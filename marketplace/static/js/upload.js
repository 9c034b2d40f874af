// Upload one or several model files by drag and drop or file picker, each in its own XHR with a
// real progress bar (xhr.upload.onprogress), then follow each part's analysis until it is done.
// State for tests: window.__upload = {events: [{name, loaded, total, t}], results: [], done,
// started, refreshed (times the parts table was read again after a batch)}.

const form = document.getElementById("upload-form");
const texts = JSON.parse(document.getElementById("upload-texts").textContent);
const list = document.getElementById("uploads");
const dropzone = document.getElementById("dropzone");
const input = document.getElementById("file-input");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content
  || form?.querySelector('input[name="csrf_token"]')?.value || "";
const maxBytes = Number(form?.dataset.maxBytes || 0);
const state = (window.__upload = { events: [], results: [], done: 0, started: 0, refreshed: 0 });

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text; // never innerHTML: file names are untrusted
  return node;
}

function row(file) {
  const li = el("li", { class: "upload" });
  const head = el("div", { class: "row" });
  head.append(el("strong", {}, file.name), el("span", { class: "spacer" }));
  const status = el("span", { class: "small muted status" }, texts.uploading);
  head.append(status);
  const bar = el("div", { class: "progress-bar" });
  const progress = el("div", {
    class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": "0", "aria-label": file.name,
  });
  progress.append(bar);
  li.append(head, progress);
  list.prepend(li);
  return { li, status, bar, progress };
}

function setProgress(ui, percent) {
  const p = Math.max(0, Math.min(100, percent));
  ui.bar.style.width = `${p}%`;
  ui.progress.setAttribute("aria-valuenow", String(Math.round(p)));
}

function finish(ui, ok, message) {
  ui.bar.classList.add(ok ? "ok" : "error");
  ui.status.textContent = message;
  ui.status.classList.toggle("muted", ok);
  ui.li.classList.add(ok ? "ok" : "failed");
}

// what an analysed part's line says: printable, not printable and why, or the error
function outcome(part) {
  if (part.status !== "ready") return part.error || texts.failed;
  return part.refused ? `${texts.unprintable}: ${part.refused.short}` : texts.ready;
}

async function follow(ui, part) {
  // Poll the analysis status with a growing interval (bounded: about 10 minutes).
  const statusUrl = `${part.url}/status`;
  let delay = 500;
  for (let i = 0; i < 120; i++) {
    const resp = await fetch(statusUrl, { headers: { Accept: "application/json" } });
    if (!resp.ok) break;
    const data = await resp.json();
    if (data.status !== "pending") {
      finish(ui, data.status === "ready", outcome(data));
      ui.li.dataset.status = data.status;
      return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 5000);
  }
}

function send(file) {
  const ui = row(file);
  state.started += 1;
  if (maxBytes && file.size > maxBytes) {
    finish(ui, false, texts.tooLarge);
    state.results.push({ name: file.name, status: 413 });
    state.done += 1;
    return;
  }
  const body = new FormData();
  body.append("csrf_token", csrf);
  body.append("files", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.setRequestHeader("X-CSRFToken", csrf);
  xhr.upload.onprogress = (ev) => {
    if (!ev.lengthComputable) return;
    state.events.push({ name: file.name, loaded: ev.loaded, total: ev.total, t: performance.now() });
    setProgress(ui, (100 * ev.loaded) / ev.total);
  };
  xhr.onload = () => {
    let data = {};
    try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: generic message */ }
    state.results.push({ name: file.name, status: xhr.status, body: data });
    state.done += 1;
    const part = (data.parts || [])[0];
    if (xhr.status === 201 && part) {
      added = true;
      setProgress(ui, 100);
      ui.status.textContent = part.status === "pending" ? texts.analysing : "";
      const link = el("a", { href: part.url, class: "btn btn-small btn-secondary open-part" }, texts.open);
      ui.li.querySelector(".row").append(link);
      if (part.status === "pending") follow(ui, part);
      else finish(ui, part.status === "ready", outcome(part));
      ui.li.dataset.status = part.status;
    } else {
      const err = (data.errors || [])[0];
      finish(ui, false, (err && err.message) || (data.error && data.error.message) || texts.failed);
    }
    if (state.done === state.started) refreshList();
  };
  xhr.onerror = () => {
    state.results.push({ name: file.name, status: 0 });
    state.done += 1;
    finish(ui, false, texts.network);
    if (state.done === state.started) refreshList();
  };
  xhr.send(body);
}

// Once every file sent has its answer, the parts table below is read again from the server:
// the new parts stand in it (newest first, with their pictures and badges), not only in the
// upload list (walk: the table still said "no parts yet" until a reload).
let added = false;
async function refreshList() {
  if (!added) return;
  added = false;
  const current = document.getElementById("parts-list");
  try {
    const resp = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!resp.ok) return;
    const fresh = new DOMParser().parseFromString(await resp.text(), "text/html")
      .getElementById("parts-list");
    if (!current || !fresh) return;
    current.replaceWith(fresh);
    followPending(fresh);
    state.refreshed += 1;
  } catch (e) { /* the upload list still links every new part */ }
}

function sendAll(files) {
  for (const file of files) send(file);
}

if (form) { // staff see the list without the upload form
  input.addEventListener("change", () => {
    sendAll(Array.from(input.files));
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (ev) => {
      ev.preventDefault();
      dropzone.classList.add("dragover");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    dropzone.addEventListener(name, () => dropzone.classList.remove("dragover"));
  }
  dropzone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    sendAll(Array.from(ev.dataTransfer.files));
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendAll(Array.from(input.files));
  });
}

// Rows of the parts table still being analysed: follow them and update their badge in place.
function followPending(root) {
  for (const tr of root.querySelectorAll("#parts-table tr[data-status=pending]")) followRow(tr);
}
function followRow(tr) {
  (async () => {
    let delay = 1000;
    for (let i = 0; i < 120; i++) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 5000);
      const resp = await fetch(tr.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      const data = await resp.json();
      if (data.status === "pending") continue;
      tr.dataset.status = data.status;
      const cell = tr.querySelector(".part-status");
      const refused = data.status === "ready" && data.refused;
      const badge = refused
        ? el("span", { class: "badge badge-error", "data-unprintable": refused.code, title: refused.full },
          texts.unprintable)
        : el("span", { class: `badge badge-${data.status === "ready" ? "ok" : "error"}` },
          data.status === "ready" ? texts.ready : texts.error);
      cell.replaceChildren(badge);
      const why = refused ? refused.short : data.error;
      if (why) cell.append(" ", el("span", { class: "small muted" }, why));
      return;
    }
  })();
}
followPending(document);
