"""Slack message rendering: outbox payloads and cases as Block Kit. Pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from adapters.assist import Suggestion
from bot.domain import Case, CaseState, Consult, ConsultState
from bot.turn import clock_text

ACCEPT = "case.accept"
CLAIM = "consult.claim"
_LIMIT_FLOOR = 100
QUOTE_CHARS = 200  # the customer's words quoted in a heading, at most


def escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as markup: escaped, a customer's text stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most `limit` characters, cut at line breaks, then spaces, where possible."""
    limit = max(limit, _LIMIT_FLOOR)
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
            entity = text.rfind("&", cut - 5, cut)  # never cut an escaped "&amp;", "&lt;" or "&gt;" in two
            if entity > 0 and ";" not in text[entity:cut]:
                cut = entity
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    chunks.append(text)
    return chunks


def message_parts(text: str, buttons: list[dict[str, str]], *, limit: int) -> list[dict[str, Any]]:
    """chat.postMessage arguments (text + blocks) for one message; buttons go on the last part.

    `text` is already mrkdwn-safe. Each button's action_id is "<button id>#<n>" because Slack
    wants action ids unique within a message; the adapter strips the suffix.
    """
    parts: list[dict[str, Any]] = []
    chunks = split_text(text, limit)
    for index, chunk in enumerate(chunks):
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk or " "}}]
        if buttons and index == len(chunks) - 1:
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": f"{button['id']}#{n}",
                            "text": {"type": "plain_text", "text": button["label"][:75]},
                            "value": button["value"][:2000],
                        }
                        for n, button in enumerate(buttons[:25])
                    ],
                }
            )
        parts.append({"text": chunk, "blocks": blocks})
    return parts


def queue_card(case: Case, *, agent_name: str, now: float, problem: str, details: dict[str, str]) -> dict[str, Any]:
    """The queue channel's message for a case: who, what, how long, and Accept while it waits.

    A chat waiting for Tier I and a case waiting for Tier II both show how long they have waited
    (the first since it was queued, the second since it was escalated): Tier II is held to the
    same acceptance rule. `problem` and `details` come already masked for the channel's readers.
    """
    waiting_since = {CaseState.QUEUED: case.queued_at, CaseState.ESCALATED: case.escalated_at}.get(case.state)
    waited = ""
    if waiting_since is not None:
        minutes = max(0, math.floor((now - waiting_since) / 60))
        waited = f" · waiting {minutes} min" + (" for Tier II" if case.state is CaseState.ESCALATED else "")
    state = case.state.value.replace("_", " ")
    owner = f" · {agent_name}" if agent_name and case.state is not CaseState.QUEUED else ""
    headline = f"*{case.number}* · {state}{owner}{waited}"
    problem = escape(problem[:500]) or "_no description_"
    facts = " · ".join(f"{key}: {escape(value)}" for key, value in sorted(details.items()))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{headline}\n{problem}"}},
    ]
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": facts[:2900]}]})
    if case.state in (CaseState.QUEUED, CaseState.ESCALATED):
        label = "Accept" if case.state is CaseState.QUEUED else "Accept (Tier II)"
        blocks.append(_button(ACCEPT, label, str(case.id)))
    return {"text": f"{case.number} · {state}{owner}{waited}", "blocks": blocks}


def consult_card(case: Case, consult: Consult, *, sme_name: str, agent_name: str, now: float, claim_within: float) -> dict[str, Any]:
    """The SME group channel's message for a consult, true to its state to the end: waiting (and,
    past the claim time, still unclaimed), claimed by whom, ended and why. Claim shows only while
    the consult can be claimed: pressed later it would only earn a refusal.

    It carries the agent's notes and the case id, never the customer's own words.
    """
    state = _consult_state(case, consult, sme_name=sme_name, agent_name=agent_name, now=now, claim_within=claim_within)
    headline = f"*Consult {case.number}/{consult.number}* · {escape(consult.classification)} · from {escape(agent_name)} · {escape(state)}"
    facts = "\n".join(f"{escape(k)}: {escape(v)}" for k, v in consult.fields.items())
    body = f"{headline}\n{escape(consult.notes[:2500])}" + (f"\n{facts}" if facts else "")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body[:2990]}}]
    if consult.state is ConsultState.WAITING:
        blocks.append(_button(CLAIM, "Claim", str(case.id)))
    return {"text": f"Consult {case.number}/{consult.number} · {consult.classification} · {state}", "blocks": blocks}


def _consult_state(case: Case, consult: Consult, *, sme_name: str, agent_name: str, now: float, claim_within: float) -> str:
    if consult.state is ConsultState.WAITING:
        if now - consult.created_at >= claim_within:
            return f"waiting: unclaimed after {clock_text(claim_within)}"
        return "waiting for an SME"
    if consult.state is ConsultState.ACTIVE:
        return f"claimed by {sme_name}"
    agent = agent_name or "the agent"
    reason = consult.end_reason
    if reason == "answered":
        return f"ended: answered by {sme_name or 'the SME'}"
    if reason == "idle":
        return f"ended: {agent} went quiet"
    if reason == "paused":
        return f"paused by {agent}"
    if reason == "withdrawn":
        return f"withdrawn by {agent}"
    ended = "ended" if consult.sme_id else "withdrawn"
    return f"{ended}: the contact ended ({case.number} is {case.state.value.replace('_', ' ')})"


def _button(action_id: str, label: str, value: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {"type": "button", "style": "primary", "action_id": action_id, "text": {"type": "plain_text", "text": label}, "value": value}
        ],
    }


def articles_reply(suggestions: Sequence[Suggestion], searched: str) -> dict[str, Any]:
    """An ephemeral answer to the agent-assist command: one section per article, best first."""
    if not suggestions:
        return {"text": f"No help article matches “{escape(searched)}”."}
    return _articles(f"Help articles for “{escape(_quote(searched))}”:", suggestions)


def card_articles(suggestions: Sequence[Suggestion], problem: str) -> dict[str, Any]:
    """The articles posted in a waiting chat's thread for whoever accepts it, under a heading that
    is a whole sentence and counts right ("This help article may fit …" for one)."""
    if len(suggestions) == 1:
        header = f"This help article may fit the customer's problem, “{escape(_quote(problem))}”:"
    else:
        header = f"These {len(suggestions)} help articles may fit the customer's problem, “{escape(_quote(problem))}”:"
    return _articles(header, suggestions)


def _articles(header: str, suggestions: Sequence[Suggestion]) -> dict[str, Any]:
    lines = []
    for n, s in enumerate(suggestions, start=1):
        title = f"<{s.url}|{escape(s.title)}>" if s.url else f"*{escape(s.title)}*"
        badge = " _(agents only)_" if s.agent_only else ""
        lines.append(f"{n}. {title}{badge} · {round(100 * s.confidence)}% sure\n{escape(s.summary)}")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": header}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines]
    return {"text": header + "\n" + "\n".join(lines), "blocks": blocks}


def _quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` for a heading: whole, or cut at a word break with "…" (never mid-word)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"
