"""Slack's secrets come from the environment, never from the settings file."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackCredentials:
    bot_token: str
    signing_secret: str
    app_token: str = ""
    api_url: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SlackCredentials | None:
        """Slack is on with a bot token and a way in: the signing secret (Slack posts events to
        /slack/events) and/or an app-level token (Socket Mode, no public URL needed)."""
        env = os.environ if environ is None else environ
        token, secret, app_token = (env.get(k, "") for k in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"))
        if not token or not (secret or app_token):
            if token or secret or app_token:  # half set up: say what is missing rather than stay silently off
                missing = "SLACK_BOT_TOKEN" if not token else "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)"
                log.warning("slack stays off: %s is not set", missing)
            return None
        return cls(token, secret, app_token, env.get("SLACK_API_URL", ""))
