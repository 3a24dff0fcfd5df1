"""What staff can do in Slack, in Slack's own terms: the configured slash commands, and the
prefixes used in a chat's or a consult's thread.

The engine's staff help (`spiels.help_staff`) speaks the agent console's language ("/resolve");
in Slack the same commands are "!resolve" in a thread or "/sb-resolve" as a slash command, names
the team may have changed. So Slack answers "help", and any slash command it does not know, from
its own settings.
"""

from __future__ import annotations

from bot.config import SlackSettings


def slack_help(slack: SlackSettings, unknown: str = "") -> str:
    bang = slack.command_prefix or "!"
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
        f"*In a consult's thread*: what you type goes to the other side; `{bang}endconsult` ends it, `{bang}pause` pauses it.",
    ]
    return "\n".join(lines)
