// Notifications: newest first with time and case, an unread count (button, heading and tab title)
// that clears once the list has been seen, a screen-reader announcement, and an optional beep.
"use strict";

const SOUND_KEY = "supportbot.console.sound";
const MAX_NOTICES = 200;
const PAGE_TITLE = document.title;
let unread = 0;
let audio = null;
let lastBeep = 0;

function noticesSeen() {
  return !$("notices-panel").hidden && !document.hidden;
}

function showUnread() {
  const badge = $("unread-badge");
  badge.textContent = String(unread);
  badge.hidden = unread === 0;
  $("unread-count").textContent = unread ? `(${unread} unread)` : "";
  $("notices-toggle").setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  document.title = unread ? `(${unread}) ${PAGE_TITLE}` : PAGE_TITLE;
}

function markNoticesRead() {
  unread = 0;
  for (const item of document.querySelectorAll("#notices .unread")) item.classList.remove("unread");
  showUnread();
}

function beep() {
  // A short tone made on the spot (no audio file); at most one a second however many notices arrive.
  if (localStorage.getItem(SOUND_KEY) !== "on" || Date.now() - lastBeep < 1000) return;
  lastBeep = Date.now();
  audio = audio || new AudioContext();
  const start = audio.currentTime;
  const tone = audio.createOscillator();
  const volume = audio.createGain();
  tone.frequency.value = 880;
  volume.gain.setValueAtTime(0.0001, start);
  volume.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
  volume.gain.exponentialRampToValueAtTime(0.0001, start + 0.25);
  tone.connect(volume).connect(audio.destination);
  tone.start(start);
  tone.stop(start + 0.3);
}

function addNotice(frame) {
  const item = el("li", null, "notice " + frame.kind);
  const head = item.appendChild(el("div", null, "notice-head"));
  head.appendChild(timeElement(frame.at || new Date().toISOString()));
  if (frame.case_id) {
    const open = el("button", frame.case_number || "the case", "link");
    open.type = "button";
    open.addEventListener("click", () => {
      closeNotices();
      select(frame.case_id);
    });
    head.appendChild(open);
  }
  item.appendChild(el("div", frame.text));
  const list = $("notices");
  list.prepend(item);
  while (list.children.length > MAX_NOTICES) list.lastElementChild.remove();
  $("notices-empty").hidden = true;
  if (!noticesSeen()) {
    item.classList.add("unread");
    unread += 1;
    showUnread();
  }
  $("announcer").textContent = `Notification: ${frame.text}`;
  beep();
}

function openNotices() {
  $("notices-panel").hidden = false;
  $("notices-toggle").setAttribute("aria-expanded", "true");
  $("notices-heading").focus();
  markNoticesRead();
}

function closeNotices() {
  $("notices-panel").hidden = true;
  $("notices-toggle").setAttribute("aria-expanded", "false");
}

$("notices-toggle").addEventListener("click", () => {
  if ($("notices-panel").hidden) openNotices();
  else closeNotices();
});
$("notices-close").addEventListener("click", () => {
  closeNotices();
  $("notices-toggle").focus();
});
$("notices-panel").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closeNotices();
    $("notices-toggle").focus();
  }
});
document.addEventListener("visibilitychange", () => {
  if (noticesSeen()) markNoticesRead();
});
const soundBox = $("sound");
soundBox.checked = localStorage.getItem(SOUND_KEY) === "on";
soundBox.addEventListener("change", () => {
  localStorage.setItem(SOUND_KEY, soundBox.checked ? "on" : "off");
  if (soundBox.checked) beep();  // a sample, and the click lets the browser start audio
});
