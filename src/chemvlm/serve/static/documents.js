// The document view: a PDF or page image sent to /v1/documents, its pages shown as they are read with
// numbered boxes over them; a box shows its structure, whose SMILES can be copied or corrected (checked by
// RDKit on the server, /v1/molecules); the records, corrected, export as SDF or CSV (/v1/documents/export).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const doc = { name: null, records: new Map(), chosen: null, busy: false };

function docError(text) { $("doc-error").textContent = text; $("doc-error").hidden = !text; }
function authHeaders(extra) {
  const h = { ...extra };
  if (apiKey()) h.Authorization = "Bearer " + apiKey();
  return h;
}
function fileType(file) {
  if (file.type) return file.type;
  const name = file.name.toLowerCase();
  if (name.endsWith(".pdf")) return "application/pdf";
  if (name.endsWith(".tif") || name.endsWith(".tiff")) return "image/tiff";
  return "";
}

async function* ndjson(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line) yield JSON.parse(line);
    }
    if (done) { if (buffer.trim()) yield JSON.parse(buffer); return; }
  }
}

// ---- reading a document ------------------------------------------------------------------------
async function readDocument(file) {
  if (!file || doc.busy) return;
  const type = fileType(file);
  if (type !== "application/pdf" && !type.startsWith("image/")) { docError("Pick a PDF or a page image."); return; }
  doc.busy = true;
  doc.name = file.name;
  doc.records.clear();
  doc.chosen = null;
  $("doc-pages").replaceChildren();
  $("doc-detail").hidden = true;
  $("export-sdf").disabled = $("export-csv").disabled = true;
  docError("");
  $("doc-status").textContent = `Reading ${file.name}…`;
  try {
    const response = await fetch("/v1/documents?name=" + encodeURIComponent(file.name), {
      method: "POST", headers: authHeaders({ "Content-Type": type }), body: file,
    });
    if (response.status === 401) $("key-box").hidden = false;
    if (!response.ok) throw new Error(await errorText(response));
    let total = 0, last = 0;
    for await (const event of ndjson(response)) {
      if (event.error) throw new Error(event.error.message);
      if (event.object === "document") { total = event.pages; last = event.last; }
      if (event.object === "document.page") {
        addPage(event);
        $("doc-status").textContent = `${file.name}: page ${event.page} of ${last} read…`;
      }
      if (event.object === "document.done") {
        const more = event.more_pages ? ` (the first ${event.pages_read} of ${total} pages)` : "";
        $("doc-status").textContent = `${file.name}: ${event.structures} structures on ${event.pages_read} pages${more}.`;
      }
    }
  } catch (err) {
    docError(err.message);
    $("doc-status").textContent = doc.records.size ? `${file.name}: stopped after the pages shown.` : "";
  } finally {
    doc.busy = false;
    $("export-sdf").disabled = $("export-csv").disabled = doc.records.size === 0;
  }
}

