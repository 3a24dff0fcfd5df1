"""What staff do to cases: accept, talk, note, resolve, escalate, set their status.

Every command checks the caller's role from the roster; answers go to the caller alone.
Text starting with '/' is a command on every platform, so adapters can pass typed text straight in.
"""

from __future__ import annotations

import re

from bot.domain import AgentStatus, Case, CaseState, Role
from bot.events import RecordNote, StaffCommand
from bot.flows import callback, consult, escalation, idle, ownership, queue, resolution
from bot.turn import Turn

_TAG = re.compile(r"(?<![\w#])#([A-Za-z][\w-]{0,39})")
STAFF_ROLES = frozenset({Role.AGENT, Role.TIER2, Role.MANAGER, Role.SME})
CHAT_ROLES = frozenset({Role.AGENT, Role.TIER2, Role.MANAGER})
COMMANDS = (
    "say", "accept", "note", "resolve", "escalate", "devwait", "status", "case", "help",
    "sme", "claim", "consult", "pause", "endconsult", "hold", "stilllooking", "handover", "reassign", "requeue", "calledback",
)
CONSULT_COMMANDS = frozenset({"claim", "consult", "endconsult"})  # the SME's side of a consult


def handle(turn: Turn, command: StaffCommand) -> None:
    entry = turn.staff(command.staff_id)
    if entry is None or entry.role not in STAFF_ROLES:
        turn.reply(command.staff_id, "You are not on the support roster, so you can't use staff commands.")
        return
    name, text = command.command, command.text
    if name == "say" and text.lstrip().startswith("/"):
        name, _, text = text.lstrip()[1:].partition(" ")
        name = name.lower()
    if name not in COMMANDS:
        turn.reply(entry.id, f"Unknown command '{name[:40]}'. {turn.spiel('help_staff')}")
        return
    if name == "help":
        turn.reply(entry.id, turn.spiel("help_staff"))
        return
    if name == "status":
        _status(turn, entry.id, text)
        return
    case = turn.world.cases.get(command.case_id) if command.case_id is not None else None
    if case is None:
        turn.reply(entry.id, "That command needs a case: open one from your list first.")
        return
    if name == "case":
        turn.reply(entry.id, describe_case(case, turn), case)
    elif name == "note":
        _note(turn, entry.id, case, text, command.tags)
    elif name == "claim":
        consult.claim(turn, entry.id, case)
    elif name == "consult":
        consult.say(turn, entry.id, case, text.strip(), command.origin)
    elif name == "endconsult":
        consult.end(turn, entry.id, case, pause=False)
    elif entry.role not in CHAT_ROLES:
        turn.reply(entry.id, f"Your role ({entry.role.value}) can't {name} a customer chat.", case)
    elif name == "calledback":  # the call-back list is anyone's work, open case or not
        callback.called_back(turn, entry.id, case)
    elif not case.is_open:
        turn.reply(entry.id, f"{case.number} is {case.state.value} already; a new need from the customer opens a new case.", case)
    elif name == "accept":
        _accept(turn, entry.id, entry.role, case)
    elif not _owns(turn, entry.id, entry.role, case):
        owner = turn.staff_name(case.agent_id) if case.agent_id else "nobody"
        turn.reply(entry.id, f"{case.number} is handled by {owner}; accept it before you {name}.", case)
    elif name == "say":
        _say(turn, entry.id, case, text)
    elif name == "sme":
        consult.start(turn, entry.id, case, dict(command.fields) or consult_fields(text))
    elif name == "pause":
        consult.end(turn, entry.id, case, pause=True)
    elif name == "hold":
        idle.hold(turn, case, entry.id)
    elif name == "stilllooking":
        idle.still_looking(turn, entry.id, case)
    elif name == "resolve":
        turn.say(case, turn.spiel("agent_resolved", agent=turn.staff_name(entry.id), case=case.number))
        resolution.resolve(turn, case, how="agent")
        _offer_next(turn, entry.id)
    elif name == "escalate":
        _escalate(turn, entry.id, case, text.strip().lower())
    elif name == "devwait":
        escalation.waiting_on_development(turn, case)
        _offer_next(turn, entry.id)
    elif name in ("handover", "reassign"):
        ownership.hand_over(turn, entry, case, text)
        _offer_next(turn, entry.id)
    elif name == "requeue":
        if case.state is not CaseState.WITH_AGENT:
            turn.reply(entry.id, f"Only a live chat goes back to the queue ({case.number} is {case.state.value.replace('_', ' ')}).", case)
            return
        ownership.give_back(turn, entry, case, text)


def _status(turn: Turn, staff_id: str, text: str) -> None:
    try:
        status = AgentStatus(text.strip().lower())
    except ValueError:
        turn.reply(staff_id, "Use /status available or /status away.")
        return
    agent = turn.world.agent(staff_id)
    agent.status = status
    agent.online = True  # whoever sets a status is at work (Slack and Teams have no console connection)
    turn.reply(staff_id, f"You are now {status.value}.")
    queue.announce_positions(turn)  # the last one away: queued customers hear nobody can come; back: their wait
    if status is AgentStatus.AVAILABLE:
        _offer_next(turn, staff_id)


