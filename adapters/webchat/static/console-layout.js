// On a narrow screen the console's three columns become tabs (Queue · Chat · Details); the stylesheet
// shows the chosen one. Wide screens show all three and hide the tabs.
"use strict";

const NARROW = window.matchMedia("(max-width: 800px)");
const TAB_BUTTONS = [...document.querySelectorAll('[role="tab"]')];

function showTab(name, focus = false) {
  document.getElementById("console").dataset.tab = name;
  for (const tab of TAB_BUTTONS) {
    const chosen = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(chosen));
    tab.tabIndex = chosen ? 0 : -1;  // one tab stop for the tab list; arrows move within it
    if (chosen && focus) tab.focus();
  }
}

function showChatOnNarrow() {
  if (NARROW.matches) showTab("chat");
}

for (const [index, tab] of TAB_BUTTONS.entries()) {
  tab.addEventListener("click", () => showTab(tab.dataset.tab));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    showTab(TAB_BUTTONS[(index + step + TAB_BUTTONS.length) % TAB_BUTTONS.length].dataset.tab, true);
  });
}
NARROW.addEventListener("change", () => {
  if (NARROW.matches && selected) showTab("chat");  // collapsing to tabs keeps the open chat in view
});
showTab("queue");
