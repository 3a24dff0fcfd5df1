"""Slack's secrets come from the environment, never from the settings file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SlackCredentials:
    bot_token: str
    signing_secret: str
    app_token: str = ""
    api_url: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SlackCredentials | None:
        env = os.environ if environ is None else environ
        token, secret = env.get("SLACK_BOT_TOKEN", ""), env.get("SLACK_SIGNING_SECRET", "")
        if not token or not secret:
            return None
        return cls(token, secret, env.get("SLACK_APP_TOKEN", ""), env.get("SLACK_API_URL", ""))
