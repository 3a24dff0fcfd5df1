"""Commands in Slack's own terms: the configured slash commands, and the prefix used in DMs and
threads.

The engine names commands as the web chat and agent console take them ("/new", "/resolve"). In
Slack a message starting with "/" is a slash command, which Slack itself refuses unless the app
declares it: a customer cannot type "/new", and an agent's "/resolve" is "/sb-resolve" (or
"!resolve" in a chat's thread), names the team may have changed. So this module renders the
engine's command names for Slack (`for_customers`, `for_staff`), reads a customer's "!new" as the
engine's "/new" (`customer_command`), and answers "help", and any slash command Slack sends that
the bot does not know, from the Slack settings (`slack_help`).
"""

from __future__ import annotations

import re

from adapters.slack_settings import SlackSettings

CUSTOMER_COMMANDS = ("new", "agent", "help")  # what the engine takes from customers (bot/engine.py)
# the engine's commands that have a slash command of their own → the SlackSettings field naming it
_SLASH_SETTINGS = {
    "status": "command_status", "case": "command_case", "note": "command_note", "escalate": "command_escalate",
    "resolve": "command_resolve", "sme": "command_sme", "kb": "command_kb",
}
THREAD_COMMANDS = (  # typed in a thread
    "hold", "devwait", "stilllooking", "pause", "endconsult", "help", "handover", "reassign", "requeue", "calledback",
)


def _named(names: tuple[str, ...]) -> re.Pattern[str]:
    """A command name the engine wrote: "/name" as a word of its own (never inside a URL or a path)."""
    return re.compile(r"(?<![\w/.:])/(" + "|".join(names) + r")\b")


_CUSTOMER = _named(CUSTOMER_COMMANDS)
_STAFF = _named(tuple(_SLASH_SETTINGS) + THREAD_COMMANDS)


def _prefix(slack: SlackSettings) -> str:
    """What starts a command typed in a DM or a thread ("!" unless configured otherwise)."""
    return slack.command_prefix or "!"


def for_customers(text: str, slack: SlackSettings) -> str:
    """"/new" as a Slack customer types it: "!new"."""
    return _CUSTOMER.sub(lambda m: f"{_prefix(slack)}{m.group(1)}", text)


def slash_names(slack: SlackSettings) -> dict[str, str]:
    """The engine's name of each command that has a slash command of its own → its configured name."""
    return {name: str(getattr(slack, field)) for name, field in _SLASH_SETTINGS.items()}


def for_staff(text: str, slack: SlackSettings) -> str:
    """"/resolve" as staff use it in Slack: the configured slash command, or "!hold" for commands
    that only work in a chat's thread."""
    slash = slash_names(slack)
    return _STAFF.sub(lambda m: slash.get(m.group(1)) or f"{_prefix(slack)}{m.group(1)}", text)


def customer_command(text: str, slack: SlackSettings) -> str:
    """A customer's "!new" (or "!agent", "!help") as the engine's "/new"; any other text as it is."""
    prefix = slack.command_prefix
    if prefix and text.startswith(prefix):
        name, _, rest = text[len(prefix):].partition(" ")
        if name.lower() in CUSTOMER_COMMANDS:
            return f"/{name.lower()} {rest}".strip()
    return text


def slack_help(slack: SlackSettings, unknown: str = "") -> str:
    bang = _prefix(slack)
    lines = [f"I don't know the command {unknown}." if unknown else "What you can do here:"]
    lines += [
        "*Slash commands* (the case number may be left out when you have exactly one open chat):",
        f"• `{slack.command_status} available|away`",
        f"• `{slack.command_case} [CS-…]` shows a case",
        f"• `{slack.command_note} [CS-…] <text> #tags` adds an internal note",
        f"• `{slack.command_escalate} [CS-…] tier2|manager`",
        f"• `{slack.command_resolve} [CS-…]`",
        f"• `{slack.command_sme} [CS-…] <classification> | <notes>` consults an expert",
        f"• `{slack.command_kb} [words]` finds help articles (without words: for your open chat)",
        "*In a chat's thread*: what you type goes to the customer;",
    ]
    if slack.note_prefix:
        lines.append(f"• `{slack.note_prefix} <text> #tags` is an internal note, never shown to the customer")
    lines += [
        f"• `{bang}resolve`, `{bang}escalate tier2|manager`, `{bang}case`, `{bang}hold` (the holding line), "
        f"`{bang}devwait`, `{bang}stilllooking`, `{bang}sme <classification> | <notes>`, `{bang}help`",
        f"• `{bang}handover @name <note>` gives the chat to another available advisor, `{bang}reassign @name <note>` "
        f"(managers: any chat), `{bang}requeue [reason]` puts it back first in the queue, `{bang}calledback` marks its call back done",
        f"*In a consult's thread*: what you type goes to the other side; `{bang}endconsult` ends it, `{bang}pause` pauses it.",
    ]
    return "\n".join(lines)