function element(tag, attributes = {}, text = "") {
  const node = tag === "svg" || ["g", "rect", "text"].includes(tag) ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function addPage(page) {
  const [width, height] = page.size;
  const section = element("div", { class: "doc-page", "data-page": page.page });
  section.append(element("h3", {}, `Page ${page.page} of ${page.pages}` + (page.records.length ? "" : ": no structure found")));
  const sheet = element("div", { class: "sheet" });
  sheet.append(element("img", { src: page.image, alt: `page ${page.page}` }));
  // the boxes in the page's own pixels: the SVG scales them with the picture it lies on
  const overlay = element("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
  const font = Math.max(12, Math.round(width / 60)), stroke = Math.max(2, Math.round(width / 400));
  const table = element("table", { class: "doc-table" });
  if (page.records.length) table.append(tableRow(["#", "label", "SMILES", "confidence"], "th"));
  page.records.forEach((record, index) => {
    const n = String(index + 1);
    doc.records.set(record.id, { record, n });
    const [x0, y0, x1, y1] = record.bbox;
    const box = element("g", { class: "box", "data-id": record.id, "data-n": n });
    box.append(element("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, "stroke-width": stroke }));
    box.append(element("text", { x: x0, y: Math.max(font, y0 - 4), "font-size": font }, n));
    box.addEventListener("click", () => choose(record.id));
    overlay.append(box);
    const row = tableRow([n, record.label || "", shownSmiles(record), confidence(record)]);
    row.dataset.id = record.id;
    row.children[2].className = "smiles";
    row.addEventListener("click", () => choose(record.id));
    table.append(row);
  });
  sheet.append(overlay);
  section.append(sheet, table);
  $("doc-pages").append(section);
}

function tableRow(cells, tag = "td") {
  const row = element("tr");
  for (const cell of cells) row.append(element(tag, {}, cell));
  return row;
}
function shownSmiles(record) { return record.canonical || record.smiles || (record.error ? "(" + record.error + ")" : ""); }
function confidence(record) { return record.confidence == null ? "" : record.confidence.toFixed(2); }

// ---- one structure -----------------------------------------------------------------------------
async function choose(id) {
  const { record, n } = doc.records.get(id);
  doc.chosen = id;
  document.querySelectorAll(".box.chosen, .doc-table tr.chosen").forEach((e) => e.classList.remove("chosen"));
  document.querySelectorAll(`[data-id="${CSS.escape(id)}"]`).forEach((e) => e.classList.add("chosen"));
  $("doc-detail").hidden = false;
  $("doc-which").textContent = `${n} on page ${record.page}`;
  $("doc-smiles").textContent = record.canonical || record.smiles || "";
  $("doc-label").textContent = record.label || "—";
  $("doc-confidence").textContent = confidence(record) || "—";
  $("doc-engine").textContent = record.engine;
  $("doc-edit").value = record.canonical || record.smiles || "";
  $("doc-edit-error").hidden = true;
  $("doc-drawing").hidden = true;
  $("doc-none").hidden = record.valid;
  if (!record.valid) return;
  const response = await fetch("/v1/molecules", {
    method: "POST", headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify({ smiles: record.canonical }),
  });
  if (response.ok && doc.chosen === id) drawing((await response.json()).svg);
}

function drawing(svg) {
  $("doc-drawing").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
  $("doc-drawing").hidden = false;
  $("doc-none").hidden = true;
}

async function correct(smiles) {
  const id = doc.chosen;
  if (!id || !smiles.trim()) return;
  const response = await fetch("/v1/molecules", {
    method: "POST", headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify({ smiles: smiles.trim() }),
  });
  if (!response.ok) {
    $("doc-edit-error").textContent = await errorText(response);
    $("doc-edit-error").hidden = false;
    return;
  }
  const molecule = await response.json();
  const { record } = doc.records.get(id);
  Object.assign(record, { smiles: molecule.smiles, canonical: molecule.canonical_smiles, valid: true });
  $("doc-edit-error").hidden = true;
  $("doc-smiles").textContent = molecule.canonical_smiles;
  $("doc-edit").value = molecule.canonical_smiles;
  drawing(molecule.svg);
  const cell = document.querySelector(`tr[data-id="${CSS.escape(id)}"] td.smiles`);
  cell.textContent = molecule.canonical_smiles;
  cell.title = "corrected";
}

async function exportRecords(format) {
  docError("");
  const records = [...doc.records.values()].map((entry) => entry.record);
  const response = await fetch("/v1/documents/export", {
    method: "POST", headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify({ format, name: doc.name, records }),
  });
  if (!response.ok) { docError(await errorText(response)); return; }
  const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = element("a", { href: URL.createObjectURL(await response.blob()), download: named ? named[1] : "structures." + format });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// ---- wiring ------------------------------------------------------------------------------------
$("doc-file").addEventListener("change", (e) => { readDocument(e.target.files[0]); e.target.value = ""; });
$("doc-drop").addEventListener("dragover", (e) => { e.preventDefault(); $("doc-drop").classList.add("over"); });
$("doc-drop").addEventListener("dragleave", () => $("doc-drop").classList.remove("over"));
$("doc-drop").addEventListener("drop", (e) => {
  e.preventDefault();
  $("doc-drop").classList.remove("over");
  readDocument(e.dataTransfer.files[0]);
});
$("doc-copy").addEventListener("click", async () => {
  await navigator.clipboard.writeText($("doc-smiles").textContent);
  $("doc-copy").textContent = "Copied";
  setTimeout(() => { $("doc-copy").textContent = "Copy"; }, 1200);
});
$("doc-correct").addEventListener("submit", (e) => { e.preventDefault(); correct($("doc-edit").value); });
$("export-sdf").addEventListener("click", () => exportRecords("sdf"));
$("export-csv").addEventListener("click", () => exportRecords("csv"));
