"""Consulting a subject-matter expert from a live contact (SOP 003).

The agent keeps the customer: a consult is a side thread with an SME group, routed by
classification, never a transfer, and the customer never sees it. The first SME to claim it owns
it; nobody can pick a particular SME. One consult per contact: another needs a reason, which is
recorded. The idle-time SOP runs in the thread when the SME is waiting on the agent.
"""

from __future__ import annotations

from bot.config import SmeGroup
from bot.domain import Case, CaseState, Consult, ConsultState
from bot.events import RecordConsultMessage
from bot.language import Cues
from bot.turn import Turn, clock_text

CLAIM_TIMER = "consult_claim"
IDLE_TIMER = "consult_idle"
IDLE_WARN_TIMER = "consult_idle_warn"
IDLE_END_TIMER = "consult_idle_end"
BOT = "bot"
_POINTERS = {
    "sme_bug": "sme_not_bug",
    "sme_escalation": "sme_not_escalation",
    "sme_credit": "sme_not_credit",
    "sme_coupon": "sme_not_coupon",
    "sme_restriction": "sme_not_restriction",
}


def label(case: Case, consult: Consult) -> str:
    return f"{case.number}/{consult.number}"


def start(turn: Turn, staff_id: str, case: Case, fields: dict[str, str]) -> None:
    classification = fields.get("classification", "").strip()
    notes = fields.get("notes", "").strip()
    reason = fields.get("reason", "").strip()
    if case.state is not CaseState.WITH_AGENT or case.agent_id != staff_id:
        turn.reply(staff_id, f"Accept {case.number} before consulting an SME about it.", case)
        return
    group = turn.settings.sme_group_for(classification)
    if group is None:
        options = "; ".join(turn.settings.classifications()) or "none are configured"
        turn.reply(staff_id, f"Pick a classification so the right SME group gets it: {options}.", case)
        return
    if not notes:
        turn.reply(staff_id, "Write clear notes for the SME: what the customer needs and what you have tried.", case)
        return
    if case.open_consult() is not None:
        turn.reply(staff_id, f"{case.number} already has an open consult.", case)
        return
    earlier = [c for c in case.consults if c.end_reason != "paused"]
    if earlier and not reason:
        turn.reply(staff_id, turn.spiel("staff_consult_repeat", case=case.number), case)
        return
    configured = {name.lower(): name for name in turn.settings.consult.extra_fields}
    extras = {configured[k.lower()]: v.strip() for k, v in fields.items() if k.lower() in configured and v.strip()}
    consult = Consult(
        number=len(case.consults) + 1,
        agent_id=staff_id,
        classification=classification,
        group=group.name,
        notes=notes,
        created_at=turn.now,
        fields=extras,
        repeat_reason=reason if earlier else "",
        last_agent_at=turn.now,
    )
    case.consults.append(consult)
    summary = "\n".join([notes, *(f"{k}: {v}" for k, v in extras.items()), f"Case ID: {case.number}"])
    _record(turn, case, consult, staff_id, summary)
    text = turn.spiel(
        "staff_consult_new", consult=label(case, consult), case=case.number, classification=classification,
        agent=turn.staff_name(staff_id), notes=summary,
    )
    turn.notify(list(group.members), text, "consult_new", case, consult=consult.number)
    line = turn.to_customer("holding_line", case)
    turn.notify([staff_id], turn.spiel("staff_holding_suggestion", line=line), "hold_suggestion", case)
    turn.schedule(CLAIM_TIMER, case, turn.settings.consult.claim_within)
    turn.changed(case)


def claim(turn: Turn, staff_id: str, case: Case) -> None:
    consult = case.open_consult()
    if consult is None:
        turn.reply(staff_id, f"{case.number} has no consult waiting.", case)
        return
    group = _group(turn, consult)
    if group is None or staff_id not in group.members:
        turn.reply(staff_id, f"Consult {label(case, consult)} is for the {consult.group} SME group.", case)
        return
    if consult.state is not ConsultState.WAITING:
        turn.reply(staff_id, f"{turn.staff_name(consult.sme_id)} already claimed consult {label(case, consult)}.", case)
        return
    consult.state = ConsultState.ACTIVE
    consult.sme_id = staff_id
    consult.claimed_at = turn.now
    consult.last_sme_at = turn.now
    turn.cancel(CLAIM_TIMER, case)
    sme = turn.staff_name(staff_id)
    text = turn.spiel("staff_consult_claimed", sme=sme, consult=label(case, consult), case=case.number)
    turn.notify([*group.members, consult.agent_id], text, "consult_claimed", case, consult=consult.number)
    opening = turn.spiel("sme_opening", name=sme)
    if turn.settings.consult.bot_sends_opening:
        _post(turn, case, consult, staff_id, opening)
    else:
        turn.reply(staff_id, f"Send your opening: \"{opening}\"", case)
    _sme_spoke(turn, case)
    turn.changed(case)


def say(turn: Turn, staff_id: str, case: Case, text: str, origin: str) -> None:
    consult = case.open_consult()
    if consult is None or consult.state is not ConsultState.ACTIVE:
        turn.reply(staff_id, f"{case.number} has no consult in progress.", case)
        return
    if staff_id not in (consult.agent_id, consult.sme_id):
        turn.reply(staff_id, f"Only {turn.staff_name(consult.agent_id)} and {turn.staff_name(consult.sme_id)} talk in this consult.", case)
        return
    _post(turn, case, consult, staff_id, text, origin=origin)
    if staff_id == consult.agent_id:
        consult.last_agent_at = turn.now
        consult.agent_last_text = text
        _stop_idle(turn, case, consult)
        if turn.services.cues.is_goodbye(text):  # signed off (SOP 003): closed at once, or when set, a little later
            after = turn.settings.consult.signoff_close_after
            if after <= 0:
                _close_signed_off(turn, case, consult)
                turn.changed(case)
                return
            turn.schedule(IDLE_TIMER, case, after)
        found = turn.services.cues.find(text)
        for cue in Cues.SME_WORK:
            if cue in found:
                _post(turn, case, consult, BOT, turn.spiel(_POINTERS[cue]))
    else:
        _sme_spoke(turn, case)
    turn.changed(case)


