// The agent console for the signed-in staff member: the live queue, and the chats they work.
"use strict";

const $ = (id) => document.getElementById(id);
let me = null;
let socket = null;
let state = null;
let selected = null;
let clockOffset = 0;
let consultConfig = { classifications: [], extra_fields: [] };

function text(tag, value, className) {
  const element = document.createElement(tag);
  element.textContent = value;
  if (className) element.className = className;
  return element;
}

function waited(since) {
  const seconds = Math.max(0, Math.floor(Date.now() / 1000 + clockOffset - since));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function command(name, extra = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    $("error").textContent = "Not connected yet; try again in a moment.";
    return;
  }
  $("error").textContent = "";
  socket.send(JSON.stringify({ type: "command", command: name, case_id: selected, text: "", ...extra }));
}

function caseItem(item, withWait) {
  const box = document.createElement("div");
  box.className = "item" + (item.id === selected ? " selected" : "");
  box.dataset.case = item.id;
  box.appendChild(text("span", item.number + " ", "num"));
  box.appendChild(text("span", item.state.replace(/_/g, " "), "meta"));
  box.appendChild(text("div", item.problem.slice(0, 140)));
  if (withWait && item.queued_at) {
    const wait = text("div", "waiting " + waited(item.queued_at), "meta wait");
    wait.dataset.since = item.queued_at;
    box.appendChild(wait);
  }
  box.addEventListener("click", () => select(item.id));
  return box;
}

function renderState() {
  if (!state) return;
  clockOffset = state.now - Date.now() / 1000;
  $("status").textContent = `${state.me.name} · ${state.me.status}${state.me.online ? "" : " (offline)"} · ${state.me.active}/${state.me.capacity} chats`;
  for (const [id, list, withWait] of [["waiting", state.waiting, true], ["escalated", state.escalated, true], ["mine", state.mine, false]]) {
    const box = $(id);
    box.replaceChildren(...list.map((item) => caseItem(item, withWait)));
    if (!list.length) box.appendChild(text("div", "none", "meta"));
  }
  $("escalated-title").hidden = !(me && (me.role === "tier2" || me.role === "manager"));
  $("consults-title").hidden = !(me && me.role === "sme");
  $("consults").replaceChildren(...(state.consults || []).map((c) => {
    const box = document.createElement("div");
    box.className = "item" + (c.case_id === selected ? " selected" : "");
    box.appendChild(text("span", c.label + " ", "num"));
    box.appendChild(text("span", c.state + " · " + c.classification + " · from " + c.agent, "meta"));
    box.appendChild(text("div", c.notes.slice(0, 140)));
    box.addEventListener("click", () => select(c.case_id));
    return box;
  }));
  $("team").replaceChildren(...state.team.map((t) => text("div", `${t.name} (${t.role}) · ${t.online ? t.status : "offline"} · ${t.active}/${t.capacity}`, "meta")));
  if (selected) loadCase(selected);
}

let loadToken = 0;

