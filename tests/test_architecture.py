"""Boundaries that keep the engine pure and the settings documented."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from adapters.settings import SECTIONS
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_PACKAGES = {"aiohttp", "slack_bolt", "slack_sdk", "botbuilder", "microsoft_agents", "redis", "adapters"}
# the command line is the one place in bot/ that starts the HTTP service
ENTRY_POINTS = {ROOT / "bot" / "cli.py"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_bot_and_knowledge_never_import_a_platform_sdk() -> None:
    offenders = {}
    for package in ("bot", "knowledge"):
        for path in (ROOT / package).rglob("*.py"):
            if path in ENTRY_POINTS:
                continue
            found = imported_packages(path) & PLATFORM_PACKAGES
            if found:
                offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert offenders == {}


def test_the_engine_never_reads_the_wall_clock_or_sleeps() -> None:
    for path in [ROOT / "bot" / "engine.py", *sorted((ROOT / "bot" / "flows").glob("*.py"))]:
        source = path.read_text(encoding="utf-8")
        for forbidden in ("time.time(", "datetime.now(", "asyncio.sleep(", "time.sleep("):
            assert forbidden not in source, f"{path.name} uses {forbidden}"


def test_the_example_file_documents_every_setting() -> None:
    example = (ROOT / "supportbot.example.toml").read_text(encoding="utf-8")
    missing = []
    engine = {f.name: getattr(Settings(), f.name) for f in dataclasses.fields(Settings) if f.name not in ("roster", "sme_groups", "adapters")}
    adapters = {name: cls() for name, cls in SECTIONS.items()}  # each adapter's own section
    for name in ("roster", "sme_groups"):
        assert f"[[{name}]]" in example
    for name, section in {**engine, **adapters}.items():
        assert f"[{name}]" in example, f"[{name}] is not in the example"
        for key in dataclasses.fields(section):
            if f"{key.name} =" not in example:
                missing.append(f"{name}.{key.name}")
    assert missing == []
