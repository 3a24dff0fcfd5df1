"""Who has a live chat, and how that moves (SOP 004's shift change: "finish your chats so others
can get in", "if one leaves … sign out so another can sign in").

Ownership moves between advisors, never to an SME (SOP 003 keeps consults consults): an agent
hands a chat to another available agent with a note, a manager reassigns any chat, an agent puts
one back in the queue. An agent whose console drops gets `queue.agent_grace` to come back; after
that their live chats go to the front of the queue with a note, the customer is told someone else
will pick it up, and the 2-minute acceptance rule applies again. A customer never waits on an
agent who is not there.
"""

from __future__ import annotations

from bot.config import RosterEntry
from bot.domain import Case, CaseState, Role
from bot.events import RecordNote
from bot.flows import consult, idle, queue
from bot.turn import Turn

GONE_TIMER = "agent_gone"
TAKERS = {1: (Role.AGENT, Role.MANAGER), 2: (Role.TIER2, Role.MANAGER)}  # who may own a case of each tier


def presence(turn: Turn, staff_id: str, online: bool) -> None:
    """A console connected, or the last one closed: the grace period starts or ends."""
    agent = turn.world.agent(staff_id)
    agent.online = online
    agent.console = online
    for case in turn.world.live_chats_of(staff_id):
        if online:
            turn.cancel(GONE_TIMER, case)
        else:
            turn.schedule(GONE_TIMER, case, turn.settings.queue.agent_grace)


def on_gone_timer(turn: Turn, case: Case) -> None:
    """The grace is over: if the agent is still not back, the chat goes back to the queue."""
    owner = case.agent_id
    if case.state is not CaseState.WITH_AGENT or owner is None or turn.world.agent(owner).online:
        return
    put_back(turn, case, by=None, reason=f"{turn.staff_name(owner)} went offline")


def hand_over(turn: Turn, by: RosterEntry, case: Case, text: str) -> None:
    """`handover <who> <note>`: the chat, its history and its notes go to another advisor who is
    available now; the customer hears who joined, the new owner why."""
    who, _, note = text.strip().partition(" ")
    target = turn.settings.staff(who.lower()) or next((e for e in turn.settings.roster if e.name.lower() == who.lower()), None)
    if target is None:
        turn.reply(by.id, "Hand over to whom? Use /handover <name> <note>, e.g. /handover ben shift change.", case)
        return
    problem = _cannot_take(turn, target, case)
    if problem:
        turn.reply(by.id, problem, case)
        return
    previous = case.agent_id
    if case.state is CaseState.WITH_AGENT:  # a live chat takes one of the new owner's slots
        turn.world.end_live_chat(case)
        consult.end_all(turn, case)  # the consult was the previous agent's; the new one starts their own
        turn.world.start_live_chat(case, target.id)
        turn.cancel(GONE_TIMER, case)
    else:  # a ticket or a case waiting on development changes hands only
        case.agent_id = target.id
    note = note.strip() or "no note"
    turn.actions.append(RecordNote(case.id, by.id, f"Handed over to {target.name}: {note}", ("handover",)))
    turn.say(case, turn.spiel("agent_joined", agent=target.name))
    from_name = turn.staff_name(previous) if previous and previous != by.id else turn.staff_name(by.id)
    turn.notify([target.id], turn.spiel("staff_handover", agent=from_name, case=case.number, notes=note), "handover", case)
    turn.reply(by.id, f"{case.number} is now with {target.name}.", case)
    turn.changed(case)


def give_back(turn: Turn, by: RosterEntry, case: Case, text: str) -> None:
    """`requeue [reason]`: the agent puts the chat back at the front of the queue."""
    reason = text.strip() or "given back"
    put_back(turn, case, by=by.id, reason=f"{by.name}: {reason}")
    turn.reply(by.id, f"{case.number} is back in the queue, first in line.", case)


def put_back(turn: Turn, case: Case, *, by: str | None, reason: str) -> None:
    previous = case.agent_id
    turn.world.end_live_chat(case)
    idle.stop(turn, case)
    idle.release_hold(turn, case)
    consult.end_all(turn, case)
    turn.cancel(GONE_TIMER, case)
    turn.actions.append(RecordNote(case.id, by or "supportbot", f"Back in the queue: {reason}", ("requeued",)))
    turn.say(case, turn.spiel("agent_left", agent=turn.staff_name(previous)))
    queue.put_back(turn, case, reason)


def _cannot_take(turn: Turn, target: RosterEntry, case: Case) -> str:
    """Why `target` cannot take `case` now ("" when they can)."""
    if target.id == case.agent_id:
        return f"{case.number} is already with {target.name}."
    if target.role not in TAKERS.get(case.tier, TAKERS[2]):
        return f"{target.name} ({target.role.value}) can't own a Tier {case.tier} chat; consult an SME instead of transferring."
    if case.state is not CaseState.WITH_AGENT:
        return ""
    if not turn.world.agent(target.id).takes_chats:
        return f"{target.name} is not available to take chats right now."
    capacity = turn.settings.capacity_of(target)
    if turn.world.active_chats.get(target.id, 0) >= capacity:
        return f"{target.name} is at capacity ({capacity} chats)."
    return ""
