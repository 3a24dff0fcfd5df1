"""Settings with every adapter's own section: the loader the service and its commands use.

`bot/config.py` builds the engine's settings and names no platform; each adapter's section class
is registered here, once, so `[slack]` is checked like every other section and `slack = "U…"` on
a roster entry is that person's Slack account.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.slack_settings import PLATFORM as SLACK
from adapters.slack_settings import SlackSettings
from bot import config
from bot.config import Settings

SECTIONS: Mapping[str, type] = {SLACK: SlackSettings}


def build_settings(raw: Mapping[str, Any]) -> Settings:
    return config.build_settings(raw, sections=SECTIONS)


def load_settings(path: Path | None = None, *, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    return config.load_settings(path, environ=environ, overrides=overrides, sections=SECTIONS)