async function loadCase(caseId) {
  const token = ++loadToken;  // only the newest request may paint, whatever order responses arrive in
  const response = await fetch(`/api/agent/cases/${caseId}`);
  if (response.status === 401) return signIn();
  if (!response.ok || token !== loadToken) return;
  const detail = await response.json();
  if (token !== loadToken || detail.case.id !== selected) return;
  const c = detail.case;
  $("toolbar").hidden = false;
  $("case-title").textContent = `${c.number} · ${c.state.replace(/_/g, " ")}${c.agent ? " · " + c.agent : ""}`;
  const details = Object.entries(c.details).map(([k, v]) => `${k}: ${v}`).join(" · ");
  $("case-meta").textContent = (details || "no details yet") + (c.previous_case_id ? ` · follows case #${c.previous_case_id}` : "") + (c.ticket ? ` · ticket ${c.ticket}` : "");
  const mine = c.agent_id === me.id;
  $("accept").hidden = !(c.state === "queued" || (c.state === "escalated" && (me.role === "tier2" || me.role === "manager")));
  $("resolve").hidden = !mine && me.role !== "manager";
  $("reply").hidden = !(mine && c.state === "with_agent");
  $("note-form").hidden = me.role === "sme";
  $("hold").hidden = !(mine && c.state === "with_agent");
  $("consult-form").hidden = !(mine && c.state === "with_agent" && c.open_consult === null);
  renderConsult(detail.consults || [], mine);
  $("transcript").replaceChildren(...detail.transcript.map((m) => renderMessage(m, null)));
  $("transcript").scrollTop = $("transcript").scrollHeight;
  $("kb-form").hidden = me.role === "sme";
  // a search the agent typed stays on screen until they clear it or pick another case
  if (!$("kb-text").value.trim()) renderArticles(detail.articles || [], "for the customer's last message");
  $("notes").replaceChildren(...detail.notes.map((n) => {
    const note = text("div", "", "note");
    note.appendChild(text("strong", n.author + ": "));
    note.appendChild(document.createTextNode(n.text + " "));
    for (const tag of n.tags) note.appendChild(text("span", "#" + tag, "tag"));
    return note;
  }));
}

// Agent assist: the best-matching help articles, agent-only ones marked; no threshold, the agent judges.
function renderArticles(articles, what) {
  const list = $("articles");
  if (!articles.length) {
    list.replaceChildren(text("div", `No help article matches ${what}.`, "meta"));
    return;
  }
  list.replaceChildren(text("div", `Best matches ${what}:`, "meta"), ...articles.map((a) => {
    const item = text("div", "", "article");
    const link = text("a", a.title);
    if (/^https?:\/\//.test(a.url)) { link.href = a.url; link.target = "_blank"; link.rel = "noopener"; }
    item.appendChild(link);
    if (a.agent_only) item.appendChild(text("span", "agents only", "tag"));
    item.appendChild(text("span", ` ${Math.round(100 * a.confidence)}% sure`, "meta"));
    item.appendChild(text("div", a.summary, "meta"));
    return item;
  }));
}

async function searchArticles(words) {
  const response = await fetch(`/api/agent/articles?q=${encodeURIComponent(words)}`);
  if (response.status === 401) return signIn();
  const answer = await response.json();
  if (!response.ok) {
    $("error").textContent = answer.error || "The search failed.";
    return;
  }
  $("error").textContent = "";
  renderArticles(answer.articles, `“${words}”`);
}

function renderConsult(consults, mine) {
  const open = consults.find((c) => c.state !== "ended") || consults[consults.length - 1];
  $("consult-panel").hidden = !open;
  if (!open) return;
  const isSme = me.role === "sme";
  $("consult-label").textContent = open.label;
  $("consult-meta").textContent = `${open.classification} · ${open.state}${open.sme ? " · SME " + open.sme : ""}${open.end_reason ? " · " + open.end_reason : ""}`;
  const idle = $("consult-idle");
  idle.dataset.agent = open.last_agent_at || "";
  idle.dataset.sme = open.last_sme_at || "";
  idle.dataset.active = open.state === "active" ? "1" : "";
  $("consult-log").replaceChildren(...open.messages.map((m) => {
    const line = text("div", "", "msg " + (m.author_id === "bot" ? "bot" : "agent"));
    line.appendChild(text("span", m.author, "who"));
    appendText(line, m.text);
    return line;
  }));
  const active = open.state === "active";
  $("consult-claim").hidden = !(isSme && open.state === "waiting");
  $("consult-end").hidden = !(isSme && active);
  $("consult-still").hidden = !(mine && open.state !== "ended");
  $("consult-pause").hidden = !(mine && open.state !== "ended");
  $("consult-text").disabled = !active;
}

function select(caseId) {
  if (caseId !== selected) $("kb-text").value = "";
  selected = caseId;
  renderState();
}

function notice(frame) {
  const box = text("div", frame.text, "notice " + frame.kind);
  if (frame.case_id) box.addEventListener("click", () => select(frame.case_id));
  $("notices").prepend(box);
}

function setConnected(connected) {
  for (const id of ["available", "away"]) $(id).disabled = !connected;
  for (const button of document.querySelectorAll("[data-command]")) button.disabled = !connected;
}

function connect() {
  setConnected(false);
  if (socket) socket.close();
  socket = new WebSocket(wsUrl("/api/agent/ws"));
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "state") { state = frame; setConnected(true); renderState(); }
    else if (frame.type === "notice") notice(frame);
    else if (frame.type === "error") $("error").textContent = frame.error;
  };
  socket.onclose = async (event) => {
    setConnected(false);
    if (event.code === 4401) return signIn();
    // a refused upgrade looks like any dropped connection: ask whether the sign-in still holds
    const who = await fetch("/api/agent/me");
    if (who.status === 401) return signIn();
    setTimeout(connect, 1000);
  };
}

