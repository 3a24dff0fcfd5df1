"""What staff type in Slack, as the engine's commands.

In a chat's thread `note: …` is an internal note and `!name …` a command (the engine's "/name");
in a consult's thread `!name …` likewise; a slash command's words are its text. Two things are
Slack's own and are settled here, before the engine sees them:

* people are named by mention: `!handover @Ben shift change` arrives as `<@U0BEN> shift change`,
  and the engine knows Ben by his roster id, so a mention of someone on the roster becomes it;
* a bare `/sb-escalate` (or `!escalate`) is answered with its usage: the engine reads a missing
  target as Tier II, and an escalation is not undone, so Slack asks rather than guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from adapters.slack_settings import SlackSettings
from bot.config import RosterEntry

_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")
NAMES_SOMEONE = frozenset({"handover", "reassign"})  # commands whose first word is a person


class Usage(ValueError):
    """Not a command the engine should see: the caller is told this message instead."""


def bang(text: str, slack: SlackSettings) -> tuple[str, str] | None:
    """`!name rest` → ("name", "rest"); None when the text is not a command."""
    prefix = slack.command_prefix
    if not prefix or not text.startswith(prefix):
        return None
    name, _, rest = text[len(prefix):].strip().partition(" ")
    return name.lower(), rest.strip()


def arguments(name: str, rest: str, slack: SlackSettings, by_slack_id: Mapping[str, RosterEntry]) -> str:
    """The command's text as the engine takes it; raises Usage when it cannot be run as typed."""
    if name == "escalate" and not rest.strip():
        bang_escalate = f"{slack.command_prefix or '!'}escalate"
        raise Usage(f"Escalate to whom? Use `{slack.command_escalate} [CS-…] tier2|manager`, "
                    f"or `{bang_escalate} tier2|manager` in a chat's thread.")
    if name in NAMES_SOMEONE:
        who, _, note = rest.partition(" ")
        mention = _MENTION.match(who)
        if mention:
            person = by_slack_id.get(mention.group(1))
            if person is None:
                raise Usage(f"{who} is not on the support roster; hand over to an advisor who is.")
            return f"{person.id} {note}".strip()
    return rest
