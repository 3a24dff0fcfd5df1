"""Slack's shape of a turn: a turn's bot lines to one chat become one message.

A greeting, a case number and a question arrive together: one notification instead of three, one
Web API call instead of three. A line with buttons ends a message (the buttons stay at its end), as
does a line from another sender. This is Slack's own choice (a web page shows each line as it
comes), so it lives here and the runtime only asks the port (`Port.shape`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.events import Say


def merge_turn(lines: Sequence[Say]) -> list[Say]:
    """`lines` (one turn's, in order, to any of Slack's chats) with each chat's runs merged."""
    merged: list[Say] = []
    open_at: dict[str, int] = {}  # chat → index of a message still taking lines
    for say in lines:
        at = open_at.get(say.conversation_id)
        earlier = merged[at] if at is not None else None
        if at is not None and earlier is not None and (earlier.sender, earlier.sender_name) == (say.sender, say.sender_name):
            merged[at] = dataclasses.replace(say, text=f"{earlier.text}\n\n{say.text}")
        else:
            merged.append(say)
            at = len(merged) - 1
        if say.buttons:
            open_at.pop(say.conversation_id, None)
        else:
            open_at[say.conversation_id] = at
    return merged
