"""chat.postMessage at most once per outbox delivery, across `kill -9` and unanswered calls.

Slack has no idempotency key for posts, and an outbox row is marked delivered only after its
post returns: a process killed in between (reported: tens of customers in a few hundred answered
twice), or a call whose answer is lost, would have the row's retry post it again. So each post of
a delivery has a name within it (`purpose`: "part0", "card", ...), and

* before it goes out, the row's notes (bot.runtime.Attempt) get `{"since": <time>}` for it, committed;
* it carries the row id and its name in the message's `metadata` (`event_type`, `event_payload`);
* Slack's answer turns the note into `{"ts": ...}`, kept if a later call of the delivery fails,
  so a retry skips what went out; a refusal (`NotDone`) takes the note back: nothing went out;
* a try that finds `since` first looks the message up: conversations.history, or
  conversations.replies in a thread, with `include_all_metadata`, from a little before `since`;
  found, its `ts` stands for the post.

A duplicate remains possible only when Slack cannot answer the lookup (a missing history scope, an
unknown thread: logged, then posted), or carries out a post after the bot stopped waiting for it and
looked. chat.update needs none of this (the same update twice leaves the same message); ephemeral
messages (a staff member's command replies) are in no history to look in, so they are shown at
least once.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters.slack_api import NotDone, SlackCalls
from bot.clock import Clock
from bot.ports import Attempt

log = logging.getLogger(__name__)

EVENT_TYPE = "supportbot_outbox"
SKEW = 60.0  # seconds before the earlier try that the lookup starts: Slack's clock is not ours
PAGE = 200  # messages per lookup call
RETRY_LOOKUP = frozenset({"ratelimited", "unreachable"})  # a lookup refused only for now: try the delivery later


class OncePoster:
    def __init__(self, calls: SlackCalls, clock: Clock) -> None:
        self.calls = calls
        self.clock = clock

    async def post(self, attempt: Attempt, purpose: str, message: dict[str, Any]) -> str:
        """Posts `message` (chat.postMessage's arguments) unless a try of this row already did;
        returns the message's ts either way."""
        note = attempt.notes.get(purpose)
        if note is not None and "ts" in note:
            return str(note["ts"])
        tag = {"outbox_id": attempt.outbox_id, "post": purpose}
        if note is not None:  # an earlier try may have posted it (its note is committed already)
            found = await self._find(message, tag, since=float(note["since"]))
            if found is not None:
                log.info("slack post found from an earlier try; not posted again", extra=tag)
                attempt.notes[purpose] = {"ts": found}
                return found
        else:
            attempt.notes[purpose] = {"since": self.clock.now()}
            await attempt.save()
        try:
            answer = await self.calls.post_message(**message, metadata={"event_type": EVENT_TYPE, "event_payload": tag})
        except NotDone:
            if note is None:
                del attempt.notes[purpose]
            raise
        ts = str(answer["ts"])
        attempt.notes[purpose] = {"ts": ts}
        return ts

    async def _find(self, message: dict[str, Any], tag: dict[str, Any], *, since: float) -> str | None:
        """The ts of the message Slack holds with this tag, posted since a little before `since`."""
        thread = message.get("thread_ts")
        method = "conversations.replies" if thread else "conversations.history"
        arguments = {"channel": message["channel"], "ts": thread, "oldest": f"{since - SKEW:.6f}",
                     "include_all_metadata": True, "limit": PAGE}
        cursor = None
        while True:
            try:
                answer = await self.calls.call(method, {**arguments, "cursor": cursor})
            except NotDone as exc:
                if exc.error in RETRY_LOOKUP:
                    raise
                log.warning("slack cannot say whether an earlier try posted; posting (it may show twice)",
                            extra={**tag, "method": method, "error": exc.error})
                return None
            for posted in answer.get("messages") or []:
                metadata = posted.get("metadata") or {}
                if metadata.get("event_type") == EVENT_TYPE and metadata.get("event_payload") == tag:
                    return str(posted["ts"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
