"""Tests for knowledge.evaluate and the `supportbot kb eval` command on a tiny fixture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from knowledge.commands import main as kb_main
from knowledge.commands import register
from knowledge.evaluate import LabelledQuery, QueryFileError, evaluate, load_queries
from knowledge.index import Article, KnowledgeBase

KEYS = {"top1", "top3", "mrr", "answered_correctly", "declined_out_of_scope", "mean_ms", "p99_ms", "queries"}

ARTICLES = {
    "reset-password": ("Reset a forgotten password", ["I forgot my password", "the password reset email never arrived",
                                                      "how do I change my password"]),
    "cancel-subscription": ("Cancel your subscription", ["how do I cancel my subscription", "stop automatic renewal",
                                                         "I don't want to be charged again"]),
    "export-grades": ("Export grades", ["how do I export grades", "download my gradebook to Excel",
                                        "export student results as CSV"]),
    "supported-browsers": ("Supported browsers", ["which browsers do you support", "does it work on Chromebooks",
                                                  "can I use Safari"]),
}

QUERIES = [
    {"text": "I forgot my password and can't log in", "expected": "reset-password"},
    {"text": "please cancel my subscription", "expected": "cancel-subscription"},
    {"text": "get my gradebook into Excel", "expected": "export-grades"},
    {"text": "does this work in Safari", "expected": "supported-browsers"},
    {"text": "what's the weather in Paris", "expected": None},
    {"text": "asdf qwerty", "expected": None},
]


@pytest.fixture()
def fixture_kb(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "articles"
    folder.mkdir()
    for stem, (title, questions) in ARTICLES.items():
        qs = "".join(f"  - {q}\n" for q in questions)
        (folder / f"{stem}.md").write_text(f"---\ntitle: {title}\nquestions:\n{qs}---\n# {title}\n\nBody.\n", encoding="utf-8")
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in QUERIES) + "\n\n", encoding="utf-8")
    return folder, queries


def test_eval_json_has_the_documented_keys(fixture_kb: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, queries = fixture_kb
    assert kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(queries), "--json", "--threshold", "0.4"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert KEYS <= set(result)
    assert result["queries"] == 6
    assert result["top1"] == 1.0 and result["top3"] == 1.0 and result["mrr"] == 1.0
    assert result["declined_out_of_scope"] == 1.0
    assert 0.0 <= result["answered_correctly"] <= 1.0
    assert result["mean_ms"] >= 0 and result["p99_ms"] >= result["mean_ms"] * 0  # numbers, not None
    assert result["threshold"] == 0.4


def test_eval_table_output(fixture_kb: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, queries = fixture_kb
    assert kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(queries), "--threshold", "0"]) == 0
    out = capsys.readouterr().out
    assert "top-1 100.0%" in out and "top-3 100.0%" in out
    assert "answered correctly:      100.0%" in out  # threshold 0 answers everything the ranking finds
    assert "declined out of scope" in out and "p99" in out


def test_declined_is_null_without_out_of_scope_queries(fixture_kb: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, queries = fixture_kb
    only_in = queries.parent / "in.jsonl"
    only_in.write_text("\n".join(json.dumps(q) for q in QUERIES if q["expected"]) + "\n", encoding="utf-8")
    assert kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(only_in), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["declined_out_of_scope"] is None
    assert result["queries"] == 4


def test_declining_counts_as_wrong() -> None:
    kb = KnowledgeBase([Article(id="a", title="Reset a password", summary="", url="", tags=(), audience="customer",
                                questions=("I forgot my password",), body="")], threshold=1.0)
    report = evaluate(kb, [LabelledQuery("I forgot my password", "a"), LabelledQuery("hello there", None)])
    assert report.top1 == 1.0
    assert report.answered_correctly == 0.0  # nothing reaches a threshold of 1
    assert report.declined_out_of_scope == 1.0


def test_the_threshold_sweep_agrees_with_the_configured_threshold_and_moves_one_way(
    fixture_kb: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, queries = fixture_kb
    assert kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(queries), "--json", "--threshold", "0.4"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["by_threshold"]
    assert [r["threshold"] for r in rows] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    configured = next(r for r in rows if r["threshold"] == 0.4)
    assert (configured["answered_correctly"], configured["declined_out_of_scope"]) == (
        result["answered_correctly"], result["declined_out_of_scope"])
    for lower, higher in zip(rows, rows[1:]):  # a higher bar answers less, offers fewer wrong articles, declines more
        assert higher["answered_correctly"] <= lower["answered_correctly"]
        assert higher["offered_wrong"] <= lower["offered_wrong"]
        assert higher["declined_out_of_scope"] >= lower["declined_out_of_scope"]
    assert 0.0 <= result["calibration_error"] <= 1.0
    assert kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(queries), "--threshold", "0.4"]) == 0
    assert "0.4" in capsys.readouterr().out.split("<- configured")[0].splitlines()[-1]


def test_calibration_error_is_the_bin_weighted_gap_between_confidence_and_accuracy() -> None:
    from knowledge.evaluate import _calibration_error

    # bin 0.9: confidence 0.95 twice, right once (gap 0.45 over 2 queries); bin 0.1: 0.15, wrong (gap 0.15 over 1)
    assert _calibration_error([(0.95, True, True), (0.95, True, False), (0.15, False, False)]) == round((0.9 + 0.15) / 3, 4)
    assert _calibration_error([(1.0, True, True), (0.0, False, False)]) == 0.0
    assert _calibration_error([]) is None


def test_unknown_expected_article_counts_as_a_miss(fixture_kb: tuple[Path, Path]) -> None:
    folder, _ = fixture_kb
    kb = KnowledgeBase.from_folder(folder, reload_interval=None)
    report = evaluate(kb, [LabelledQuery("I forgot my password", "no-such-article")])
    assert report.top1 == 0.0 and report.mrr == 0.0 and report.unknown_expected == 1


@pytest.mark.parametrize(
    ("line", "fragment"),
    [("not json", "not valid JSON"), ('{"expected": "a"}', "text"), ('{"text": "x", "expected": 3}', "expected"), ("[1]", "text")],
)
def test_bad_query_file_names_the_line(tmp_path: Path, line: str, fragment: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "fine", "expected": null}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(QueryFileError) as info:
        load_queries(path)
    assert "q.jsonl:2" in str(info.value) and fragment in str(info.value)


def test_eval_command_errors(fixture_kb: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, queries = fixture_kb
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n", encoding="utf-8")
    assert kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(bad)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert kb_main(["kb", "eval", "--articles", str(tmp_path / "missing"), "--queries", str(queries)]) == 2
    with pytest.raises(SystemExit):
        kb_main(["kb", "eval", "--articles", str(folder), "--queries", str(queries), "--threshold", "1.5"])


def test_register_adds_kb_eval_to_a_cli_parser(fixture_kb: tuple[Path, Path]) -> None:
    folder, queries = fixture_kb
    parser = argparse.ArgumentParser(prog="supportbot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve")
    register(commands)
    args = parser.parse_args(["kb", "eval", "--articles", str(folder), "--queries", str(queries), "--json"])
    assert args.command == "kb" and args.json and callable(args.func)


def test_kb_check_lists_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.md").write_text("---\ntitle: Fine\n---\nBody.\n", encoding="utf-8")
    (tmp_path / "broken.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    assert kb_main(["kb", "check", "--articles", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "broken.md:" in out and "1 articles loaded" in out and "1 skipped" in out


def test_kb_check_names_articles_a_replaced_by_loses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def article(stem: str, successor: str = "") -> None:
        extra = f"replaced_by: {successor}\n" if successor else ""
        (tmp_path / f"{stem}.md").write_text(f"---\ntitle: {stem}\n{extra}---\nBody.\n", encoding="utf-8")

    article("old-pricing", "new-pricing")  # a good chain: not reported
    article("new-pricing")
    article("typo", "new-pricng")
    for stem, successor in (("a", "b"), ("b", "c"), ("c", "a")):
        article(stem, successor)
    assert kb_main(["kb", "check", "--articles", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "typo.md: replaced_by 'new-pricng' names no article" in out
    assert out.count("leads back to it") == 1 and "a -> b -> c -> a" in out  # one line per cycle
    assert "pricing.md" not in out
    assert "0 skipped, 2 with a replaced_by that leads nowhere" in out


def test_threshold_is_per_knowledge_base_and_validated(fixture_kb: tuple[Path, Path]) -> None:
    folder, _ = fixture_kb
    strict = KnowledgeBase.from_folder(folder, threshold=0.99, reload_interval=None)
    lax = KnowledgeBase.from_folder(folder, threshold=0.0, reload_interval=None)
    query = "I forgot my password"
    assert lax.suggest(query) and not strict.suggest(query)
    strict.threshold = 0.0
    assert strict.suggest(query)
    with pytest.raises(ValueError):
        strict.threshold = -0.1


def test_the_confidence_takes_the_smallest_out_of_scope_weight_that_declines_enough() -> None:
    """knowledge.tune and knowledge.embeddings_tune pick the confidence fit this one way."""
    import numpy as np

    from knowledge.tune import smallest_oos_weight

    fitted: list[float] = []
    declined = {3.0: 0.70, 4.0: 0.80, 5.0: 0.90, 6.0: 0.95}
    offered = {3.0: [], 4.0: ["who are you"], 5.0: [], 6.0: []}

    def fit(weight: float) -> tuple[np.ndarray, float]:  # type: ignore[type-arg]
        fitted.append(weight)
        return np.array([weight]), -weight

    weight, weights, bias = smallest_oos_weight(
        (3.0, 4.0, 5.0, 6.0), fit, lambda: (0.6, declined[fitted[-1]]), lambda: offered[fitted[-1]], 0.75
    )

    assert (weight, weights.tolist(), bias) == (5.0, [5.0], -5.0)  # 4.0 declines enough but answers off-topic chat
    assert fitted == [3.0, 4.0, 5.0]  # stops at the first that passes
