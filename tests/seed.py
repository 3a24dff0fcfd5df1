"""Cases made through the real runtime the way customers and agents make them: a customer writes,
asks for a person, an agent accepts, answers, notes and resolves. For tests that need cases to exist
(closed-case search, a customer's other cases) without driving a page through every step."""

from __future__ import annotations

import secrets

from bot.domain import Case, Conversation
from bot.events import CustomerMessage, StaffCommand
from bot.runtime import Runtime


async def conversation(runtime: Runtime, name: str = "") -> str:
    """A new web conversation (its id), as POST /api/conversations opens one."""
    opened = Conversation(f"web:{secrets.token_hex(8)}", "web", customer_name=name, created_at=runtime.clock.now())
    await runtime.open_conversation(opened, secret_hash=secrets.token_hex(16))
    return opened.id


async def queued_case(runtime: Runtime, conversation_id: str, problem: str) -> Case:
    """The customer describes a problem and asks for a person (someone must be available)."""
    await runtime.handle(CustomerMessage(conversation_id, problem))
    await runtime.handle(CustomerMessage(conversation_id, "/agent"))
    return await current_case(runtime, conversation_id)


async def current_case(runtime: Runtime, conversation_id: str) -> Case:
    found = await runtime.store.conversation(conversation_id)
    assert found is not None and found.case_id is not None
    case = await runtime.store.case(found.case_id)
    assert case is not None
    return case


async def resolved_case(runtime: Runtime, problem: str, *, name: str = "", note: str = "", agent: str = "ana", conversation_id: str = "") -> Case:
    """A case `agent` accepted, answered, noted (`note`, with any #tags) and resolved."""
    await runtime.handle(StaffCommand(agent, "status", text="available"))
    conversation_id = conversation_id or await conversation(runtime, name)
    case = await queued_case(runtime, conversation_id, problem)
    await runtime.handle(StaffCommand(agent, "accept", case.id))
    await runtime.handle(StaffCommand(agent, "say", case.id, "Thanks, looking at it now."))
    if note:
        await runtime.handle(StaffCommand(agent, "note", case.id, note))
    await runtime.handle(StaffCommand(agent, "resolve", case.id))
    resolved = await runtime.store.case(case.id)
    assert resolved is not None and resolved.state.value == "resolved", resolved
    return resolved
