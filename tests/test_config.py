"""Settings: SOP defaults, the TOML file, environment overrides, durations and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.settings import SECTIONS, build_settings, load_settings
from bot.config import ConfigError, Duration, Settings
from bot.domain import Role

SOP_TOML = """
[timings]
article_check_after = "3m"
queue_alert_after = 90
dev_status_every = "1.5d"

[queue]
agent_capacity = 2

[business_hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed"]
open = "08:30"
close = "17:00"

[callback]
within_business_days = 2

[spiels]
greeting = "Welcome! Case numbers look like {case}."

[[roster]]
id = "ana"
name = "Ana"
role = "agent"

[[roster]]
id = "maya"
name = "Maya"
role = "manager"
on_duty = true
capacity = 5
"""


def write(tmp_path: Path, text: str, name: str = "supportbot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


DEFAULTS = Settings(adapters={name: cls() for name, cls in SECTIONS.items()})  # the engine's and every adapter's defaults

def error_of(raw: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as caught:
        build_settings(raw)
    return str(caught.value)


# ----- defaults come from the SOPs ------------------------------------------------------------------------


def test_defaults_are_the_sop_values() -> None:
    settings = load_settings(None, environ={})

    assert settings == DEFAULTS
    assert settings.timings.article_check_after == 120.0  # SOP 000: check the article helped
    assert settings.timings.queue_alert_after == 120.0  # SOP 001: every chat answered in under 2 minutes
    assert settings.timings.close_resolved_after == 1800.0
    assert settings.timings.dev_status_every == 86400.0  # SOP 000: status reminders while with development
    assert settings.queue.agent_capacity == 3
    assert settings.callback.within_business_days == 1.5  # SOP 001: 1½ business days for calls
    assert settings.server.max_message_chars == 4000
    assert settings.business_hours.timezone == "America/Chicago"  # SOP 000: before 7pm CT
    assert settings.business_hours.close == "19:00"
    assert settings.intake.fields == ("account_id", "browser", "email", "error", "steps")  # SOP 002
    assert settings.intake.max_asks == 1
    assert settings.cases.number_format.format(1) == "CS-000001"
    assert settings.roster == ()


def test_durations_are_floats_of_seconds() -> None:
    timings = Settings().timings

    assert isinstance(timings.article_check_after, Duration) and isinstance(timings.article_check_after, float)


# ----- the TOML file ---------------------------------------------------------------------------------------------


def test_toml_file_is_loaded(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SOP_TOML), environ={})

    assert settings.timings.article_check_after == 180.0
    assert settings.timings.queue_alert_after == 90.0
    assert settings.timings.dev_status_every == 1.5 * 86400
    assert settings.timings.close_resolved_after == 1800.0  # untouched keys keep their defaults
    assert settings.queue.agent_capacity == 2
    assert settings.business_hours.days == ("mon", "tue", "wed")
    assert (settings.business_hours.open, settings.business_hours.close) == ("08:30", "17:00")
    assert settings.callback.within_business_days == 2.0 and isinstance(settings.callback.within_business_days, float)
    assert settings.spiels.greeting == "Welcome! Case numbers look like {case}."
    assert [(e.id, e.role, e.on_duty, e.capacity) for e in settings.roster] == [
        ("ana", Role.AGENT, False, 0),
        ("maya", Role.MANAGER, True, 5),
    ]
    ana = settings.staff("ana")
    assert ana is not None and settings.capacity_of(ana) == 2  # no own capacity: the queue default
    assert settings.staff("nobody") is None


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError, match=re.escape(f"config file {missing} does not exist")):
        load_settings(missing, environ={})


def test_no_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(None, environ={}) == DEFAULTS


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[timings\narticle_check_after = 2m\n")

    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(path, environ={})


# ----- environment overrides -------------------------------------------------------------------------------------


def test_env_override_duration() -> None:
    settings = load_settings(None, environ={"SUPPORTBOT_TIMINGS__ARTICLE_CHECK_AFTER": "90s"})

    assert settings.timings.article_check_after == 90.0


def test_env_overrides_the_file_and_explicit_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, SOP_TOML)
    environ = {"SUPPORTBOT_TIMINGS__ARTICLE_CHECK_AFTER": "90s", "SUPPORTBOT_QUEUE__AGENT_CAPACITY": "4"}

    from_env = load_settings(path, environ=environ)
    overridden = load_settings(path, environ=environ, overrides={"queue.agent_capacity": 6})

    assert from_env.timings.article_check_after == 90.0
    assert from_env.queue.agent_capacity == 4
    assert from_env.business_hours.timezone == "Europe/London"  # the rest of the file stays
    assert overridden.queue.agent_capacity == 6


def test_env_values_are_read_as_toml_when_they_parse() -> None:
    settings = load_settings(
        None,
        environ={
            "SUPPORTBOT_SERVER__PORT": "8080",
            "SUPPORTBOT_BUSINESS_HOURS__DAYS": '["sat", "sun"]',
            "SUPPORTBOT_CALLBACK__WITHIN_BUSINESS_DAYS": "2.5",
            "SUPPORTBOT_SPIELS__GREETING": "Hello there, how can we help?",
            "SUPPORTBOT_BUSINESS_HOURS__OPEN": "06:30",
            "SUPPORTBOT_SERVER__STORE": "sqlite:///data/bot.db",
        },
    )

    assert settings.server.port == 8080
    assert settings.business_hours.days == ("sat", "sun")
    assert settings.callback.within_business_days == 2.5
    assert settings.spiels.greeting == "Hello there, how can we help?"
    assert settings.business_hours.open == "06:30"
    assert settings.server.store == "sqlite:///data/bot.db"


def test_unrelated_environment_variables_are_ignored() -> None:
    settings = load_settings(None, environ={"SUPPORTBOT_DEBUG": "1", "PATH": "/usr/bin", "HOME": "/root"})

    assert settings == DEFAULTS


def test_env_override_with_a_bad_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^timings\.queue_alert_after: expected a duration"):
        load_settings(None, environ={"SUPPORTBOT_TIMINGS__QUEUE_ALERT_AFTER": "soon"})
    with pytest.raises(ConfigError, match=r"^server\.port: expected a whole number"):
        load_settings(None, environ={"SUPPORTBOT_SERVER__PORT": "eighty"})


def test_env_override_of_an_unknown_key_names_it() -> None:
    with pytest.raises(ConfigError, match=r"^timings\.article_check: unknown key$"):
        load_settings(None, environ={"SUPPORTBOT_TIMINGS__ARTICLE_CHECK": "90s"})


def test_env_override_of_a_string_setting_keeps_the_text() -> None:
    settings = load_settings(None, environ={"SUPPORTBOT_KNOWLEDGE__FOLDER": "2024"})

    assert settings.knowledge.folder == "2024"


# ----- durations --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("2m", 120.0),
        ("1.5h", 5400.0),
        ("1.5d", 129600.0),
        ("250ms", 0.25),
        (" 2 m ", 120.0),
        ("45", 45.0),
        (45, 45.0),
        (2.5, 2.5),
        ("0", 0.0),
    ],
)
def test_duration_parsing(text: object, seconds: float) -> None:
    assert Duration.parse(text, "timings.x") == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["2 minutes", "soon", "", "1.5w", "-5s", "m2", True, None, [1]])
def test_bad_durations_name_the_key(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^timings\.queue_alert_after: expected a duration"):
        Duration.parse(bad, "timings.queue_alert_after")


def test_negative_duration_is_refused() -> None:
    message = error_of({"timings": {"close_resolved_after": -1}})

    assert message == "timings.close_resolved_after: a duration cannot be negative"


def test_durations_in_a_file_become_seconds(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[timings]\narticle_check_after = "90s"\nqueue_alert_after = "2m"\n'), environ={})

    assert (settings.timings.article_check_after, settings.timings.queue_alert_after) == (90.0, 120.0)


# ----- bad values name their key ---------------------------------------------------------------------------------


def test_bad_duration_in_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[timings]\narticle_check_after = "two minutes"\n')

    with pytest.raises(ConfigError, match=r"^timings\.article_check_after: expected a duration like '90s', '2m' or '1\.5d', got 'two minutes'$"):
        load_settings(path, environ={})


def test_unknown_key_names_the_key() -> None:
    assert error_of({"timings": {"article_chek_after": "2m"}}) == "timings.article_chek_after: unknown key"


def test_unknown_section_names_the_section() -> None:
    assert error_of({"timing": {"article_check_after": "2m"}}) == "unknown section [timing]"


def test_section_that_is_not_a_table() -> None:
    assert error_of({"timings": "2m"}) == "[timings] must be a table"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"port": "80"}}, "server.port: expected a whole number, got '80'"),
        ({"server": {"port": True}}, "server.port: expected a whole number, got True"),
        ({"intake": {"fields": "email"}}, "intake.fields: expected a list of strings, got 'email'"),
        ({"callback": {"within_business_days": "soon"}}, "callback.within_business_days: expected a number, got 'soon'"),
        ({"spiels": {"greeting": 7}}, "spiels.greeting: expected a string, got 7"),
        ({"server": {"max_message_chars": 0}}, "server.max_message_chars: must be at least 1"),
        ({"server": {"wal_max_bytes": 4096}}, "server.wal_max_bytes: must be at least 1048576 (1 MiB)"),
        ({"queue": {"agent_capacity": 0}}, "queue.agent_capacity: must be at least 1"),
        ({"server": {"store": "postgres://db"}}, "server.store: expected sqlite:///path, got 'postgres://db'"),
    ],
)
def test_wrong_types_and_ranges_name_the_key(raw: dict[str, object], message: str) -> None:
    assert error_of(raw) == message


def test_bad_role_names_the_roster_entry() -> None:
    message = error_of({"roster": [{"id": "ana", "name": "Ana", "role": "agent"}, {"id": "x", "name": "X", "role": "boss"}]})

    assert message.startswith("roster[1].role: expected one of agent, tier2, manager, sme, got 'boss'")


def test_customer_role_is_not_for_the_roster() -> None:
    assert error_of({"roster": [{"id": "c", "name": "C", "role": "customer"}]}) == (
        "roster[0].role: customers are everyone not on the roster"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "ana", "role": "agent"}, "roster[0].name: required"),
        ({"id": "", "name": "Ana", "role": "agent"}, "roster[0].id: required"),
        ({"id": "ana", "name": "Ana", "role": "agent", "shift": "late"}, "roster[0].shift: unknown key"),
        ({"id": "ana", "name": "Ana", "role": "agent", "capacity": "2"}, "roster[0].capacity: expected a whole number, got '2'"),
        ({"id": "ana", "name": "Ana", "role": "agent", "on_duty": "yes"}, "roster[0].on_duty: expected true or false, got 'yes'"),
    ],
)
def test_bad_roster_entries_name_the_key(entry: dict[str, object], message: str) -> None:
    assert error_of({"roster": [entry]}) == message


def test_duplicate_roster_ids_are_refused() -> None:
    entry = {"id": "ana", "name": "Ana", "role": "agent"}

    assert error_of({"roster": [entry, dict(entry)]}) == "roster: duplicate id"


def test_unknown_spiel_placeholder_names_the_spiel() -> None:
    message = error_of({"spiels": {"queued": "You're number {position}; hi {customer_name}!"}})

    assert message == "spiels.queued: unknown placeholder {customer_name}"


def test_malformed_spiel_braces_name_the_spiel() -> None:
    assert error_of({"spiels": {"greeting": "Hi {case"}}).startswith("spiels.greeting: ")


def test_known_placeholders_are_accepted_in_any_spiel() -> None:
    settings = build_settings({"spiels": {"greeting": "Case {case}, wait {wait}, ticket {ticket}"}})

    assert settings.spiels.greeting == "Case {case}, wait {wait}, ticket {ticket}"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Central", "../etc/passwd", ""])
def test_bad_timezone_names_the_key(zone: str) -> None:
    message = error_of({"business_hours": {"timezone": zone}})

    assert message == f"business_hours.timezone: unknown time zone {zone!r}"


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ({"days": ["monday"]}, "business_hours.days: unknown day 'monday'"),
        ({"business_days": ["fri", "xyz"]}, "business_hours.business_days: unknown day 'xyz'"),
        ({"open": "7am"}, "business_hours.open: expected HH:MM, got '7am'"),
        ({"close": "25:00"}, "business_hours.close: expected HH:MM, got '25:00'"),
    ],
)
def test_bad_business_hours_name_the_key(raw: dict[str, object], prefix: str) -> None:
    assert error_of({"business_hours": raw}).startswith(prefix)


def test_midnight_close_is_allowed() -> None:
    assert build_settings({"business_hours": {"open": "00:00", "close": "24:00"}}).business_hours.close == "24:00"


def test_bad_intake_field_names_the_key() -> None:
    message = error_of({"intake": {"fields": ["email", "shoe_size"]}})

    assert message.startswith("intake.fields: unknown detail 'shoe_size'")
    assert "account_id, browser, email, error, steps" in message


def test_bad_carry_over_detail_names_carry_over() -> None:
    message = error_of({"intake": {"carry_over": ["phone"]}})

    assert message.startswith("intake.carry_over: unknown detail 'phone'")


def test_intake_fields_can_be_narrowed() -> None:
    settings = build_settings({"intake": {"fields": ["account_id", "email"], "max_asks": 2}})

    assert settings.intake.fields == ("account_id", "email") and settings.intake.max_asks == 2


@pytest.mark.parametrize("fmt", ["CS-{:06q}", "CS-{1}"])
def test_bad_case_number_format_names_the_key(fmt: str) -> None:
    assert error_of({"cases": {"number_format": fmt}}).startswith("cases.number_format: ")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_example_file_loads_if_present() -> None:
    example = Path(__file__).resolve().parent.parent / "supportbot.example.toml"
    if not example.exists():
        pytest.skip("no supportbot.example.toml in this checkout")

    settings = load_settings(example, environ={})

    assert settings.timings.article_check_after == 120.0
    assert settings.callback.within_business_days == 1.5


def test_people_and_sme_groups_carry_their_ids_per_platform() -> None:
    settings = build_settings(
        {
            "roster": [
                {"id": "ana", "name": "Ana", "role": "agent", "slack": "U1"},
                {"id": "sam", "name": "Sam", "role": "sme", "accounts": {"slack": "U2"}},
            ],
            "sme_groups": [
                {"name": "a", "classifications": ["A"], "members": ["sam"], "slack_channel": "C1"},
                {"name": "b", "classifications": ["B"], "members": ["sam"], "channels": {"slack": "C2"}},
            ],
        }
    )
    assert [e.account("slack") for e in settings.roster] == ["U1", "U2"]
    assert settings.roster[0].account("teams") == ""
    assert [g.channel("slack") for g in settings.sme_groups] == ["C1", "C2"]


def test_an_id_for_a_platform_nobody_configured_is_refused() -> None:
    assert "roster[0].accounts: expected ids by platform" in error_of(
        {"roster": [{"id": "ana", "name": "Ana", "role": "agent", "accounts": {"myspace": "x"}}]}
    )
    assert "roster[0].nickname: unknown key" in error_of({"roster": [{"id": "ana", "name": "Ana", "role": "agent", "nickname": "A"}]})
    assert "unknown section [adapters]" in error_of({"adapters": {}})
