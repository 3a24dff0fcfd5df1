"""The runtime: event → engine → store (state, records, timers, outbox in one commit) → adapters.

One event is handled at a time: queue positions and agent capacity are shared by every case, so
events run one after another. They are committed in groups (group commit): events that arrive
while a group is being written wait, then go together in the next transaction, each in its own
savepoint, and every caller hears back only once its group is durable. A transaction's BEGIN and
COMMIT cost more than a bot turn's own writes, so under load this is most of the store's cost
saved, while a lone event still commits at once.
Timers are rows the timer loop turns into `TimerFired` events; outbound messages are outbox rows the
dispatcher delivers and retries, so a crash or restart loses neither; an outlet given a row's
`Attempt` also never sends it twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from bot.clock import Clock
from bot.domain import Conversation, platform_of
from bot.engine import ConversationManager
from bot.events import (
    Action,
    CaseChanged,
    ConversationStarted,
    CustomerAction,
    CustomerMessage,
    CustomerNamed,
    CustomerTyping,
    Event,
    Heard,
    NotifyStaff,
    Say,
    StaffCommand,
    StaffPresence,
    TimerFired,
)
from bot.ports import Attempt, DeliveryError, Port, decode, send
from bot.store.base import OutboxEntry, Routed, Store

log = logging.getLogger(__name__)

T = TypeVar("T")
# Units of work committed together, at most. A group runs without yielding to the event loop, so
# this bounds how long a delivery waits to be recorded (and acknowledged): 32 bot turns take a few
# milliseconds, and the transaction's BEGIN and COMMIT are already a small share of them.
MAX_GROUP = 32
MAX_RETRY_DELAY = 300.0
# Delivered outbox rows and handled platform deliveries are kept this long, then forgotten (checked
# every FORGET_EVERY): a platform's retry of a delivery within a day is still recognised (Slack
# retries for minutes), and the outbox does not grow by a row per message for ever.
KEEP_DONE_FOR = 86400.0
FORGET_EVERY = 3600.0
DELIVERY_LANES = 16  # places (conversations, channels) delivered to at once


# what one unit of work did: the engine's actions, their routes, and the live pushes to make
_Outcome = tuple[list[Action], list[Routed], list[tuple[str, dict[str, Any]]]]


@dataclasses.dataclass
class RuntimeCounts:
    """What the runtime has done since start-up, for /metrics (adapters/metrics.py)."""

    events: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)  # by event type
    delivered: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)  # by adapter
    retried: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)  # by adapter: kept for later


class KeyedLocks:
    """One FIFO lock per key (a conversation), kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        if not key:  # events of no conversation (staff commands, timers) need no order among themselves here
            yield
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Runtime:
    def __init__(
        self,
        *,
        engine: ConversationManager,
        store: Store,
        clock: Clock,
        poll_interval: float = 0.5,
        warm_up: Callable[[], Awaitable[None]] | None = None,
        prepare: Callable[[Event, Conversation | None], Awaitable[None]] | None = None,
    ) -> None:
        """`warm_up` is awaited before the first unit of work: what the engine needs loaded (the
        help-article index) is then ready without the engine ever blocking the event loop.
        `prepare` is awaited before each event's turn (bot/rehearsal.py: slow searches done ahead,
        off the loop)."""
        self._warm_up = warm_up
        self._prepare = prepare
        self.engine = engine
        self.store = store
        self.clock = clock
        self.poll_interval = poll_interval
        self.outlets: dict[str, Port] = {}
        self._outbox_ready = asyncio.Event()
        self._deliver_lock = asyncio.Lock()
        self._waiting: list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._urgent: list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.counts = RuntimeCounts()
        self._in_order = KeyedLocks()

    def attach(self, port: Port) -> None:
        """Routes to `port` what is for its platform (an outlet attached under a name replaces the last)."""
        self.outlets[port.name] = port

    async def open_conversation(self, conversation: Conversation, *, secret_hash: str) -> None:
        await self._push(await self.unit(lambda: self._open_and_run(conversation, secret_hash, None)))

    async def handle(
        self,
        event: Event,
        *,
        inbound: tuple[str, str] | None = None,
        fired_timer: str | None = None,
        opening: Conversation | None = None,
    ) -> list[Action]:
        """Handles one event to the end: its outbox rows are committed when this returns.

        `opening` is the event's conversation, opened (and greeted) first when it does not exist
        yet: an adapter that learns of a conversation from its first message needs no lookup.
        """
        if self._prepare is None:  # units are taken in call order: a conversation's events stay in order
            outcome = await self._turn(event, inbound, fired_timer, opening)
        else:  # a preparation may take longer for an earlier event: take a conversation's events in turn
            async with self._in_order.hold(_conversation_of(event) or ""):
                await self._prepare(event, opening)
                outcome = await self._turn(event, inbound, fired_timer, opening)
        return await self._push(outcome)

    async def _turn(
        self, event: Event, inbound: tuple[str, str] | None, fired_timer: str | None, opening: Conversation | None
    ) -> _Outcome:
        if opening is None:
            return await self.unit(lambda: self._run([event], inbound, fired_timer))
        return await self.unit(lambda: self._open_and_run(opening, "", (event, inbound)))

    async def unit(self, work: Callable[[], Awaitable[T]], *, urgent: bool = False) -> T:
        """Runs `work` (store calls only, never a network wait) in turn with every other unit and
        returns once the transaction holding it is committed.

        `urgent` units (recording a platform's delivery, which waits for that before it may
        acknowledge) go ahead of the others, in a group of their own: under load an
        acknowledgement then waits for a few small writes, not for a group of bot turns."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._waiting).append((work, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_groups())
        return await done

    def _next_group(self) -> list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]]:
        if self._urgent:
            group, self._urgent = self._urgent[:MAX_GROUP], self._urgent[MAX_GROUP:]
        else:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        return group

    async def _write_groups(self) -> None:
        if self._warm_up is not None:
            await self._warm_up()
            self._warm_up = None
        while self._urgent or self._waiting:
            group = self._next_group()
            results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                async with self.store.transaction():
                    for work, done in group:
                        try:
                            async with self.store.savepoint():
                                results.append((done, await work(), None))
                        except Exception as exc:  # this unit is undone alone; the others still commit
                            results.append((done, None, exc))
            except Exception as exc:  # the commit itself failed: nothing in the group happened
                log.exception("store transaction failed", extra={"units": len(group)})
                results = [(done, None, exc) for _, done in group]
            for done, value, error in results:
                if done.done():  # its caller went away (e.g. the client disconnected)
                    continue
                if error is None:
                    done.set_result(value)
                else:
                    done.set_exception(error)
            await asyncio.sleep(0)  # deliveries that arrived meanwhile are recorded before the next group

    async def _open_and_run(
        self, conversation: Conversation, secret_hash: str, then: tuple[Event, tuple[str, str] | None] | None
    ) -> _Outcome:
        """Opens the conversation if it is new, greeting in the same turn as its first event (so
        the greeting and the first answer can reach a chat platform as one message)."""
        events: list[Event] = []
        if await self.store.create_conversation(conversation, secret_hash=secret_hash, if_new=True):
            events.append(ConversationStarted(conversation.id))
        inbound = None
        if then is not None:
            events.append(then[0])
            inbound = then[1]
        return await self._run(events, inbound, None) if events else ([], [], [])

    async def _run(self, events: Sequence[Event], inbound: tuple[str, str] | None, fired_timer: str | None) -> _Outcome:
        """Events of one conversation (or case) handled on one loaded world and committed together;
        none when `inbound` was handled before (a request retried with its idempotency key: checked
        here, in the unit, so two copies arriving together are still handled once)."""
        if inbound is not None and await self.store.handled_inbound(*inbound):
            return [], [], []
        case_ids = [case_id for event in events for case_id in _cases_of(event)]
        world, loaded = await self.store.load_world(
            now=self.clock.now(), conversation_id=_conversation_of(events[0]), case_ids=case_ids, staff_id=_staff_of(events[0])
        )
        actions = [action for event in events for action in self.engine.handle(event, world)]
        self.counts.events.update(type(event).__name__ for event in events)
        routed = self._shaped([r for a in actions for r in self._route(a)])
        live = await self.store.commit(world, loaded, actions, routed, inbound=inbound, fired_timer=fired_timer)
        return actions, routed, live

    async def _push(self, outcome: _Outcome) -> list[Action]:
        """After the commit: wakes the outbox dispatcher and pushes live updates."""
        actions, routed, live = outcome
        if any(r.durable for r in routed):
            self._outbox_ready.set()
        for adapter, payload in live:
            try:
                await send(self.outlets[adapter], decode(payload), Attempt.live())
            except Exception:  # a live view that missed a push catches up from the stored transcript
                log.exception("live delivery failed", extra={"adapter": adapter})
        return actions

    def _shaped(self, routed: list[Routed]) -> list[Routed]:
        """Each durable port shapes its own lines of the turn (`Port.shape`: Slack merges a turn's
        lines to one chat into one message); everything else keeps its place."""
        lines: dict[str, list[Say]] = {}
        for entry in routed:
            if entry.durable and isinstance(entry.action, Say):
                lines.setdefault(entry.adapter, []).append(entry.action)
        if not lines:
            return routed
        result: list[Routed] = []
        for entry in routed:
            if not (entry.durable and isinstance(entry.action, Say)):
                result.append(entry)
            elif entry.adapter in lines:  # a port's lines go where its first was (order matters per chat only)
                result.extend(Routed(entry.adapter, line, True) for line in self.outlets[entry.adapter].shape(lines.pop(entry.adapter)))
        return result

    def _route(self, action: Action) -> list[Routed]:
        if isinstance(action, (Say, Heard)):
            outlet = self.outlets.get(platform_of(action.conversation_id))
            if outlet is None or (isinstance(action, Heard) and not outlet.shows_customer_messages):
                return []
            return [Routed(outlet.name, action, outlet.durable)]
        if isinstance(action, (NotifyStaff, CaseChanged)):
            return [Routed(o.name, action, o.durable) for o in self.outlets.values() if o.serves_staff and o.wants(action)]
        return []

    async def consoles_gone(self) -> None:
        """After a restart no console connection survives: whoever was online through one goes
        offline the engine's way, so their live chats get the grace period and then go back to
        the queue if they do not return. Those online by a chat command (Slack) stay online."""
        for agent in await self.store.agents():
            if agent.online and agent.console:
                await self.handle(StaffPresence(agent.id, False))

    async def fire_due_timers(self) -> int:
        timers = await self.store.due_timers(self.clock.now())
        await asyncio.gather(
            *(self.handle(TimerFired(t.key, t.kind, t.case_id), fired_timer=t.key) for t in timers)
        )
        return len(timers)

    async def deliver_outbox(self) -> int:
        """Delivers what is due: different places at once, each place's messages in order; a
        failed (or not yet retriable) entry holds back the later ones to the same place."""
        async with self._deliver_lock:
            lanes: dict[str, list[OutboxEntry]] = {}
            for entry in await self.store.pending_outbox():
                lanes.setdefault(f"{entry.adapter}/{_ordering_key(entry)}", []).append(entry)
            now = self.clock.now()
            limit = asyncio.Semaphore(DELIVERY_LANES)
            return sum(await asyncio.gather(*(self._deliver_lane(lane, now, limit) for lane in lanes.values())))

    async def _deliver_lane(self, lane: list[OutboxEntry], now: float, limit: asyncio.Semaphore) -> int:
        """Delivers a place's entries in order; each is marked delivered as soon as it is, so a
        crash leaves as few as possible whose fate a retry must find out."""
        delivered = 0
        async with limit:
            for entry in lane:
                if entry.next_attempt_at > now or entry.adapter not in self.outlets:
                    break
                attempt = Attempt(entry.id, entry.notes, self._note)
                try:
                    await self._send(entry, attempt)
                except DeliveryError as exc:
                    await self._retry_later(entry, exc.retry_after, str(exc), attempt.notes)
                    break
                except Exception as exc:  # an adapter bug must not stop delivery of everything else
                    log.exception("outbox delivery failed", extra={"outbox_id": entry.id, "adapter": entry.adapter})
                    await self._retry_later(entry, None, repr(exc), attempt.notes)
                    break
                await self.store.mark_delivered([entry.id], now=self.clock.now())
                delivered += 1
                self.counts.delivered[entry.adapter] += 1
        return delivered

    async def _send(self, entry: OutboxEntry, attempt: Attempt) -> None:
        await send(self.outlets[entry.adapter], decode(entry.payload), attempt)

    async def _note(self, entry_id: int, notes: dict[str, Any]) -> None:
        """An Attempt's notes, committed (urgent: an outlet waits for this before its call goes out)."""
        await self.unit(lambda: self.store.note_attempt(entry_id, notes), urgent=True)

    async def _retry_later(self, entry: OutboxEntry, retry_after: float | None, error: str, notes: dict[str, Any]) -> None:
        self.counts.retried[entry.adapter] += 1
        delay = retry_after if retry_after is not None else min(MAX_RETRY_DELAY, 2.0 ** entry.attempts)
        if retry_after is None:  # a failure, not a platform's "later" (a rate limit, our pacing): an operator may have to act
            log.warning("delivery failed; retrying", extra={"adapter": entry.adapter, "outbox_id": entry.id,
                                                            "attempts": entry.attempts + 1, "retry_in_s": delay, "error": error})
        await self.store.mark_failed(entry.id, retry_at=self.clock.now() + delay, error=error, notes=notes)

    async def run_timers(self) -> None:
        while True:
            try:
                await self.fire_due_timers()
            except Exception:
                log.exception("timer loop iteration failed")
            await asyncio.sleep(self.poll_interval)

    async def run_dispatcher(self) -> None:
        forget_at = self.clock.now() + 60.0  # not at once: the first unit waits for the article index to load
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_ready.wait(), timeout=self.poll_interval)
            self._outbox_ready.clear()
            try:
                await self.deliver_outbox()
                if self.clock.now() >= forget_at:
                    await self.forget_done()
                    forget_at = self.clock.now() + FORGET_EVERY
            except Exception:
                log.exception("outbox dispatcher iteration failed")

    async def forget_done(self) -> int:
        """Forgets delivered outbox rows and handled deliveries older than KEEP_DONE_FOR; returns how
        many deliveries were forgotten."""
        return await self.unit(lambda: self.store.forget_seen(before=self.clock.now() - KEEP_DONE_FOR))


def _conversation_of(event: Event) -> str | None:
    if isinstance(event, (ConversationStarted, CustomerMessage, CustomerAction, CustomerTyping, CustomerNamed)):
        return event.conversation_id
    return None


def _staff_of(event: Event) -> str | None:
    """Whose live chats a presence change needs (they may go back to the queue)."""
    return event.staff_id if isinstance(event, StaffPresence) else None


def _cases_of(event: Event) -> list[int]:
    if isinstance(event, (StaffCommand, TimerFired)) and event.case_id is not None:
        return [event.case_id]
    if isinstance(event, CustomerAction):
        case_id, _ = event.case_and_detail()
        return [case_id] if case_id is not None else []
    return []


def _ordering_key(entry: OutboxEntry) -> str:
    payload: Mapping[str, Any] = entry.payload
    return str(payload.get("conversation_id") or payload.get("case_id") or "")