function signIn() {
  location.href = "/login?next=" + encodeURIComponent(location.pathname);
}

async function start() {
  const who = await fetch("/api/agent/me");
  if (who.status === 401) return signIn();
  me = await who.json();
  $("who").textContent = `Signed in as ${me.name} (${me.role})`;
  $("sign-out-csrf").value = me.csrf;
  const answer = await (await fetch("/api/agent/roster")).json();
  consultConfig = answer.consult;
  for (const name of consultConfig.classifications) {
    const option = text("option", name);
    option.value = name;
    $("consult-classification").appendChild(option);
  }
  for (const name of consultConfig.extra_fields) {
    const input = document.createElement("input");
    input.placeholder = name;
    input.dataset.field = name;
    input.setAttribute("aria-label", name);
    input.style.width = "100%";
    $("consult-extra").appendChild(input);
  }
  connect();
}

$("available").addEventListener("click", () => command("status", { text: "available", case_id: null }));
$("away").addEventListener("click", () => command("status", { text: "away", case_id: null }));
for (const button of document.querySelectorAll("[data-command]")) {
  button.addEventListener("click", () => command(button.dataset.command, { text: button.dataset.text || "" }));
}
$("reply").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("reply-text").value;
  if (!value.trim()) return;
  command("say", { text: value });
  $("reply-text").value = "";
});
$("reply-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("reply").requestSubmit(); }
});
$("kb-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const words = $("kb-text").value.trim();
  if (words) searchArticles(words);
});

$("note-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("note-text").value;
  if (!value.trim()) return;
  command("note", { text: value });
  $("note-text").value = "";
});
$("consult-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = { classification: $("consult-classification").value, notes: $("consult-notes").value, reason: $("consult-reason").value };
  for (const input of $("consult-extra").querySelectorAll("input")) fields[input.dataset.field] = input.value;
  command("sme", { fields });
  $("consult-notes").value = "";
  $("consult-reason").value = "";
});
$("consult-reply").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("consult-text").value;
  if (!value.trim()) return;
  command("consult", { text: value });
  $("consult-text").value = "";
});
setInterval(() => {
  const idle = $("consult-idle");
  if (idle.dataset.active) {
    const since = (at) => (at ? waited(Number(at)) : "–");
    idle.textContent = `agent idle ${since(idle.dataset.agent)} · SME idle ${since(idle.dataset.sme)}`;
  } else idle.textContent = "";
}, 1000);
setInterval(() => {
  for (const element of document.querySelectorAll(".wait")) {
    element.textContent = "waiting " + waited(Number(element.dataset.since));
    const late = state && Date.now() / 1000 + clockOffset - Number(element.dataset.since) > state.queue_alert_after;
    element.classList.toggle("late", late);
  }
}, 1000);
setConnected(false);
start();
