"""How the console shows a case: the fields a list item or the case view needs, masked per role.

One place builds a case's JSON, so the live lists, the case view and the closed-case search agree
on what a Tier I agent may read (SOP 002: personal data masked) and on the flags an agent scans a
list for. What the engine does not keep (when the agent first answered) is worked out here from
the transcript, so the engine stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.config import Settings
from bot.domain import Case, CaseState, ConsultState, Conversation, Role, platform_of
from bot.pii import for_role
from bot.store.base import Store, TranscriptEntry

MAX_OTHER_CASES = 20  # a customer's other cases shown with a case; older ones are in the search


def flags(case: Case) -> list[str]:
    """What an agent must not miss on a case, in a fixed order (the page labels them)."""
    found = []
    if case.callback_requested:
        found.append("callback")
    if case.manager_escalated:
        found.append("manager")
    if case.state is CaseState.WAITING_ON_DEVELOPMENT:
        found.append("devwait")
    if case.on_hold_since is not None:
        found.append("on_hold")
    if case.ticket:
        found.append("ticket")
    return found


def case_json(case: Case, role: Role, settings: Settings, *, first_reply_at: float | None = None) -> dict[str, Any]:
    """A case as every console list shows it; times are epoch seconds."""
    return {
        "id": case.id,
        "number": case.number,
        "state": case.state.value,
        "tier": case.tier,
        "agent": settings.name_of(case.agent_id),
        "agent_id": case.agent_id,
        "customer_name": for_role(role, case.customer_name),
        "problem": for_role(role, case.problem),
        "details": {k: for_role(role, v) for k, v in sorted(case.details.items())},
        "queued_at": case.queued_at,
        "created_at": case.created_at,
        "accepted_at": case.accepted_at,
        "first_reply_at": first_reply_at,
        "resolved_at": case.resolved_at,
        "previous_case_id": case.previous_case_id,
        "callback_requested": case.callback_requested,
        "manager_escalated": case.manager_escalated,
        "ticket": case.ticket,
        "ticketed_at": case.ticketed_at,
        "reply_by": case.reply_by,
        "callback_due_at": case.callback_due_at,
        "callback_done_at": case.callback_done_at,
        "manager_requested_at": case.manager_requested_at,
        "escalated_at": case.escalated_at,
        "on_hold_since": case.on_hold_since,
        "flags": flags(case),
        "open_consult": next((c.number for c in case.consults if c.state is not ConsultState.ENDED), None),
    }


def first_reply_at(case: Case, transcript: Iterable[TranscriptEntry]) -> float | None:
    """When the agent who accepted the case first wrote to the customer (None: not yet)."""
    if case.accepted_at is None:
        return None
    return next((e.at for e in transcript if e.case_id == case.id and e.sender == "agent" and e.at >= case.accepted_at), None)


def customer_json(case: Case, conversation: Conversation | None, role: Role) -> dict[str, Any]:
    """Who the customer is, as far as the platform and the intake know."""
    name = (conversation.customer_name if conversation else "") or case.customer_name
    platform = conversation.platform if conversation else platform_of(case.conversation_id)
    return {"name": for_role(role, name), "platform": platform, "details": {k: for_role(role, v) for k, v in sorted(case.details.items())}}


async def other_cases(store: Store, case: Case, transcript: Iterable[TranscriptEntry], role: Role) -> list[dict[str, Any]]:
    """The customer's other cases, newest first: those of the same conversation and the chain of
    earlier cases each one followed (`previous_case_id`, which may cross conversations)."""
    wanted = {e.case_id for e in transcript if e.case_id is not None} - {case.id}
    found: dict[int, Case] = {}
    for case_id in sorted(wanted, reverse=True)[:MAX_OTHER_CASES]:
        other = await store.case(case_id)
        if other is not None:
            found[case_id] = other
    earlier, seen = case.previous_case_id, {case.id}
    while earlier is not None and earlier not in seen and len(found) < MAX_OTHER_CASES:
        seen.add(earlier)
        other = found.get(earlier) or await store.case(earlier)
        if other is None:
            break
        found[earlier] = other
        earlier = other.previous_case_id
    return [
        {
            "id": c.id,
            "number": c.number,
            "state": c.state.value,
            "created_at": c.created_at,
            "resolved_at": c.resolved_at,
            "problem": for_role(role, c.problem),
        }
        for c in sorted(found.values(), key=lambda c: c.id, reverse=True)
    ]
