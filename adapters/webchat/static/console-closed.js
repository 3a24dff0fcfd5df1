// The Closed list: resolved cases newest first, and a search by case number, customer name, #tag
// or words (GET /api/agent/search), a page at a time.
"use strict";

let closedQuery = "";
let closedNext = null;

function showLists(closed) {
  $("open-lists").hidden = closed;
  $("closed-lists").hidden = !closed;
  $("show-open").setAttribute("aria-pressed", String(!closed));
  $("show-closed").setAttribute("aria-pressed", String(closed));
  if (closed && !$("closed").children.length) searchClosed("");
}

async function searchClosed(words, more = false) {
  const params = new URLSearchParams({ q: words });
  if (more && closedNext !== null) params.set("before", closedNext);
  const response = await fetch(`/api/agent/search?${params}`);
  if (response.status === 401) return signIn();
  const answer = await response.json();
  if (!response.ok) {
    $("closed-summary").textContent = answer.error || "The search failed.";
    return;
  }
  closedQuery = words;
  closedNext = answer.next_before;
  const items = answer.cases.map((c) => caseItem(c, { when: c.resolved_at || c.created_at }));
  if (more) $("closed").append(...items);
  else $("closed").replaceChildren(...items);
  const shown = $("closed").children.length;
  $("closed-summary").textContent = shown
    ? `${shown}${closedNext !== null ? "+" : ""} closed case${shown === 1 ? "" : "s"}${words ? ` matching “${words}”` : ""}, newest first`
    : words ? `No closed cases match “${words}”.` : "No closed cases yet.";
  $("closed-more").hidden = closedNext === null;
}

$("show-open").addEventListener("click", () => showLists(false));
$("show-closed").addEventListener("click", () => showLists(true));
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  searchClosed($("search-text").value.trim());
});
$("closed-more").addEventListener("click", () => searchClosed(closedQuery, true));
