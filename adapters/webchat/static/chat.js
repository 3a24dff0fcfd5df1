// The customer page: uses only the public web chat API (see /api/openapi.json).
"use strict";

const log = document.getElementById("log");
const errorBox = document.getElementById("error");
const statusBox = document.getElementById("status");
const form = document.getElementById("compose");
const input = document.getElementById("text");
let conversation = JSON.parse(sessionStorage.getItem("supportbot.conversation") || "null");
let lastSeq = 0;
const shown = new Set();
let socket = null;
let retry = 500;
followLatest(log);

function showError(text) { errorBox.textContent = text || ""; }

function add(message) {
  // Live pushes and the history replayed on (re)connect can interleave: place each message by seq, once.
  if (shown.has(message.seq)) return;
  shown.add(message.seq);
  lastSeq = Math.max(lastSeq, message.seq);
  const element = renderMessage(message, pressButton);
  const later = [...log.children].find((child) => Number(child.dataset.seq) > message.seq);
  log.insertBefore(element, later || null);
}

async function api(path, options = {}, extraHeaders = {}) {
  const headers = { "Content-Type": "application/json", ...extraHeaders };
  if (conversation) headers.Authorization = "Bearer " + conversation.token;
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {  // no answer: the request may or may not have been handled
    throw Object.assign(new Error("The connection failed."), { retriable: true });
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.error || ("HTTP " + response.status)), { retriable: response.status >= 500 });
  return body;
}

function newKey() {
  // getRandomValues works on plain http too (crypto.randomUUID needs a secure context)
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function start() {
  if (!conversation) {
    conversation = await api("/api/conversations", { method: "POST", body: "{}" });
    sessionStorage.setItem("supportbot.conversation", JSON.stringify(conversation));
  }
  connect();
}

function connect() {
  socket = new WebSocket(wsUrl(`/api/conversations/${conversation.id}/ws?token=${encodeURIComponent(conversation.token)}`));
  socket.onopen = () => {
    retry = 500;
    statusBox.textContent = "connected";
    socket.send(JSON.stringify({ type: "resume", after: lastSeq }));
  };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "message") add(frame.message);
    else if (frame.type === "error") showError(frame.error);
  };
  socket.onclose = () => {
    statusBox.textContent = "reconnecting…";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

async function send(body) {
  // One key per message, the same on each retry: a message whose first try was handled but whose
  // answer was lost is not stored twice.
  showError("");
  const key = { "Idempotency-Key": newKey() };
  for (let attempt = 1; ; attempt++) {
    try {
      await api(`/api/conversations/${conversation.id}/messages`, { method: "POST", body: JSON.stringify(body) }, key);
      return true;
    } catch (error) {
      if (!error.retriable || attempt === 3) {
        showError(error.message);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

function pressButton(button, row) {
  for (const element of row.querySelectorAll("button")) element.disabled = true;
  send({ action: { id: button.id, value: button.value } });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  if (await send({ text })) input.value = "";
});
let typingSent = 0;
input.addEventListener("input", () => {
  // The idle-time SOP treats a customer who is typing as present (for up to 2 minutes).
  if (socket && socket.readyState === WebSocket.OPEN && Date.now() - typingSent > 5000) {
    typingSent = Date.now();
    socket.send(JSON.stringify({ type: "typing" }));
  }
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});

start().catch((error) => showError("Could not start the chat: " + error.message));
