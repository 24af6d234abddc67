// The chemist's page: one image, questions about it, answers streamed from /v1/chat/completions.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, messages: [], image: null, imageIsNew: false, busy: false };

function apiKey() { return localStorage.getItem("chemvlm-key") || ""; }
function headers() {
  const h = { "Content-Type": "application/json" };
  if (apiKey()) h.Authorization = "Bearer " + apiKey();
  return h;
}
function showError(text) { $("error").textContent = text; $("error").hidden = !text; }

async function errorText(response) {
  try { return (await response.json()).error.message; } catch { return `HTTP ${response.status}`; }
}

async function loadModel() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (response.status === 401) { $("key-box").hidden = false; showError("This server needs an API key."); return; }
  if (!response.ok) { showError(await errorText(response)); return; }
  state.model = (await response.json()).data[0].id;
  $("model").textContent = "model: " + state.model;
}

// ---- the image: drop, paste or pick ------------------------------------------------------------
function setImage(file) {
  if (!file || !file.type.startsWith("image/")) { showError("That is not an image file."); return; }
  const reader = new FileReader();
  reader.onload = () => {
    state.image = reader.result;  // a data URL: the only kind of image the server accepts by default
    state.imageIsNew = true;
    $("preview").src = state.image;
    $("preview").hidden = false;
    showError("");
  };
  reader.readAsDataURL(file);
}

$("file").addEventListener("change", (e) => setImage(e.target.files[0]));
$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  setImage(e.dataTransfer.files[0]);
});
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
  if (item) { e.preventDefault(); setImage(item.getAsFile()); }
});

// ---- the structure panel -----------------------------------------------------------------------
function showStructure(chem) {
  const found = chem && chem.valid;
  $("structure").hidden = !found;
  $("facts").hidden = !found;
  $("no-structure").hidden = found;
  if (!found) { $("no-structure").textContent = "No valid structure in the answer."; return; }
  $("structure").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(chem.svg);
  $("smiles").textContent = chem.canonical_smiles;
  $("formula").textContent = chem.formula;
  $("weight").textContent = chem.molecular_weight.toFixed(2) + " g/mol";
  $("inchikey").textContent = chem.inchikey;
}

$("copy").addEventListener("click", async () => {
  await navigator.clipboard.writeText($("smiles").textContent);
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1200);
});

// ---- asking ------------------------------------------------------------------------------------
function addTurn(question, image) {
  const turn = document.createElement("div");
  turn.className = "turn";
  const q = document.createElement("div");
  q.className = "q";
  if (image) { const img = document.createElement("img"); img.src = image; img.alt = ""; q.append(img); }
  q.append(document.createTextNode(question));
  const a = document.createElement("div");
  a.className = "a";
  turn.append(q, a);
  $("history").append(turn);
  return a;
}

// Only the latest image travels: the server answers about the most recent image of the conversation.
function requestMessages() {
  let kept = false;
  return state.messages.slice().reverse().map((m) => {
    if (!Array.isArray(m.content)) return m;
    const hasImage = m.content.some((p) => p.type === "image_url");
    if (hasImage && !kept) { kept = true; return m; }
    return { ...m, content: m.content.filter((p) => p.type !== "image_url") };
  }).reverse();
}

async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data === "[DONE]") return;
      if (data) yield JSON.parse(data);
    }
  }
}

async function ask(question) {
  if (state.busy || !question.trim()) return;
  if (!state.model) await loadModel();
  if (!state.model) return;
  if (!state.image && !state.messages.length) { showError("Drop, paste or pick an image first."); return; }
  state.busy = true;
  $("send").disabled = true;
  showError("");
  const content = [];
  if (state.imageIsNew) content.push({ type: "image_url", image_url: { url: state.image } });
  content.push({ type: "text", text: question });
  const answerBox = addTurn(question, state.imageIsNew ? state.image : null);
  const userMessage = { role: "user", content };
  let answer = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ model: state.model, stream: true, messages: [...requestMessages(), userMessage] }),
    });
    if (response.status === 401) $("key-box").hidden = false;
    if (!response.ok) throw new Error(await errorText(response));
    for await (const event of sseEvents(response)) {
      if (event.error) throw new Error(event.error.message);
      const choice = event.choices[0];
      if (choice.delta.content) { answer += choice.delta.content; answerBox.textContent = answer; }
      if (choice.finish_reason) showStructure(event.chemistry);
    }
    state.messages.push(userMessage, { role: "assistant", content: answer });
    state.imageIsNew = false;
    $("question").value = "";
  } catch (err) {
    answerBox.textContent = answer;
    answerBox.parentElement.classList.add("failed");
    showError(err.message);
  } finally {
    state.busy = false;
    $("send").disabled = false;
  }
}

$("ask").addEventListener("submit", (e) => { e.preventDefault(); ask($("question").value); });
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ask($("question").value); }
});
document.querySelectorAll(".example").forEach((b) => b.addEventListener("click", () => { $("question").value = b.dataset.q; }));
$("new").addEventListener("click", () => {
  state.messages = [];
  state.imageIsNew = Boolean(state.image);
  $("history").replaceChildren();
  showStructure(null);
  $("no-structure").textContent = "The structure found in the answer is drawn here.";
});
$("key").addEventListener("change", () => { localStorage.setItem("chemvlm-key", $("key").value); showError(""); loadModel(); });
loadModel();
