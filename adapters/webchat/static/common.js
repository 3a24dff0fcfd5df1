// Shared rendering: every piece of text goes in with textContent, so nothing typed is ever HTML.
"use strict";

const URL_PATTERN = /(https?:\/\/[^\s<>"']+)/g;

function appendText(parent, text) {
  // Plain text with http(s) links made clickable, built from DOM nodes (never innerHTML).
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement("a");
    link.href = match[0];
    link.textContent = match[0];
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    parent.appendChild(link);
    last = match.index + match[0].length;
  }
  parent.appendChild(document.createTextNode(text.slice(last)));
}

function renderMessage(message, onButton) {
  const box = document.createElement("div");
  box.className = "msg " + (message.from === "customer" ? "customer" : message.from === "agent" ? "agent" : "bot");
  box.dataset.seq = message.seq;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = message.from === "agent" ? (message.name || "Advisor") : message.from === "bot" ? "Support bot" : "You";
  box.appendChild(who);
  appendText(box, message.text);
  if (message.buttons && message.buttons.length && onButton) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const button of message.buttons) {
      const element = document.createElement("button");
      element.type = "button";
      element.textContent = button.label;
      element.addEventListener("click", () => onButton(button, row));
      row.appendChild(element);
    }
    box.appendChild(row);
  }
  return box;
}

function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}