def end(turn: Turn, staff_id: str, case: Case, *, pause: bool) -> None:
    """The SME closes with the closing spiel; an agent interrupted by a live contact pauses it."""
    consult = case.open_consult()
    if consult is None or staff_id not in (consult.agent_id, consult.sme_id):
        turn.reply(staff_id, f"{case.number} has no consult of yours open.", case)
        return
    if consult.state is ConsultState.WAITING:  # nobody claimed it: withdrawn, nothing to close
        _finish(turn, case, consult, "paused" if pause else "withdrawn")
        return
    if pause:
        _post(turn, case, consult, staff_id, turn.spiel("sme_pause"))
    else:
        _post(turn, case, consult, consult.sme_id or BOT, turn.spiel("sme_closing"))
    _finish(turn, case, consult, "paused" if pause else "answered")


def on_claim_timer(turn: Turn, case: Case) -> None:
    consult = case.open_consult()
    if consult is None or consult.state is not ConsultState.WAITING:
        return
    waited = clock_text(turn.now - consult.created_at)
    text = turn.spiel("staff_consult_unclaimed", consult=label(case, consult), waited=waited)
    turn.notify([consult.agent_id], text, "consult_unclaimed", case)


def on_idle_timer(turn: Turn, case: Case) -> None:
    consult = case.open_consult()
    if consult is None or consult.state is not ConsultState.ACTIVE:
        return
    signed_off_last = consult.last_agent_at is not None and consult.last_agent_at >= (consult.last_sme_at or 0.0)
    if signed_off_last and consult.agent_last_text and turn.services.cues.is_goodbye(consult.agent_last_text):
        _close_signed_off(turn, case, consult)
        return
    consult.idle_stage = 1
    _post(turn, case, consult, BOT, turn.spiel("idle_prompt", name=turn.staff_name(consult.agent_id)))
    settings = turn.settings.consult
    turn.schedule(IDLE_WARN_TIMER, case, settings.idle_warning_after_prompt)
    turn.schedule(IDLE_END_TIMER, case, settings.idle_end_after - settings.idle_prompt_after)
    turn.changed(case)


def on_idle_warn_timer(turn: Turn, case: Case) -> None:
    consult = case.open_consult()
    if consult is None or consult.idle_stage != 1 or consult.sme_id is None:
        return
    consult.idle_stage = 2
    settings = turn.settings.consult
    text = turn.spiel(
        "idle_warning", name=turn.staff_name(consult.agent_id), waited=clock_text(settings.idle_prompt_after + settings.idle_warning_after_prompt),
        prompt_at=clock_text(settings.idle_prompt_after), end_at=clock_text(settings.idle_end_after),
    )
    turn.notify([consult.sme_id], text, "consult_idle", case, consult=consult.number)


def on_idle_end_timer(turn: Turn, case: Case) -> None:
    consult = case.open_consult()
    if consult is None or consult.idle_stage == 0:
        return
    _post(turn, case, consult, BOT, turn.spiel("idle_end"))
    _post(turn, case, consult, BOT, turn.spiel("idle_end_followup"))
    _finish(turn, case, consult, "idle")


def _close_signed_off(turn: Turn, case: Case, consult: Consult) -> None:
    """The agent's sign-off is the latest line of the consult: the closing spiel ends it (SOP 003)."""
    _post(turn, case, consult, consult.sme_id or BOT, turn.spiel("sme_closing"))
    _finish(turn, case, consult, "answered")


def end_all(turn: Turn, case: Case) -> None:
    """The contact ended (resolved, escalated): an open consult ends with it."""
    consult = case.open_consult()
    if consult is not None:
        _finish(turn, case, consult, "contact ended")


def _finish(turn: Turn, case: Case, consult: Consult, reason: str) -> None:
    consult.state = ConsultState.ENDED
    consult.ended_at = turn.now
    consult.end_reason = reason
    for kind in (CLAIM_TIMER, IDLE_TIMER, IDLE_WARN_TIMER, IDLE_END_TIMER):
        turn.cancel(kind, case)
    turn.changed(case)


def _sme_spoke(turn: Turn, case: Case) -> None:
    """The SME is now waiting on the agent: the agent-idle clock (re)starts."""
    consult = case.open_consult()
    if consult is None:
        return
    consult.last_sme_at = turn.now
    _stop_idle(turn, case, consult)
    turn.schedule(IDLE_TIMER, case, turn.settings.consult.idle_prompt_after)


def _stop_idle(turn: Turn, case: Case, consult: Consult) -> None:
    consult.idle_stage = 0
    for kind in (IDLE_TIMER, IDLE_WARN_TIMER, IDLE_END_TIMER):
        turn.cancel(kind, case)


def _post(turn: Turn, case: Case, consult: Consult, author: str, text: str, *, origin: str = "") -> None:
    _record(turn, case, consult, author, text)
    recipients = [consult.agent_id, *([consult.sme_id] if consult.sme_id else [])]
    turn.notify_consult(recipients, text, case, consult.number, author=author, origin=origin)


def _record(turn: Turn, case: Case, consult: Consult, author: str, text: str) -> None:
    turn.actions.append(RecordConsultMessage(case.id, consult.number, author, text))


def _group(turn: Turn, consult: Consult) -> SmeGroup | None:
    return next((g for g in turn.settings.sme_groups if g.name == consult.group), None)

