// The agent console for the signed-in staff member: the live queue, and the chats they work.
// The case view, notifications, the narrow-screen tabs and the Closed list have files of their own.
"use strict";

let me = null;
let socket = null;
let state = null;
let selected = null;
let clockOffset = 0;
let consultConfig = { classifications: [], extra_fields: [] };
const EMPTY_LISTS = {
  manager_requests: "No manager requests", messages: "No messages waiting for a reply", callbacks: "No call backs to make",
  waiting: "No chats waiting", escalated: "Nothing escalated to Tier II", mine: "No open cases of yours", consults: "No consults for your groups" };

function command(name, extra = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    $("error").textContent = "Not connected yet; try again in a moment.";
    return;
  }
  $("error").textContent = "";
  socket.send(JSON.stringify({ type: "command", command: name, case_id: selected, text: "", ...extra }));
}

function caseItem(item, { timers = false, when = null, due = null } = {}) {
  // A case in a list: a real button, so the keyboard reaches it.
  const box = el("button", null, "item" + (item.id === selected ? " selected" : ""));
  box.type = "button";
  box.dataset.case = item.id;
  if (item.id === selected) box.setAttribute("aria-current", "true");
  const head = box.appendChild(el("span", null, "item-head"));
  head.append(el("span", item.number, "num"), el("span", item.state.replace(/_/g, " "), "meta"));
  if (item.customer_name) head.appendChild(el("span", item.customer_name, "meta"));
  if (when) head.appendChild(timeElement(when));
  if (due) head.append(el("span", "due", "meta"), timeElement(due));
  box.appendChild(el("span", item.problem.slice(0, 140), "problem"));
  if (item.flags.length) box.appendChild(flagChips(item));
  if (timers) {
    const row = el("span", null, "timers");
    row.append(...caseTimers(item));
    if (row.children.length) box.appendChild(row);
  }
  box.addEventListener("click", () => select(item.id));
  return box;
}

function renderList(id, items, render) {
  const box = $(id);
  box.replaceChildren(...items.map(render));
  if (!items.length) box.appendChild(el("div", EMPTY_LISTS[id], "meta empty"));
}

function renderState() {
  if (!state) return;
  clockOffset = state.now - Date.now() / 1000;
  $("status").textContent = `${state.me.name} · ${state.me.status}${state.me.online ? "" : " (offline)"} · ${state.me.active}/${state.me.capacity} chats`;
  const senior = me.role === "tier2" || me.role === "manager";
  const isSme = me.role === "sme";
  for (const [id, shown] of [["escalated", senior], ["consults", isSme], ["manager_requests", me.role === "manager"],
    ["messages", !isSme], ["callbacks", !isSme]]) {
    $(id).hidden = !shown;
    $(id + "-title").hidden = !shown;
  }
  renderList("waiting", state.waiting, (c) => caseItem(c, { timers: true }));
  renderList("escalated", state.escalated, (c) => caseItem(c, { when: c.escalated_at || c.created_at }));
  renderList("manager_requests", state.manager_requests || [], (c) => caseItem(c, { when: c.manager_requested_at }));
  renderList("messages", state.messages || [], (c) => caseItem(c, { when: c.ticketed_at, due: c.reply_by }));
  renderList("callbacks", state.callbacks || [], (c) => caseItem(c, { due: c.callback_due_at }));
  renderList("mine", state.mine, (c) => caseItem(c, { timers: true }));
  renderList("consults", state.consults || [], (c) => {
    const box = el("button", null, "item" + (c.case_id === selected ? " selected" : ""));
    box.type = "button";
    const head = box.appendChild(el("span", null, "item-head"));
    head.append(el("span", c.label, "num"), el("span", `${c.state} · ${c.classification} · from ${c.agent}`, "meta"));
    box.appendChild(el("span", c.notes.slice(0, 140), "problem"));
    box.addEventListener("click", () => select(c.case_id));
    return box;
  });
  $("team").replaceChildren(...state.team.map((t) => el("div", `${t.name} (${t.role}) · ${t.online ? t.status : "offline"} · ${t.active}/${t.capacity}`, "meta")));
  if (selected) loadCase(selected);
}

