"""The store contract on a real SQLite file: state, transcript, timers, records, outbox, restarts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.domain import AgentState, AgentStatus, Case, CaseState, Conversation
from bot.events import (
    Action,
    Button,
    Cancel,
    CaseChanged,
    Heard,
    NotifyStaff,
    RecordHandleTime,
    RecordNote,
    RecordOffer,
    RecordOfferOutcome,
    RecordSurvey,
    RecordTicket,
    Say,
    Schedule,
)
from bot.ports import Attempt, DeliveryError, Line, Port
from bot.store.base import OutboxEntry, Routed, StoreError
from bot.store.sqlite import SQLiteStore
from tests.harness import Desk

T0 = 1_795_446_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.db")
    await store.open()
    yield store
    await store.close()


async def new_conversation(store: SQLiteStore, conversation_id: str = "web:a", at: float = T0) -> Conversation:
    conversation = Conversation(conversation_id, "web", customer_name="Jo", created_at=at)
    await store.create_conversation(conversation, secret_hash="hash-" + conversation_id)
    return conversation


async def commit(
    store: SQLiteStore,
    actions: Sequence[Action] = (),
    *,
    now: float = T0,
    conversation_id: str | None = None,
    case_ids: Sequence[int] = (),
    routed: Sequence[Routed] = (),
    fired_timer: str | None = None,
    change: Any = None,
) -> None:
    """Loads a world, lets `change(world)` edit it, then commits it with `actions`."""
    world, loaded = await store.load_world(now=now, conversation_id=conversation_id, case_ids=case_ids)
    if change is not None:
        change(world)
    await store.commit(world, loaded, actions, routed, fired_timer=fired_timer)


def open_case(world: Any, conversation_id: str = "web:a", **fields: Any) -> Case:
    case = Case(
        id=world.next_case_id,
        number=f"CS-{world.next_case_id:06d}",
        conversation_id=conversation_id,
        created_at=world.now,
        **fields,
    )
    world.cases[case.id] = case
    world.next_case_id += 1
    if world.conversation is not None and world.conversation.id == conversation_id:
        world.conversation.case_id = case.id
    return case


# ----- conversations and the world ------------------------------------------------------------------------


async def test_create_conversation_and_read_it_back(store: SQLiteStore) -> None:
    conversation = await new_conversation(store)

    assert await store.conversation("web:a") == conversation
    assert await store.conversation_secret("web:a") == "hash-web:a"
    assert await store.conversation("web:zzz") is None
    assert await store.conversation_secret("web:zzz") is None
    assert await store.ping() is True


async def test_load_world_of_an_unknown_conversation_fails(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match="no conversation web:nope"):
        await store.load_world(now=T0, conversation_id="web:nope", case_ids=[])


async def test_fresh_world_starts_counters_at_one(store: SQLiteStore) -> None:
    await new_conversation(store)

    world, _ = await store.load_world(now=T0, conversation_id="web:a", case_ids=[])

    assert world.now == T0
    assert world.cases == {} and world.agents == {} and world.active_chats == {}
    assert world.recent_handle_times == []
    assert (world.next_case_id, world.next_ticket_id) == (1, 1)


async def test_load_commit_round_trip(store: SQLiteStore) -> None:
    await new_conversation(store)
    made: list[Case] = []

    def change(world: Any) -> None:
        case = open_case(world, problem="blank gradebook", details={"browser": "Chrome"}, state=CaseState.QUEUED, queued_at=T0)
        made.append(case)
        world.next_ticket_id = 4
        world.agent("ana").status = AgentStatus.AVAILABLE
        world.agent("ana").online = True

    await commit(store, conversation_id="web:a", change=change)

    world, loaded = await store.load_world(now=T0 + 5, conversation_id="web:a", case_ids=[])
    assert world.conversation is not None and world.conversation.case_id == 1
    assert world.cases == {1: made[0]}
    assert world.current_case() == made[0]
    assert (world.next_case_id, world.next_ticket_id) == (2, 4)
    assert world.agents == {"ana": AgentState("ana", AgentStatus.AVAILABLE, True)}
    assert set(loaded.case_json) == {1} and "ana" in loaded.agent_json
    assert await store.case(1) == made[0]
    assert await store.cases_in([CaseState.QUEUED]) == [made[0]]


async def test_queued_cases_are_always_loaded_and_others_only_when_asked(store: SQLiteStore) -> None:
    await new_conversation(store, "web:a")
    await new_conversation(store, "web:b")

    def change(world: Any) -> None:
        open_case(world, "web:a", state=CaseState.QUEUED, queued_at=T0)
        open_case(world, "web:b", state=CaseState.WITH_AGENT, agent_id="ana")
        open_case(world, "web:b", state=CaseState.WITH_AGENT, agent_id="ana")
        open_case(world, "web:b", state=CaseState.ESCALATED, tier=2)

    await commit(store, change=change)

    world, _ = await store.load_world(now=T0, conversation_id=None, case_ids=[])
    assert set(world.cases) == {1}
    assert [c.id for c in world.queue()] == [1]
    assert world.active_chats == {"ana": 2}  # counted even though the cases are not loaded
    world, _ = await store.load_world(now=T0, conversation_id=None, case_ids=[4])
    assert set(world.cases) == {1, 4}
    assert [c.id for c in await store.cases_of_staff("ana")] == [2, 3]
    assert [c.id for c in await store.cases_in([CaseState.ESCALATED, CaseState.QUEUED])] == [1, 4]


async def test_commit_writes_back_only_what_changed(store: SQLiteStore) -> None:
    """Two events that loaded the same case: the one that didn't touch it must not undo the other's change."""
    await new_conversation(store)
    await commit(store, conversation_id="web:a", change=lambda w: open_case(w, state=CaseState.QUEUED, queued_at=T0))
    first, first_loaded = await store.load_world(now=T0, conversation_id=None, case_ids=[1])
    second, second_loaded = await store.load_world(now=T0, conversation_id=None, case_ids=[1])

    first.cases[1].state = CaseState.WITH_AGENT
    first.cases[1].agent_id = "ana"
    await store.commit(first, first_loaded, [], [])
    await store.commit(second, second_loaded, [], [])  # unchanged copy

    case = await store.case(1)
    assert case is not None and case.state is CaseState.WITH_AGENT and case.agent_id == "ana"


async def test_counters_never_go_backwards(store: SQLiteStore) -> None:
    await new_conversation(store)
    stale, stale_loaded = await store.load_world(now=T0, conversation_id=None, case_ids=[])

    def bump(world: Any) -> None:
        world.next_case_id = 7
        world.next_ticket_id = 3

    await commit(store, change=bump)
    stale.next_case_id = 2
    stale.next_ticket_id = 2
    await store.commit(stale, stale_loaded, [], [])

    world, _ = await store.load_world(now=T0, conversation_id=None, case_ids=[])
    assert (world.next_case_id, world.next_ticket_id) == (7, 3)


async def test_failed_commit_leaves_nothing_behind(store: SQLiteStore) -> None:
    await new_conversation(store)

    world, loaded = await store.load_world(now=T0, conversation_id="web:a", case_ids=[])
    open_case(world, state=CaseState.QUEUED, queued_at=T0)
    actions: list[Action] = [
        Say("web:a", 1, "saved?"),
        Schedule("queue_alert:1", "queue_alert", 1, T0 + 120),
        Say("web:ghost", None, "to nowhere"),
    ]
    with pytest.raises(StoreError, match="no conversation web:ghost"):
        await store.commit(world, loaded, actions, [])

    assert await store.case(1) is None
    assert await store.transcript("web:a") == []
    assert await store.due_timers(T0 + 10**9) == []
    world, _ = await store.load_world(now=T0, conversation_id="web:a", case_ids=[])
    assert world.next_case_id == 1 and world.conversation is not None and world.conversation.case_id is None


async def test_inbound_deliveries_are_recorded_once_and_forgotten_after_processing(store: SQLiteStore) -> None:
    await new_conversation(store)
    assert await store.accept_inbound("slack", "evt-1", {"n": 1}, now=T0) is True
    assert await store.accept_inbound("slack", "evt-1", {"n": 1}, now=T0) is False  # a retry while queued
    assert [e.payload for e in await store.inbound("slack")] == [{"n": 1}]
    world, loaded = await store.load_world(now=T0, conversation_id="web:a", case_ids=[])

    await store.commit(world, loaded, [], [], inbound=("slack", "evt-1"))

    assert await store.inbound("slack") == []
    assert await store.accept_inbound("slack", "evt-1", {"n": 1}, now=T0) is False  # a retry after processing
    assert await store.accept_inbound("teams", "evt-1", {"n": 1}, now=T0) is True
    assert await store.forget_seen(before=T0 + 1) == 1
    assert await store.accept_inbound("slack", "evt-1", {"n": 1}, now=T0 + 2) is True


async def test_a_request_key_handled_once_is_remembered_like_a_delivery(store: SQLiteStore) -> None:
    """A web chat POST's idempotency key has no inbox row before its turn: the turn's commit makes one."""
    await new_conversation(store)
    assert await store.handled_inbound("web", "web:a:key-1") is False
    world, loaded = await store.load_world(now=T0, conversation_id="web:a", case_ids=[])
    await store.commit(world, loaded, [], [], inbound=("web", "web:a:key-1"))
    assert await store.handled_inbound("web", "web:a:key-1") is True
    assert await store.inbound("web") == []
    await store.accept_inbound("slack", "evt-1", {"n": 1}, now=T0)
    assert await store.handled_inbound("slack", "evt-1") is False  # recorded, not yet handled
    assert await store.forget_seen(before=T0 + 1) == 1
    assert await store.handled_inbound("web", "web:a:key-1") is False


async def test_a_store_from_before_the_one_table_inbox_keeps_its_deliveries(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(
        """
        CREATE TABLE seen_events (source TEXT NOT NULL, event_id TEXT NOT NULL, at REAL NOT NULL,
            PRIMARY KEY (source, event_id));
        CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, event_id TEXT NOT NULL,
            payload TEXT NOT NULL, received_at REAL NOT NULL, UNIQUE (source, event_id));
        INSERT INTO seen_events VALUES ('slack', 'evt-done', 1795446000.0);
        INSERT INTO inbox (source, event_id, payload, received_at) VALUES ('slack', 'evt-waiting', '{"n": 2}', 1795446000.0);
        """
    )
    old.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        assert [e.payload for e in await store.inbound("slack")] == [{"n": 2}]  # still to be processed
        assert await store.accept_inbound("slack", "evt-done", {"n": 1}, now=T0) is False  # a retry: still dropped
        assert await store.forget_seen(before=T0 + 1) == 1
    finally:
        await store.close()
    reopened = SQLiteStore(path)  # a second open finds nothing left to migrate
    await reopened.open()
    await reopened.close()


async def test_a_store_from_before_outbox_notes_keeps_its_undelivered_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, adapter TEXT NOT NULL, payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, created_at REAL NOT NULL,
            delivered_at REAL, last_error TEXT);
        CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, event_id TEXT NOT NULL,
            payload TEXT NOT NULL, received_at REAL NOT NULL, done_at REAL, UNIQUE (source, event_id));
        INSERT INTO outbox (adapter, payload, next_attempt_at, created_at) VALUES ('slack', '{"type": "say"}', 1795446000.0, 1795446000.0);
        PRAGMA user_version = 1;
        """
    )
    old.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        [entry] = await store.pending_outbox()
        assert (entry.payload, entry.notes) == ({"type": "say"}, {})
        await store.note_attempt(entry.id, {"part0": {"since": T0}})
        assert (await store.pending_outbox())[0].notes == {"part0": {"since": T0}}
    finally:
        await store.close()


