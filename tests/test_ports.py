"""The typed output port: outbox rows decode back into the actions they were written from, and a
port's methods are called by what a row is, never by adapters reading its JSON."""

from __future__ import annotations

import pytest

from adapters.slack_turns import merge_turn
from bot.events import Button, CaseChanged, Heard, NotifyStaff, Say
from bot.ports import Attempt, Line, Port, decode, encode, send


def test_rows_decode_into_the_actions_they_were_written_from() -> None:
    say = Say("slack:D1", 3, "Pick one", "bot", "", (Button("a", "Yes", "3:"),))
    assert decode({**encode(say), "seq": 7, "at": 1.5}) == Line("slack:D1", 3, "Pick one", "bot", "", say.buttons, 7, 1.5)
    assert decode(encode(Heard("web:x", None, "hello"))) == Line("web:x", None, "hello", "customer")
    notice = NotifyStaff(("ana", "ben"), "CS-1 waits", "sla_alert", 1, None, "", "")
    assert decode(encode(notice)) == notice
    assert decode(encode(CaseChanged(4, True))) == CaseChanged(4, True)
    with pytest.raises(ValueError, match="not an outbox payload"):
        decode({"type": "mystery"})


async def test_send_calls_the_ports_method_for_each_kind_and_defaults_do_nothing() -> None:
    class Recorder(Port):
        name, serves_staff, shows_customer_messages, durable = "rec", True, True, True

        def __init__(self) -> None:
            self.calls: list[str] = []

        async def show(self, line: Line, attempt: Attempt) -> None:
            self.calls.append(f"show {line.text}")

    port = Recorder()
    await send(port, Line("rec:1", 1, "hi", "bot"), Attempt.live())
    await send(port, NotifyStaff(("ana",), "x", "reply"), Attempt.live())  # a default: nothing
    await send(port, CaseChanged(1), Attempt.live())
    assert port.calls == ["show hi"]
    assert port.shape([Say("rec:1", 1, "a"), Say("rec:1", 1, "b")]) == [Say("rec:1", 1, "a"), Say("rec:1", 1, "b")]


def test_slack_merges_a_turns_lines_to_one_chat_but_not_across_buttons_or_senders() -> None:
    greet, opened = Say("slack:D1", None, "Hi!"), Say("slack:D1", 1, "Case CS-1.")
    other = Say("slack:D2", 2, "Elsewhere")
    ask = Say("slack:D1", 1, "Did it help?", buttons=(Button("y", "Yes", "1:"),))
    after = Say("slack:D1", 1, "Anything else?")
    agent = Say("slack:D1", 1, "Ana here", "agent", "Ana")
    merged = merge_turn([greet, other, opened, ask, after, agent])
    assert [s.text for s in merged] == ["Hi!\n\nCase CS-1.\n\nDid it help?", "Elsewhere", "Anything else?", "Ana here"]
    assert merged[0].buttons == ask.buttons


def test_each_platform_builds_and_reads_its_own_conversation_ids() -> None:
    from adapters.slack_ids import Address, address, conversation_id, is_shared_thread
    from adapters.webchat.customer import web_conversation_id
    from bot.domain import platform_of

    assert conversation_id("D123") == "slack:D123" and address("slack:D123") == Address("D123", "")
    chat = conversation_id("C9", "1700000000.0001")
    assert address(chat) == Address("C9", "1700000000.0001") and is_shared_thread(chat)
    assert not is_shared_thread(conversation_id("D1", "1700000000.0001"))  # a thread in a DM is still private
    for wrong in ("web:abc", "slack:", "D123"):
        with pytest.raises(ValueError):
            address(wrong)
    assert platform_of(chat) == "slack" and platform_of(web_conversation_id("abc")) == "web"
