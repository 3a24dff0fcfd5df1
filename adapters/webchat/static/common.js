// Shared rendering: every piece of text goes in with textContent, so nothing typed is ever HTML.
"use strict";

const URL_PATTERN = /(https?:\/\/[^\s<>"']+)/g;
// The bot's article offer, one line per article: "• {title}: {summary} {url}" (spiel offer_article_line).
const ARTICLE_LINE = /^\s*•\s+(.+?)\s+(https?:\/\/\S+)\s*$/;

const $ = (id) => document.getElementById(id);

function el(tag, value, className) {
  const element = document.createElement(tag);
  if (value !== undefined && value !== null) element.textContent = value;
  if (className) element.className = className;
  return element;
}

function externalLink(url, label) {
  const link = el("a", label);
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

function appendText(parent, text) {
  // Plain text with http(s) links made clickable, built from DOM nodes (never innerHTML).
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    parent.appendChild(externalLink(match[0], match[0]));
    last = match.index + match[0].length;
  }
  parent.appendChild(document.createTextNode(text.slice(last)));
}

function articleCard(line) {
  // A card only for a bulleted line that ends in a well-formed http(s) URL; anything else stays text.
  const match = ARTICLE_LINE.exec(line);
  if (!match) return null;
  let url;
  try { url = new URL(match[2]); } catch { return null; }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  const split = match[1].indexOf(": ");
  const title = split > 0 ? match[1].slice(0, split) : match[1];
  const summary = split > 0 ? match[1].slice(split + 2) : "";
  const card = el("li", null, "card");
  const link = externalLink(url.href, title);
  link.className = "card-title";
  card.appendChild(link);
  if (summary) card.appendChild(el("span", summary, "card-summary"));
  card.appendChild(el("span", url.host, "card-host"));
  return card;
}

function appendRichText(parent, text) {
  // Runs of article lines become a list of cards; every other line is text as before.
  let pending = [];
  let cards = null;
  const flush = () => {
    if (pending.length) appendText(parent, pending.join("\n"));
    pending = [];
  };
  for (const line of text.split("\n")) {
    const card = articleCard(line);
    if (!card) {
      cards = null;
      pending.push(line);
      continue;
    }
    flush();
    if (!cards) cards = parent.appendChild(el("ul", null, "cards"));
    cards.appendChild(card);
  }
  flush();
}

function toDate(at) {
  // The API's ISO strings, or epoch seconds from the console's state.
  return typeof at === "number" ? new Date(at * 1000) : new Date(at);
}

function timeElement(at) {
  // "14:05" in the reader's locale and time zone (with the day when it isn't today); the full date on hover.
  const when = toDate(at);
  const element = el("time", null, "at");
  if (Number.isNaN(when.getTime())) return element;
  const today = when.toDateString() === new Date().toDateString();
  const short = { hour: "2-digit", minute: "2-digit" };
  element.textContent = when.toLocaleString(undefined, today ? short : { day: "numeric", month: "short", ...short });
  element.dateTime = when.toISOString();
  element.title = when.toLocaleString(undefined, { dateStyle: "full", timeStyle: "medium" });
  return element;
}

function defaultLabel(message) {
  return message.from === "agent" ? (message.name || "Advisor") : message.from === "bot" ? "Support bot" : "You";
}

function renderMessage(message, onButton, labelOf = defaultLabel) {
  const box = el("div", null, "msg " + (message.from === "customer" ? "customer" : message.from === "agent" ? "agent" : "bot"));
  box.dataset.seq = message.seq;
  const head = box.appendChild(el("div", null, "msg-head"));
  head.appendChild(el("span", labelOf(message), "who"));
  head.appendChild(timeElement(message.at));
  if (message.from === "bot") appendRichText(box, message.text);
  else appendText(box, message.text);
  if (message.buttons && message.buttons.length && onButton) {
    const row = el("div", null, "buttons");
    for (const button of message.buttons) {
      const element = el("button", button.label);
      element.type = "button";
      element.addEventListener("click", () => onButton(button, row));
      row.appendChild(element);
    }
    box.appendChild(row);
  }
  return box;
}

function followLatest(log) {
  // A log keeps its latest line in view, as chat apps do, unless the reader has scrolled up to read:
  // new lines and a resized window (a phone turned, a reply box shown) keep it at the end.
  let following = true;
  const follow = () => {
    if (following) log.scrollTop = log.scrollHeight;
  };
  log.addEventListener("scroll", () => {
    following = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  });
  new ResizeObserver(follow).observe(log);
  new MutationObserver(follow).observe(log, { childList: true });
  return () => {
    following = true;
    follow();
  };
}

function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}