# ----- transcript ------------------------------------------------------------------------------------------------


async def test_transcript_sequence_increments_per_conversation(store: SQLiteStore) -> None:
    await new_conversation(store, "web:a")
    await new_conversation(store, "web:b")
    button = Button("article.solved", "This solved it", "1:reset")

    await commit(store, [Say("web:a", None, "Hi!"), Heard("web:a", 1, "help me"), Say("web:b", None, "Hi b!")], now=T0)
    await commit(store, [Say("web:a", 1, "Try this", buttons=(button,)), Say("web:a", 1, "Ana here", "agent", "Ana")], now=T0 + 7)

    entries = await store.transcript("web:a")
    assert [(e.seq, e.sender, e.sender_name, e.text, e.case_id) for e in entries] == [
        (1, "bot", "", "Hi!", None),
        (2, "customer", "", "help me", 1),
        (3, "bot", "", "Try this", 1),
        (4, "agent", "Ana", "Ana here", 1),
    ]
    assert entries[2].buttons == [{"id": "article.solved", "label": "This solved it", "value": "1:reset"}]
    assert entries[1].buttons == []
    assert [e.at for e in entries] == [T0, T0, T0 + 7, T0 + 7]
    assert [(e.seq, e.text) for e in await store.transcript("web:b")] == [(1, "Hi b!")]