// Agent assist: the best-matching help articles, agent-only ones marked; no threshold, the agent judges.
function renderArticles(articles, what) {
  const list = $("articles");
  if (!articles.length) {
    list.replaceChildren(el("div", `No help article matches ${what}.`, "meta"));
    return;
  }
  list.replaceChildren(el("div", `Best matches ${what}:`, "meta"), ...articles.map((a) => {
    const item = el("div", null, "article");
    item.appendChild(/^https?:\/\//.test(a.url) ? externalLink(a.url, a.title) : el("span", a.title));
    if (a.agent_only) item.appendChild(el("span", "agents only", "tag"));
    item.appendChild(el("span", ` ${Math.round(100 * a.confidence)}% sure`, "meta"));
    item.appendChild(el("div", a.summary, "meta"));
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
    const line = el("div", null, "msg " + (m.author_id === "bot" ? "bot" : "agent"));
    const head = line.appendChild(el("div", null, "msg-head"));
    head.append(el("span", m.author, "who"), timeElement(m.at));
    appendText(line, m.text);
    return line;
  }));
  const active = open.state === "active";
  const ended = open.state === "ended";
  $("consult-claim").hidden = !(isSme && open.state === "waiting");
  $("consult-end").hidden = !(isSme && active);
  $("consult-still").hidden = !(mine && !ended);
  $("consult-pause").hidden = !(mine && !ended);
  $("consult-text").hidden = $("consult-send").hidden = !active;
}

function select(caseId) {
  if (caseId !== selected) $("kb-text").value = "";
  selected = caseId;
  for (const item of $("closed").children) item.classList.toggle("selected", Number(item.dataset.case) === caseId);
  showChatOnNarrow();
  renderState();
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
    else if (frame.type === "notice") addNotice(frame);
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
  const isSme = me.role === "sme";
  $("kb").hidden = isSme;
  $("list-switch").hidden = isSme;  // SMEs never read customer cases, open or closed
  const answer = await (await fetch("/api/agent/roster")).json();
  consultConfig = answer.consult;
  for (const name of consultConfig.classifications) {
    const option = el("option", name);
    option.value = name;
    $("consult-classification").appendChild(option);
  }
  for (const name of consultConfig.extra_fields) {
    const input = el("input");
    input.placeholder = name;
    input.dataset.field = name;
    input.setAttribute("aria-label", name);
    $("consult-extra").appendChild(input);
  }
  connect();
}

$("available").addEventListener("click", () => command("status", { text: "available", case_id: null }));
$("away").addEventListener("click", () => command("status", { text: "away", case_id: null }));
for (const button of document.querySelectorAll("[data-command]")) {
  button.addEventListener("click", () => command(button.dataset.command, { text: button.dataset.text || "" }));
}
// Ownership moves between advisors who can take the chat now, never to an SME (SOP 003).
$("handover").addEventListener("click", () => {
  const takers = state.team.filter((t) => t.id !== me.id && t.role !== "sme" && t.online && t.status === "available");
  const options = takers.map((t) => { const o = el("option", `${t.name} (${t.role}) · ${t.active}/${t.capacity}`); o.value = t.id; return o; });
  $("handover-to").replaceChildren(...(options.length ? options : [el("option", "Nobody available right now")]));
  $("handover-form").hidden = false;
  $("handover-note").focus();
});
$("handover-cancel").addEventListener("click", () => { $("handover-form").hidden = true; });
$("handover-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const to = $("handover-to").value;
  if (!to || !state.team.some((t) => t.id === to)) return;
  command("handover", { text: `${to} ${$("handover-note").value}`.trim() });
  $("handover-note").value = "";
  $("handover-form").hidden = true;
});
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
    const since = (at) => (at ? duration(serverNow() - Number(at)) : "–");
    idle.textContent = `agent idle ${since(idle.dataset.agent)} · SME idle ${since(idle.dataset.sme)}`;
  } else idle.textContent = "";
}, 1000);
setConnected(false);
start();
