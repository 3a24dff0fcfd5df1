// The case a staff member picked: its controls (only those their role and the case's state allow),
// flags and timers, transcript, the customer's profile and other cases, and the internal notes.
"use strict";

const FLAG_LABELS = {
  callback: "Call back booked",
  manager: "Manager requested",
  devwait: "Waiting on development",
  on_hold: "On hold",
  ticket: "Ticket",
};
const TAG = /(?<![\w#])#([A-Za-z][\w-]{0,39})/g;  // as the engine reads tags from a note (bot/flows/staff.py)
let loadToken = 0;
const showLatestLine = followLatest($("transcript"));

function serverNow() {
  return Date.now() / 1000 + clockOffset;
}

function duration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole >= 86400) return `${Math.floor(whole / 86400)}d ${Math.floor((whole % 86400) / 3600)}h`;
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = `${String(whole % 60).padStart(2, "0")}`;
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

function updateTimer(timer) {
  const seconds = serverNow() - Number(timer.dataset.since);
  const limit = Number(timer.dataset.limit || 0);
  const late = limit > 0 && seconds > limit;
  timer.textContent = `${timer.dataset.label} ${duration(seconds)}${limit ? " / " + duration(limit) : ""}${late ? " (late)" : ""}`;
  timer.classList.toggle("late", late);
}

function ticking(label, since, limit, className) {
  const timer = el("span", null, "timer " + (className || ""));
  timer.dataset.label = label;
  timer.dataset.since = since;
  if (limit) timer.dataset.limit = limit;
  updateTimer(timer);
  return timer;
}

function caseTimers(c) {
  // Waiting chats: time waited against the SLA (queue_alert_after). Accepted chats: time with the
  // agent, and how long the first reply took (or has been awaited so far).
  if (c.state === "queued" && c.queued_at) return [ticking("waiting", c.queued_at, state.queue_alert_after, "wait")];
  if (!c.accepted_at || !["with_agent", "waiting_on_development"].includes(c.state)) return [];
  const reply = c.first_reply_at
    ? el("span", `first reply after ${duration(c.first_reply_at - c.accepted_at)}`, "timer-done")
    : ticking("no reply yet", c.accepted_at, 0, "first-reply");
  return [ticking("with agent", c.accepted_at, 0, "accepted"), reply];
}

function flagChips(c) {
  const box = el("span", null, "flags");
  for (const flag of c.flags || []) {
    box.appendChild(el("span", flag === "ticket" && c.ticket ? `Ticket ${c.ticket}` : FLAG_LABELS[flag] || flag, "flag " + flag));
  }
  return box;
}

function allowedFor(c) {
  // Mirrors the engine's rules (bot/flows/staff.py), so no button is offered only to be refused.
  const role = me.role;
  const open = !["resolved", "closed"].includes(c.state);
  const owns = (c.agent_id === me.id && ["with_agent", "waiting_on_development", "ticketed"].includes(c.state)) || (role === "manager" && open);
  const chats = role !== "sme";
  const seniors = role === "tier2" || role === "manager";
  return {
    accept: chats && ((c.state === "queued" && role !== "tier2") || (c.state === "escalated" && seniors) || (c.state === "ticketed" && !c.agent_id)),
    resolve: chats && owns,
    escalate: chats && owns && c.tier < 2,
    "ask-manager": chats && owns,
    devwait: chats && owns && seniors && c.state === "with_agent",
    hold: chats && owns && c.state === "with_agent",
    handover: chats && owns && open,
    requeue: chats && owns && c.state === "with_agent",
    calledback: chats && c.callback_requested && !c.callback_done_at,
    reply: chats && owns,
  };
}

function transcriptLabel(customerName) {
  return (m) => (m.from === "customer" ? customerName || "Customer" : m.from === "bot" ? "supportbot" : m.name || "Agent");
}

function renderTranscript(caseId, messages, label) {
  // New lines are appended (the log announces only those); another case starts the log afresh, quietly.
  const log = $("transcript");
  if (log.dataset.case !== String(caseId)) {
    log.setAttribute("aria-live", "off");
    log.replaceChildren();
    log.dataset.case = caseId;
    log.dataset.last = "0";
    showLatestLine();
    setTimeout(() => log.setAttribute("aria-live", "polite"), 0);
  }
  const last = Number(log.dataset.last);
  const fresh = messages.filter((m) => m.seq > last);
  for (const m of fresh) log.appendChild(renderMessage(m, null, label));
  if (fresh.length) log.dataset.last = String(fresh[fresh.length - 1].seq);
}

function humanKey(key) {
  const words = key.replace(/_/g, " ").replace(/\bid\b/i, "ID");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function renderProfile(detail) {
  const customer = detail.customer;
  $("profile").hidden = !customer;
  if (!customer) return;
  $("profile-name").replaceChildren(el("strong", customer.name || "Name not given"), el("span", ` · ${customer.platform}`, "meta"));
  const details = Object.entries(customer.details);
  $("profile-details").replaceChildren(...details.flatMap(([k, v]) => [el("dt", humanKey(k)), el("dd", v)]));
  if (!details.length) $("profile-details").appendChild(el("dd", "No details yet.", "meta"));
  const others = detail.other_cases || [];
  $("other-cases").replaceChildren(...others.map((o) => {
    const item = el("button", null, "item compact");
    item.type = "button";
    const head = item.appendChild(el("span", null, "item-head"));
    head.append(el("span", o.number, "num"), el("span", o.state.replace(/_/g, " "), "meta"), timeElement(o.created_at));
    item.appendChild(el("span", o.problem.slice(0, 100) || "no problem given", "problem"));
    item.addEventListener("click", () => select(o.id));
    return item;
  }));
  if (!others.length) $("other-cases").appendChild(el("div", "None: this is their first case.", "meta"));
}

function noteElement(n) {
  // Tags are shown once, as chips: the #words that made them are taken out of the text.
  const tags = new Set(n.tags);
  const body = n.text.replace(TAG, (word, tag) => (tags.has(tag.toLowerCase()) ? "" : word)).replace(/[ \t]{2,}/g, " ").trim();
  const note = el("div", null, "note");
  note.append(timeElement(n.at), " ", el("strong", n.author + ": "), body + " ");
  for (const tag of n.tags) note.appendChild(el("span", "#" + tag, "tag"));
  return note;
}

function renderCase(detail) {
  const c = detail.case;
  const allowed = allowedFor(c);
  $("toolbar").hidden = false;
  $("chat-empty").hidden = true;
  $("details-empty").hidden = true;
  $("case-title").textContent = `${c.number} · ${c.state.replace(/_/g, " ")}${c.agent ? " · " + c.agent : ""}`;
  for (const id of ["accept", "resolve", "escalate", "ask-manager", "devwait", "hold", "handover", "requeue", "calledback"]) $(id).hidden = !allowed[id];
  if (!allowed.handover) $("handover-form").hidden = true;
  $("reply").hidden = !allowed.reply;
  const meta = [flagChips(c), ...caseTimers(c)];
  if (c.previous_case_id) meta.push(el("span", `follows case #${c.previous_case_id}`, "meta"));
  $("case-meta").replaceChildren(...meta);
  $("case-meta").hidden = false;
  const isSme = me.role === "sme";
  renderTranscript(c.id, detail.transcript, transcriptLabel(c.customer_name || (detail.customer && detail.customer.name)));
  renderProfile(detail);
  $("notes-panel").hidden = isSme;
  $("notes").replaceChildren(...detail.notes.map(noteElement));
  if (!detail.notes.length) $("notes").appendChild(el("div", "No notes yet.", "meta"));
  $("consult-form").hidden = !(allowed.hold && c.open_consult === null);
  renderConsult(detail.consults || [], c.agent_id === me.id);
  // a search the agent typed stays on screen until they clear it or pick another case
  if (!$("kb-text").value.trim()) renderArticles(detail.articles || [], "for the customer's last message");
}

async function loadCase(caseId) {
  const token = ++loadToken;  // only the newest request may paint, whatever order responses arrive in
  const response = await fetch(`/api/agent/cases/${caseId}`);
  if (response.status === 401) return signIn();
  if (!response.ok || token !== loadToken) return;
  const detail = await response.json();
  if (token !== loadToken || detail.case.id !== selected) return;
  renderCase(detail);
}

setInterval(() => document.querySelectorAll(".timer").forEach(updateTimer), 1000);