async def test_transcript_after_and_limit(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(store, [Say("web:a", None, f"line {n}") for n in range(1, 6)])

    assert [e.seq for e in await store.transcript("web:a", after=3)] == [4, 5]
    assert [e.seq for e in await store.transcript("web:a", after=5)] == []
    assert [e.seq for e in await store.transcript("web:a", after=1, limit=2)] == [2, 3]
    assert await store.transcript("web:unknown") == []


# ----- timers ------------------------------------------------------------------------------------------------------


async def test_timer_becomes_due_at_its_time(store: SQLiteStore) -> None:
    await new_conversation(store)

    await commit(store, [Schedule("article_check:1", "article_check", 1, T0 + 120)])

    assert await store.due_timers(T0 + 119.999) == []
    due = await store.due_timers(T0 + 120)
    assert [(t.key, t.kind, t.case_id, t.due_at) for t in due] == [("article_check:1", "article_check", 1, T0 + 120)]


async def test_timers_come_due_oldest_first_and_respect_limit(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(
        store,
        [
            Schedule("queue_alert:2", "queue_alert", 2, T0 + 30),
            Schedule("queue_alert:1", "queue_alert", 1, T0 + 10),
            Schedule("close_resolved:3", "close_resolved", 3, T0 + 20),
        ],
    )

    assert [t.key for t in await store.due_timers(T0 + 60)] == ["queue_alert:1", "close_resolved:3", "queue_alert:2"]
    assert [t.key for t in await store.due_timers(T0 + 60, limit=1)] == ["queue_alert:1"]


async def test_scheduling_the_same_key_replaces_the_timer(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(store, [Schedule("close_resolved:1", "close_resolved", 1, T0 + 60)])

    await commit(store, [Schedule("close_resolved:1", "close_resolved", 1, T0 + 600)])

    assert await store.due_timers(T0 + 60) == []
    assert [t.due_at for t in await store.due_timers(T0 + 600)] == [T0 + 600]


async def test_cancel_removes_the_timer(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(store, [Schedule("queue_alert:1", "queue_alert", 1, T0 + 120), Schedule("article_check:1", "article_check", 1, T0 + 120)])

    await commit(store, [Cancel("queue_alert:1"), Cancel("never-scheduled")])

    assert [t.key for t in await store.due_timers(T0 + 120)] == ["article_check:1"]


async def test_fired_timer_is_deleted_in_the_same_commit(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(store, [Schedule("queue_alert:1", "queue_alert", 1, T0 + 120), Schedule("article_check:2", "article_check", 2, T0 + 120)])

    await commit(store, [Say("web:a", None, "alert handled")], now=T0 + 120, fired_timer="queue_alert:1")

    assert [t.key for t in await store.due_timers(T0 + 999)] == ["article_check:2"]


async def test_a_fired_timer_may_reschedule_itself(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(store, [Schedule("dev_status:1", "dev_status", 1, T0 + 86400)])

    await commit(store, [Schedule("dev_status:1", "dev_status", 1, T0 + 2 * 86400)], now=T0 + 86400, fired_timer="dev_status:1")

    assert [t.due_at for t in await store.due_timers(T0 + 3 * 86400)] == [T0 + 2 * 86400]


# ----- records -----------------------------------------------------------------------------------------------------


async def test_records_are_stored_per_case(store: SQLiteStore) -> None:
    await new_conversation(store)
    await commit(
        store,
        [
            RecordNote(1, "ana", "checked logs #sso", ("sso",)),
            RecordTicket(1, "TK-000001", "offline_message", "blank gradebook", T0 + 86400),
            RecordOffer(1, ("reset-password", "csv-format"), "forgot password", (0.9, 0.5)),
            RecordOfferOutcome(1, "helped", "reset-password"),
            RecordSurvey(1, 4),
            RecordNote(2, "ben", "other case", ()),
        ],
        now=T0 + 1,
    )
    await commit(store, [RecordSurvey(1, 4, "quick help"), RecordOfferOutcome(1, "no_answer")], now=T0 + 2)

    notes = await store.notes(1)
    assert [(n.case_id, n.author_id, n.text, n.tags, n.at) for n in notes] == [(1, "ana", "checked logs #sso", ("sso",), T0 + 1)]
    tickets = await store.records("tickets", 1)
    assert tickets == [
        {"id": "TK-000001", "case_id": 1, "kind": "offline_message", "text": "blank gradebook", "due_at": T0 + 86400, "at": T0 + 1}
    ]
    offers = await store.records("offers", 1)
    assert [(o["event"], json.loads(o["article_ids"]), json.loads(o["scores"]), o["query"]) for o in offers] == [
        ("offered", ["reset-password", "csv-format"], [0.9, 0.5], "forgot password"),
        ("helped", ["reset-password"], [], ""),
        ("no_answer", [], [], ""),
    ]
    surveys = await store.records("surveys", 1)
    assert [(s["rating"], s["comment"], s["at"]) for s in surveys] == [(4, "quick help", T0 + 2)]  # one survey per case
    assert await store.records("tickets", 2) == []


async def test_records_of_an_unknown_table_are_refused(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match="no record table 'cases'"):
        await store.records("cases", 1)
    with pytest.raises(StoreError):
        await store.records("tickets; DROP TABLE cases", 1)


async def test_recent_handle_times_keep_the_newest_window(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "window.db", handle_time_window=2)
    await store.open()
    try:
        await new_conversation(store)
        for n, seconds in enumerate((100.0, 200.0, 300.0), start=1):
            await commit(store, [RecordHandleTime(n, seconds)], now=T0 + n)

        world, _ = await store.load_world(now=T0 + 10, conversation_id=None, case_ids=[])
        assert sorted(world.recent_handle_times) == [200.0, 300.0]
    finally:
        await store.close()


# ----- presence ------------------------------------------------------------------------------------------------------


async def test_presence_keeps_the_status_and_whether_it_came_from_a_console(store: SQLiteStore) -> None:
    def presence(world: Any) -> None:
        world.agent("ana").status = AgentStatus.AVAILABLE
        world.agent("ana").online = world.agent("ana").console = True
        world.agent("ben").online = True  # by a chat command (Slack): no console to lose

    await commit(store, change=presence)

    world, _ = await store.load_world(now=T0, conversation_id=None, case_ids=[])
    assert world.agents == {
        "ana": AgentState("ana", AgentStatus.AVAILABLE, True, True),
        "ben": AgentState("ben", AgentStatus.AWAY, True, False),
    }


async def due(store: SQLiteStore, at: float) -> list[OutboxEntry]:
    """Undelivered entries whose next attempt is due at `at`."""
    return [e for e in await store.pending_outbox() if e.next_attempt_at <= at]


# ----- the outbox --------------------------------------------------------------------------------------------------------


async def test_outbox_rows_are_pending_until_delivered(store: SQLiteStore) -> None:
    await new_conversation(store)
    say = Say("web:a", 1, "Hello", buttons=(Button("x", "X", "1:"),))
    notify = NotifyStaff(("ana",), "New chat", "queue_new", 1)
    changed = CaseChanged(1)

    await commit(store, [say, notify, changed], routed=[Routed("web", say), Routed("console", notify), Routed("console", changed)])

    pending = await due(store, T0)
    assert [(p.adapter, p.payload["type"], p.attempts) for p in pending] == [
        ("web", "say", 0),
        ("console", "notify", 0),
        ("console", "case_changed", 0),
    ]
    assert pending[0].payload["seq"] == 1 and pending[0].payload["at"] == T0
    assert pending[0].payload["buttons"] == [{"id": "x", "label": "X", "value": "1:"}]
    assert pending[1].payload["recipients"] == ["ana"] and pending[1].payload["kind"] == "queue_new"
    assert await store.pending_outbox(limit=1) == pending[:1]

    await store.mark_delivered([pending[0].id, pending[2].id], now=T0 + 1)

    assert [p.id for p in await due(store, T0 + 1)] == [pending[1].id]


async def test_the_backlog_counts_open_cases_undelivered_rows_and_unhandled_deliveries(store: SQLiteStore) -> None:
    await new_conversation(store, "web:a")
    say = Say("web:a", 1, "Hello")

    def change(world: Any) -> None:
        open_case(world, "web:a", state=CaseState.QUEUED, queued_at=T0)
        open_case(world, "web:a", state=CaseState.WITH_AGENT, agent_id="ana")
        open_case(world, "web:a", state=CaseState.RESOLVED)

    await commit(store, [say, say], routed=[Routed("web", say), Routed("web", say)], change=change)
    await store.accept_inbound("slack", "evt-1", {"n": 1}, now=T0)
    await store.accept_inbound("slack", "evt-2", {"n": 2}, now=T0)
    await store.finish_inbound("slack", "evt-1", now=T0)
    [first, _] = await store.pending_outbox()
    await store.mark_delivered([first.id], now=T0)

    backlog = await store.backlog()

    assert backlog.cases == {"queued": 1, "with_agent": 1}  # a resolved case is not open
    assert backlog.outbox == 1 and backlog.inbox == {"slack": 1}


async def test_an_outlets_notes_stay_with_the_row_until_it_is_delivered(store: SQLiteStore) -> None:
    await new_conversation(store)
    say = Say("web:a", None, "Hello")
    await commit(store, [say], routed=[Routed("slack", say)])
    [entry] = await due(store, T0)
    assert entry.notes == {}

    await store.note_attempt(entry.id, {"part0": {"since": T0}})  # about to post
    assert (await due(store, T0))[0].notes == {"part0": {"since": T0}}
    await store.mark_failed(entry.id, retry_at=T0 + 1, error="slack: chat.postMessage failed: fatal_error",
                            notes={"part0": {"ts": "1.000001"}, "part1": {"since": T0}})
    assert (await due(store, T0 + 1))[0].notes == {"part0": {"ts": "1.000001"}, "part1": {"since": T0}}
    await store.mark_failed(entry.id, retry_at=T0 + 2, error="refused", notes={})
    assert (await due(store, T0 + 2))[0].notes == {}


async def test_failed_outbox_row_waits_for_its_retry_time(store: SQLiteStore) -> None:
    await new_conversation(store)
    say = Say("web:a", None, "Hello")
    await commit(store, [say], routed=[Routed("web", say)])
    entry = (await due(store, T0))[0]

    await store.mark_failed(entry.id, retry_at=T0 + 4, error="timeout")

    assert await due(store, T0 + 3.9) == []
    retried = await due(store, T0 + 4)
    assert [(r.id, r.attempts) for r in retried] == [(entry.id, 1)]


async def test_delivery_moves_pending_to_delivered(desk: Desk) -> None:
    conversation = await desk.customer()
    assert len(await due(desk.store, desk.clock.now())) == 1

    assert await desk.runtime.deliver_outbox() == 1

    assert await due(desk.store, desk.clock.now() + 3600) == []
    assert [(p["conversation_id"], p["text"], p["seq"]) for p in desk.outlet.delivered] == [
        (conversation, desk.settings.spiels.greeting, 1)
    ]
    assert await desk.runtime.deliver_outbox() == 0  # nothing is delivered twice


async def test_failed_delivery_is_retried_with_backoff(desk: Desk) -> None:
    await desk.customer()
    desk.outlet.fail_next = 2

    assert await desk.runtime.deliver_outbox() == 0  # first attempt fails: retry in 1 s
    assert await desk.runtime.deliver_outbox() == 0  # not due yet
    desk.clock.advance(1)
    assert await desk.runtime.deliver_outbox() == 0  # second attempt fails: retry in 2 s
    assert [e.attempts for e in await due(desk.store, desk.clock.now() + 2)] == [2]
    desk.clock.advance(1.5)
    assert await desk.runtime.deliver_outbox() == 0
    desk.clock.advance(0.5)
    assert await desk.runtime.deliver_outbox() == 1
    assert [p["text"] for p in desk.outlet.delivered] == [desk.settings.spiels.greeting]


async def test_a_failed_entry_holds_back_its_conversation_but_not_others(desk: Desk) -> None:
    first = await desk.customer()
    second = await desk.customer()
    await desk.say(first, "The gradebook won't load")  # more messages to the first customer
    desk.outlet.fail_next = 1  # the first customer's greeting fails

    await desk.runtime.deliver_outbox()

    delivered_to = [p.get("conversation_id") for p in desk.outlet.delivered if p["type"] == "say"]
    assert first not in delivered_to
    assert delivered_to == [second]
    desk.clock.advance(1)
    await desk.runtime.deliver_outbox()
    first_texts = [p["text"] for p in desk.outlet.delivered if p.get("conversation_id") == first and p.get("sender") == "bot"]
    assert first_texts[0] == desk.settings.spiels.greeting
    assert first_texts[1].startswith("I've opened case CS-000001")
    assert await due(desk.store, desk.clock.now() + 3600) == []


class NotingOutlet(Port):
    """A durable outlet delivering once: notes it is about to send, then fails its first try."""

    name, serves_staff, shows_customer_messages, durable = "web", True, True, True

    def __init__(self, db: Path) -> None:
        self.db = db
        self.seen: list[dict[str, Any]] = []  # the notes each try found
        self.committed: list[str | None] = []  # the row's notes as another connection reads them after save()

    def wants(self, action: NotifyStaff | CaseChanged) -> bool:
        return True

    async def show(self, line: Line, attempt: Attempt) -> None:
        self.seen.append(dict(attempt.notes))
        if "sent" not in attempt.notes:
            attempt.notes["sent"] = {"since": 1.0}
            await attempt.save()
            with sqlite3.connect(self.db) as other:
                self.committed.append(other.execute("SELECT notes FROM outbox WHERE id = ?", (attempt.outbox_id,)).fetchone()[0])
        if len(self.seen) == 1:
            attempt.notes["learnt"] = True
            raise DeliveryError("simulated outage")


async def test_a_once_outlet_finds_its_notes_committed_before_it_sends_and_again_on_its_retry(desk: Desk) -> None:
    outlet = NotingOutlet(desk.store.path)
    desk.runtime.attach(outlet)
    await desk.customer()

    assert await desk.runtime.deliver_outbox() == 0  # the first try fails
    assert outlet.committed == ['{"sent":{"since":1.0}}']  # what it noted was durable before it went on
    desk.clock.advance(1)
    assert await desk.runtime.deliver_outbox() == 1
    assert outlet.seen == [{}, {"sent": {"since": 1.0}, "learnt": True}]  # what the failed try learnt reached the retry


async def test_later_messages_never_overtake_a_failed_one(desk: Desk) -> None:
    conversation = await desk.customer()
    desk.outlet.fail_next = 1
    await desk.runtime.deliver_outbox()  # the greeting fails: retry in 1 s

    await desk.say(conversation, "The gradebook won't load")
    await desk.runtime.deliver_outbox()  # the dispatcher wakes up for the new messages before the retry is due

    said = [p for p in desk.outlet.delivered if p.get("conversation_id") == conversation]
    assert said == []  # nothing may be delivered to this customer before the greeting


# ----- restart -------------------------------------------------------------------------------------------------------------


async def test_everything_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    store = SQLiteStore(path)
    await store.open()
    await new_conversation(store)
    say = Say("web:a", 1, "Queued for you")

    def change(world: Any) -> None:
        open_case(world, state=CaseState.QUEUED, queued_at=T0, details={"email": "jo@example.com"})
        world.next_ticket_id = 2
        world.agent("ana").status = AgentStatus.AVAILABLE
        world.agent("ana").online = True

    await commit(
        store,
        [say, Schedule("queue_alert:1", "queue_alert", 1, T0 + 120), RecordNote(1, "ana", "keep", ("x",)),
         RecordTicket(1, "TK-000001", "callback", "", T0 + 5000)],
        conversation_id="web:a",
        routed=[Routed("web", say)],
        change=change,
    )
    await store.close()
    assert await store.ping() is False

    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        world, _ = await reopened.load_world(now=T0 + 60, conversation_id="web:a", case_ids=[])
        assert world.current_case() is not None and world.current_case().details == {"email": "jo@example.com"}  # type: ignore[union-attr]
        assert (world.next_case_id, world.next_ticket_id) == (2, 2)
        assert world.agents["ana"].status is AgentStatus.AVAILABLE
        assert [e.text for e in await reopened.transcript("web:a")] == ["Queued for you"]
        assert [t.key for t in await reopened.due_timers(T0 + 120)] == ["queue_alert:1"]
        assert [n.text for n in await reopened.notes(1)] == ["keep"]
        assert [t["id"] for t in await reopened.records("tickets", 1)] == ["TK-000001"]
        assert [p.payload["text"] for p in await due(reopened, T0)] == ["Queued for you"]
        assert await reopened.conversation_secret("web:a") == "hash-web:a"
        # new transcript lines continue the sequence
        await commit(reopened, [Say("web:a", 1, "still here")], now=T0 + 60)
        assert [e.seq for e in await reopened.transcript("web:a")] == [1, 2]
    finally:
        await reopened.close()


async def test_desk_restart_keeps_the_customer_journey(tmp_path: Path) -> None:
    from tests.harness import open_desk

    desk = await open_desk(tmp_path)
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, "The gradebook won't load")
    await desk.say(conversation, "skip")
    await desk.store.close()

    again = await open_desk(tmp_path)  # same file: tmp_path/desk.db
    try:
        await again.runtime.consoles_gone()
        case = await again.case_of(conversation)
        assert case.number == "CS-000001" and case.state is CaseState.QUEUED
        again.clock.advance(120)
        assert await again.runtime.fire_due_timers() == 2  # the queue alert and the wait update survived the restart
        await again.runtime.deliver_outbox()
        assert [n["recipients"] for n in again.notices("sla_alert")] == [["maya"]]  # nobody online after restart
        other = Conversation("web:after-restart", "web", created_at=again.clock.now())
        await again.runtime.open_conversation(other, secret_hash="h")  # a fresh desk would reuse web:c1
        replies = await again.say(other.id, "Another problem")
        assert replies[0].startswith("I've opened case CS-000002")
    finally:
        await again.store.close()


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    with pytest.raises(StoreError, match="not open"):
        await store.case(1)
    await store.open()
    await store.close()
    assert await store.ping() is False


def test_from_url(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/x.db", handle_time_window=5)
    assert store.path == tmp_path / "x.db"
    with pytest.raises(StoreError):
        SQLiteStore.from_url("redis://localhost")


async def test_a_conversation_is_created_only_if_new_when_asked(store: SQLiteStore) -> None:
    """The runtime opens a chat platform's conversation with one write, not a read and a write."""
    first = Conversation("slack:D1", "slack", customer_name="Jo", created_at=T0)

    assert await store.create_conversation(first, secret_hash="", if_new=True) is True
    again = Conversation("slack:D1", "slack", customer_name="Someone else", created_at=T0 + 5)
    assert await store.create_conversation(again, secret_hash="", if_new=True) is False

    kept = await store.conversation("slack:D1")
    assert kept is not None and kept.customer_name == "Jo"