def _accept(turn: Turn, staff_id: str, role: Role, case: Case) -> None:
    if case.state is CaseState.TICKETED:
        _take_ticket(turn, staff_id, case)
        return
    if case.state is CaseState.ESCALATED:
        if role not in (Role.TIER2, Role.MANAGER):
            turn.reply(staff_id, f"{case.number} is waiting for Tier II.", case)
            return
    elif role is Role.TIER2 and case.state is CaseState.QUEUED:
        turn.reply(staff_id, f"{case.number} is waiting for a Tier I agent; Tier II takes escalated cases.", case)
        return
    elif case.state is not CaseState.QUEUED:
        taken = f" by {turn.staff_name(case.agent_id)}" if case.agent_id else ""
        turn.reply(staff_id, f"{case.number} is no longer waiting (already {case.state.value.replace('_', ' ')}{taken}).", case)
        return
    entry = turn.staff(staff_id)
    capacity = turn.settings.capacity_of(entry) if entry else turn.settings.queue.agent_capacity
    if turn.world.active_chats.get(staff_id, 0) >= capacity:
        turn.reply(staff_id, f"You're at capacity ({capacity} chats). Resolve one before accepting another.", case)
        return
    was_queued = case.state is CaseState.QUEUED
    turn.world.start_live_chat(case, staff_id)
    case.accepted_at = turn.now
    if was_queued:
        queue.leave(turn, case)
    turn.say(case, turn.spiel("agent_joined", agent=turn.staff_name(staff_id)))
    turn.changed(case)


def _take_ticket(turn: Turn, staff_id: str, case: Case) -> None:
    """A ticket (a message left when nobody was available) is work: whoever takes it answers it,
    through the customer's channel, and resolves it. It takes no live-chat slot."""
    if case.agent_id and case.agent_id != staff_id:
        turn.reply(staff_id, f"{case.number} is already being answered by {turn.staff_name(case.agent_id)}.", case)
        return
    case.agent_id = staff_id
    turn.reply(staff_id, f"You've taken {case.ticket} on {case.number}: what you write reaches the customer's chat; resolve it when done.", case)
    turn.changed(case)


def _owns(turn: Turn, staff_id: str, role: Role, case: Case) -> bool:
    if case.agent_id == staff_id and case.state in (CaseState.WITH_AGENT, CaseState.WAITING_ON_DEVELOPMENT, CaseState.TICKETED):
        return True
    return role is Role.MANAGER and case.is_open


def _say(turn: Turn, staff_id: str, case: Case, text: str) -> None:
    text = text.strip()
    if not text:
        return
    turn.say(case, text, sender="agent", sender_name=turn.staff_name(staff_id))
    if case.on_hold_since is not None and case.open_consult() is None:
        idle.release_hold(turn, case)
    if case.on_hold_since is not None:
        idle.checked_in(turn, case)
    else:
        idle.agent_spoke(turn, case)
    turn.changed(case)


def consult_fields(text: str) -> dict[str, str]:
    """Typed consults: "<classification> | <notes> | OJT class: 3 | reason: <why another>"."""
    parts = [p.strip() for p in text.split("|")]
    fields = {"classification": parts[0], "notes": parts[1] if len(parts) > 1 else ""}
    for extra in parts[2:]:
        key, _, value = extra.partition(":")
        fields[key.strip() if key.strip().lower() != "reason" else "reason"] = value.strip()
    return fields


def _note(turn: Turn, staff_id: str, case: Case, text: str, tags: tuple[str, ...]) -> None:
    """Notes are append-only and internal: customers never see them (SOP 004: never delete notes)."""
    text = text.strip()
    if not text:
        turn.reply(staff_id, "A note needs some text.", case)
        return
    all_tags = tuple(dict.fromkeys([t.lower() for t in tags] + [t.lower() for t in _TAG.findall(text)]))
    turn.actions.append(RecordNote(case.id, staff_id, text, all_tags))
    turn.changed(case)


def _escalate(turn: Turn, staff_id: str, case: Case, target: str) -> None:
    if target in ("tier2", "tier ii", "tier 2", "2"):
        if case.tier >= 2:
            turn.reply(staff_id, f"{case.number} is already with Tier II.", case)
            return
        escalation.to_tier2(turn, case, staff_id)
        _offer_next(turn, staff_id)
    elif target == "manager":
        escalation.to_manager(turn, case, staff_id)
        turn.reply(staff_id, "The manager on duty has been alerted.", case)
    else:
        turn.reply(staff_id, "Use /escalate tier2 or /escalate manager.", case)


def _offer_next(turn: Turn, staff_id: str) -> None:
    """An agent with a free slot hears how many chats are waiting (at capacity, they hear nothing)."""
    waiting = turn.world.queue()
    if not waiting or staff_id not in {a.id for a in turn.agents_taking_chats(with_free_slot=True)}:
        return
    first = waiting[0]
    turn.notify([staff_id], f"{len(waiting)} chat(s) waiting; the longest is {first.number}.", "queue_new", first)


def describe_case(case: Case, turn: Turn) -> str:
    details = "; ".join(f"{k}: {v}" for k, v in sorted(case.details.items())) or "no details yet"
    owner = turn.staff_name(case.agent_id) if case.agent_id else "unassigned"
    return f"{case.number} · {case.state.value.replace('_', ' ')} · Tier {case.tier} · {owner} · {details}"
