"""Settings: one TOML file plus `SUPPORTBOT_<SECTION>__<KEY>` environment overrides.

Every timing, spiel and list from the source SOPs is a setting here, with the SOP's value as the
default; `supportbot.example.toml` documents each key. Durations are written like `90s`, `2m`,
`1.5d`. A bad setting raises `ConfigError` naming the key, so start-up stops with a clear message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain import Role
from bot.store.checkpoint import DEFAULT_WAL_MAX_BYTES


class ConfigError(ValueError):
    """A setting is missing, unknown or malformed; the message names the key."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration(float):
    """Seconds, parsed from `90s`, `2m`, `1.5h`, `1.5d` or a bare number of seconds."""

    @classmethod
    def parse(cls, value: object, key: str) -> Duration:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a duration like '2m', got {value!r}")
        if isinstance(value, (int, float)):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.match(value)):
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
        else:
            raise ConfigError(f"{key}: expected a duration like '90s', '2m' or '1.5d', got {value!r}")
        if seconds < 0:
            raise ConfigError(f"{key}: a duration cannot be negative")
        return cls(seconds)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 3978
    store: str = "sqlite:///var/supportbot.db"
    public_url: str = ""
    max_message_chars: int = 4000
    timer_poll_interval: Duration = Duration(0.5)
    wal_max_bytes: int = DEFAULT_WAL_MAX_BYTES  # the store's -wal file is kept within this under load


@dataclass(frozen=True)
class Timings:
    """SOP timings (SOPs 000, 001, 003)."""

    article_check_after: Duration = Duration(120)
    queue_alert_after: Duration = Duration(120)
    close_resolved_after: Duration = Duration(1800)
    dev_status_every: Duration = Duration(86400)


@dataclass(frozen=True)
class CaseSettings:
    number_format: str = "CS-{:06d}"
    ticket_format: str = "TK-{:06d}"


@dataclass(frozen=True)
class IntakeSettings:
    """Details to collect (SOP 002). Keys: account_id, browser, email, error, steps."""

    fields: tuple[str, ...] = ("account_id", "browser", "email", "error", "steps")
    max_asks: int = 1
    carry_over: tuple[str, ...] = ("account_id", "browser", "email")  # kept from the customer's previous case


@dataclass(frozen=True)
class QueueSettings:
    agent_capacity: int = 3
    default_handle_time: Duration = Duration(480)
    handle_time_window: int = 20
    accept_time: Duration = Duration(40)
    update_every: Duration = Duration(120)  # queued customers hear a fresh position and wait this often
    agent_grace: Duration = Duration(120)  # an agent gone offline this long: their live chats go back to the queue


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    """When live chat is staffed (SOP 000: chats before 7pm CT get a response)."""

    timezone: str = "America/Chicago"
    days: tuple[str, ...] = _WEEKDAYS
    open: str = "07:00"
    close: str = "19:00"
    business_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")


@dataclass(frozen=True)
class CallbackSettings:
    """Call backs only when asked for, at most once per customer in `once_within`, within 1.5
    business days (SOPs 001, 004: "don't do this more than once")."""

    within_business_days: float = 1.5
    once_within: Duration = Duration(7 * 86400)  # a second request in this time is offered chat or email instead


@dataclass(frozen=True)
class OfflineSettings:
    reply_within_business_days: float = 1.0
    add_within: Duration = Duration(3600)  # after a ticket, messages this soon add to it; later ones are a new need


@dataclass(frozen=True)
class ConsultSettings:
    """SME consults and the chat timing SOPs (SOP 003)."""

    extra_fields: tuple[str, ...] = ("OJT class", "ASAC", "Order ID(s)")  # on the consult form besides notes
    bot_sends_opening: bool = True  # False: the SME is handed the opening spiel to send themselves
    claim_within: Duration = Duration(120)  # no SME by then: tell the agent to update the customer
    hold_checkin_every: Duration = Duration(120)  # remind the agent to check in on a customer on hold
    idle_prompt_after: Duration = Duration(120)  # silence before "just checking you're with me?"
    idle_warning_after_prompt: Duration = Duration(110)  # after the prompt: warn the other side (1:50)
    idle_end_after: Duration = Duration(240)  # total silence before the chat is ended (4:00)
    customer_idle_platforms: tuple[str, ...] = ("web", "slack")  # customer chats the idle SOP applies to
    typing_counts_as_idle_after: Duration = Duration(120)  # typing this long without a message is idle
    signoff_close_after: Duration = Duration(30)  # a sign-off still the latest message this long after closes the chat (0 = that instant)


@dataclass(frozen=True)
class SmeGroup:
    """Subject-matter experts for some classifications: who they are and where consults go
    (`channels`: platform → the channel its consults are posted to; `<platform>_channel = ` in the
    file)."""

    name: str
    classifications: tuple[str, ...]
    members: tuple[str, ...]  # roster ids
    channels: Mapping[str, str] = field(default_factory=dict)

    def channel(self, platform: str) -> str:
        return self.channels.get(platform, "")


@dataclass(frozen=True)
class KnowledgeSettings:
    folder: str = ""
    threshold: float = 0.4
    max_offers: int = 3
    embeddings: bool = False  # sentence-embedding re-ranking: needs the optional `embeddings` extra
    embeddings_model: str = ""  # "" = the bundled all-MiniLM-L6-v2; else a local folder or a locally cached name
    came_back_days: int = 7  # a new case offered the article that solved the last one within this many days; 0 = off
    learn_every: Duration = Duration(600)  # confirmed-helpful questions join their articles this often; 0 = never
    learn_per_article: int = 20  # the newest this many learnt questions per article are kept

    def __post_init__(self) -> None:
        """Checked here, not in _validate, so the knowledge settings stay one self-contained block."""
        if self.came_back_days < 0:
            raise ConfigError("knowledge.came_back_days: must be 0 (off) or more")
        if self.learn_per_article < 0:
            raise ConfigError("knowledge.learn_per_article: must be 0 (learn nothing) or more")


@dataclass(frozen=True)
class LanguageSettings:
    """Phrases (matched case-insensitively on word boundaries) that signal a customer's intent."""

    manager_phrases: tuple[str, ...] = (
        "speak to a manager", "speak with a manager", "talk to a manager", "talk with a manager",
        "speak to your manager", "talk to your manager", "get me a manager", "want a manager", "need a manager",
        "your manager", "a supervisor", "your supervisor", "the supervisor", "manager please", "team leader",
        "someone in charge", "your boss", "escalate this",
    )
    callback_phrases: tuple[str, ...] = (
        "call me", "phone me", "ring me", "call me back", "phone call", "can i call", "can you call",
        "could you call", "a callback", "callback please", "call back please", "speak on the phone", "talk on the phone", "give me a call", "your phone number",
    )
    # Words that, earlier in the same clause as a call-back phrase, mean the customer is not asking
    # for one: negation ("don't call me"), the past ("I tried your phone number") and reported
    # speech ("my colleague said you'd call me").
    callback_blockers: tuple[str, ...] = (
        "don't", "do not", "dont", "never", "no need", "not", "no", "tried", "called", "rang", "phoned", "said", "says",
        "told", "was told", "asked me", "nobody", "no one", "didn't", "did not", "won't", "wouldn't", "stop",
    )
    solved_phrases: tuple[str, ...] = (
        "that worked", "it worked", "this worked", "that helped", "it helped", "this helped",
        "solved", "fixed it", "that fixed", "all good now", "works now", "yes",
    )
    not_solved_phrases: tuple[str, ...] = (
        "no", "not really", "didn't help", "did not help", "didn't work", "did not work",
        "still need help", "still not", "not solved", "not fixed", "unsolved", "still doesn't", "still does not", "doesn't work",
        "does not work", "not working", "fails", "still fails", "still failing", "still broken",
        "human", "agent", "person",
    )
    skip_phrases: tuple[str, ...] = ("skip", "don't know", "dont know", "not sure", "n/a", "none")
    goodbye_phrases: tuple[str, ...] = (
        "thanks", "thank you", "thank u", "thx", "ty", "cheers", "much appreciated", "appreciate it",
        "bye", "goodbye", "good bye", "bye bye", "have a good day", "have a great day", "have a nice day",
        "take care", "that's all", "that is all", "all sorted", "all set", "that's everything", "talk soon",
        "thankyou", "don't need anything else", "do not need anything else", "no other questions",
        "don't have any other questions", "not right now", "nothing else",
    )
    continuation_phrases: tuple[str, ...] = (
        "but", "however", "still", "not", "n't", "doesn't", "didn't", "isn't", "can't", "won't", "let me",
        "i'll try", "will try", "one more", "another question", "also", "quick question", "wait", "hold on",
        "what about", "how about", "?", "doesnt", "didnt", "isnt", "cant", "wont", "broken", "error", "fail",
        "fails", "failing", "problem", "issue", "is there", "can you", "could you", "how do", "how can",
    )
    sme_bug_phrases: tuple[str, ...] = ("bug ticket", "open a bug", "file a bug", "log a bug", "raise a bug")
    sme_escalation_phrases: tuple[str, ...] = (
        "take this escalation", "escalate to you", "take over", "transfer", "escalate this", "to a supervisor",
        "to your supervisor", "to a team leader", "to the team leader",
    )
    sme_credit_phrases: tuple[str, ...] = (
        "approve a credit", "approve the credit", "credit request", "refund approval", "approve a refund",
        "approve the refund", "approve this refund", "authorise a refund", "authorize a refund",
    )
    sme_coupon_phrases: tuple[str, ...] = ("coupon", "voucher")
    sme_restriction_phrases: tuple[str, ...] = (
        "remove the restriction", "lift the restriction", "remove restriction", "lift restriction", "remove the hold",
        "lift the suspension", "remove the suspension", "appeal",
    )


@dataclass(frozen=True)
class Spiels:
    """Everything the bot says. Placeholders in braces are filled in; unknown ones are refused."""

    # promises no case: a first message's greeting and "I've opened case …" arrive together (one Slack message)
    greeting: str = "Hi! I'm the support assistant. Tell me what you need help with."
    case_opened: str = "I've opened case {case} for this. Please keep the number handy for any follow-up."
    case_opened_linked: str = (
        "I've opened a new case, {case}, for this (your earlier case was {previous}). "
        "Please keep the number handy for any follow-up."
    )
    ask_details: str = "To help you faster, could you tell me:\n{missing}\n(Reply 'skip' for anything you don't have.)"
    detail_account_id: str = "your user ID, class ID or child ID (IDs only, please: no names, birth dates or addresses)"
    detail_browser: str = "the browser you're using (Chrome, Firefox, Safari, Edge...)"
    detail_email: str = "the email address used when the account was created"
    detail_error: str = "the exact error message you see"
    detail_steps: str = "the steps you took to get to the problem"
    offer_articles: str = "These help articles may answer your question:\n{articles}"
    offer_article_line: str = "• {title}: {summary} {url}"
    solved_button: str = "This solved it"
    solved_button_numbered: str = "#{number} solved it"
    still_need_help_button: str = "I still need help"
    article_check: str = "Did the article answer your question?"
    check_yes_button: str = "Yes, it helped"
    check_no_button: str = "No, I still need help"
    self_service_resolved: str = "Great, I'm glad that sorted it. I've marked case {case} resolved."
    queued: str = "I'm connecting you with a support advisor. You're number {position} in the queue; the wait is about {wait}."
    queue_position: str = "You're now number {position} in the queue; the wait is about {wait}."
    queue_still_waiting: str = "Thanks, I've added that to case {case}. You're number {position} in the queue; about {wait} to go."
    agent_joined: str = "{agent} has joined the chat and will help you from here."
    agent_left: str = "{agent} had to step away, so the next available advisor will pick up your chat from here."
    queue_update: str = "You're still number {position} in the queue; the wait is now about {wait}."
    queue_unstaffed: str = (
        "None of our advisors can take a chat right now, so I can't promise when one will be free. You can leave "
        "a message and we'll reply by email by {reply_by}, or keep waiting here."
    )
    leave_message_button: str = "Leave a message"
    keep_waiting_button: str = "Keep waiting"
    keep_waiting: str = "OK, you're still number {position} in the queue. I'll tell you as soon as an advisor is free."
    offline: str = (
        "Our advisors are not available right now, so I've created ticket {ticket} on case {case} with "
        "what you've told me. We'll reply by email by {reply_by}. Anything else you'd like to add? "
        "Just write it here and I'll attach it to the case."
    )
    offline_need_email: str = "What email address should we reply to?"
    offline_added: str = "Thanks, I've added that to case {case}. We'll reply by email by {reply_by}."
    callback_booked: str = (
        "I've requested a call back for case {case}. Calls are returned in the order received, "
        "within {within} business days (by {call_by}). {number_prompt}"
    )
    callback_number_prompt: str = "Please reply with the best phone number to reach you."
    callback_number_thanks: str = "Thanks, we'll call you at {phone}."
    callback_already: str = (
        "A call back is already booked for case {case}. If that time doesn't suit you, you can reach us "
        "here by chat or by email whenever is convenient."
    )
    manager_alerted: str = "I've alerted the manager on duty about case {case}; they'll join as soon as they can."
    manager_later: str = (
        "No manager is online right now, so I've passed your request on with case {case}: a manager will contact you by {reply_by}."
    )
    escalated_tier2: str = (
        "I've escalated case {case} to our Tier II team, who handle issues that need more investigation. "
        "They'll contact you here or by email."
    )
    waiting_on_development: str = (
        "Our team is working with the development team on case {case}. We'll keep you updated until it's resolved."
    )
    development_status: str = "A quick update on case {case}: we're still working on it with our development team. You haven't been forgotten!"
    new_case_refused: str = "Case {case} is still being handled; you can start a new one once it's resolved."
    case_added: str = "Thanks, I've added that to case {case}; the team will see it."
    agent_resolved: str = "{agent} has marked case {case} resolved."
    survey_ask: str = "How would you rate the help you got with case {case}? (1 = poor, 5 = excellent)"
    survey_comment: str = "Thanks! Anything you'd like to tell us about it? (optional)"
    survey_skip_button: str = "No comment"
    survey_thanks: str = "Thank you for your feedback. If you need anything else, just write here and I'll open a new case."
    survey_already: str = "You've already rated case {case}; thank you!"
    stale_button: str = "That button belongs to an earlier step, so I've ignored it."
    help_customer: str = (
        "Just describe what you need and I'll help. Commands: /new starts a new case, /agent asks for a person, "
        "/help shows this."
    )
    help_staff: str = (
        "Commands: /note <text> (#tags), /resolve, /escalate tier2|manager, /devwait, /status available|away, "
        "/case, /hold (send the holding line), /sme <classification> | <notes> (consult an expert), /pause "
        "(pause the consult), /stilllooking, /handover <name> <note>, /reassign <name> <note> (managers), /requeue "
        "[reason], /calledback, /help. Anything else you type goes to the customer."
    )
    sme_opening: str = (
        "Thank you for contacting the SME Support Chat, my name is {name}. Please stay connected while I review your question."
    )
    sme_closing: str = (
        "I am glad I was able to assist you today. Thank you for contacting the SME Support Chat and have a great rest of your day!"
    )
    sme_pause: str = "I just received a live contact and need to disconnect. Thank you."
    holding_line: str = "Thanks for your patience, {name}. I need a moment to look into this for you; please stay with me."
    still_looking: str = (
        "Thanks for waiting, {name}. I'm still looking into this for you. If you'd rather not wait, I can arrange a "
        "call back: just reply 'call me'."
    )
    idle_prompt: str = "Hi {name}, just checking you're with me?"
    idle_warning: str = "{name} has been silent for {waited} since the prompt at {prompt_at}; the chat ends at {end_at} of silence."
    idle_end: str = "I haven't heard from you so I'm going to end this chat."
    idle_end_followup: str = "If you still require assistance, please don't hesitate to contact us again."
    chat_closing: str = "Thank you for contacting us, {name}. Have a great rest of your day!"
    sme_not_bug: str = "SMEs don't open bug tickets: please follow the current bug process."
    sme_not_escalation: str = "SMEs don't take escalations or transfers: use the current process to reach a Team Leader or Supervisor."
    sme_not_credit: str = "SMEs don't process or approve credit requests: please follow the credit policy."
    sme_not_coupon: str = "SMEs don't issue coupons or vouchers."
    sme_not_restriction: str = "SMEs don't remove restrictions or process appeals (selling restrictions, holds, suspensions)."
    staff_consult_new: str = "Consult {consult} on {case} · {classification} · from {agent}: {notes}"
    staff_consult_claimed: str = "{sme} claimed consult {consult} on {case}."
    staff_consult_unclaimed: str = (
        "No SME has claimed consult {consult} after {waited}. Let the customer know you're still looking into it and offer a call back."
    )
    staff_consult_repeat: str = (
        "{case} already had an SME consult on this contact (use SME support once per contact). To open another, "
        "confirm with a reason."
    )
    staff_hold_checkin: str = "The customer on {case} has been on hold for {waited}: please check in with them."
    staff_holding_suggestion: str = "While you wait for the SME, you can send the customer: \"{line}\""
    staff_customer_idle: str = "The customer on {case} has been silent for {waited}; the chat ends at {end_at} of silence."
    too_long: str = "That message is too long ({length} characters; the limit is {limit}). Please shorten it or split it up."
    staff_queue_new: str = "New chat waiting: {case} ({summary})"
    staff_queue_alert: str = "{case} has waited {waited} without an advisor. Please accept it."
    staff_requeued: str = "{case} is back in the queue ({reason}). Please accept it."
    staff_handover: str = "{agent} handed {case} to you: {notes}"
    staff_manager_request: str = "The customer on {case} asked for a manager. {agent_line}"
    staff_manager_escalation: str = "{agent} asked for a manager's help on {case}."
    staff_tier2_new: str = "{case} was escalated to Tier II by {agent}: {summary}"
    staff_tier2_alert: str = "{case} has waited {waited} for Tier II. Please take it."
    staff_callback: str = "Call back requested on {case} (due by {call_by})."
    staff_ticket: str = "Ticket {ticket} opened on {case} (no advisor was available)."


@dataclass(frozen=True)
class AuthSettings:
    """How staff sign in to the console and every staff API (adapters/auth/). Secrets belong in the
    environment (SUPPORTBOT_AUTH__SECRET, SUPPORTBOT_AUTH__OIDC_CLIENT_SECRET), not in the file."""

    session_lifetime: Duration = Duration(12 * 3600)  # a browser session ends this long after sign-in
    secret: str = ""  # signs session cookies; "" = one generated on first run and kept in the store
    allowed_origins: tuple[str, ...] = ()  # pages besides public_url's that may open the staff websocket
    demo_sign_in_links: bool = False  # on a loopback bind only: print a one-time sign-in link per staff member
    demo_link_ttl: Duration = Duration(600)
    failures_per_account: int = 5  # failed sign-ins allowed per account per failure_window...
    failures_per_address: int = 20  # ...and per client address
    failure_window: Duration = Duration(900)
    oidc_issuer: str = ""  # single sign-on: the OpenID Connect issuer URL ("" = off)
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_label: str = "Sign in with single sign-on"


@dataclass(frozen=True)
class LimitSettings:
    """Rate limits (adapters/ratelimit.py), so one client cannot starve the others: requests and
    websocket frames per second, sustained, and how many may come at once (the burst), per client
    address and (messages only) per conversation on the customer API, per staff member on the
    staff side. A rate
    of 0 turns that limit off. The defaults let a whole school behind one NAT address through.
    The client address is the peer's, or, when the peer is one of `trusted_proxies` (addresses or
    networks such as "10.0.0.0/8"), the right-most address in X-Forwarded-For that is not.
    A refusal (429) is answered after `refusal_delay`, so refusals cannot keep the server busy."""

    address_rate: float = 50.0
    address_burst: int = 500
    conversation_rate: float = 1.0
    conversation_burst: int = 20
    staff_rate: float = 20.0
    staff_burst: int = 200
    trusted_proxies: tuple[str, ...] = ()
    refusal_delay: Duration = Duration(1.0)

    def __post_init__(self) -> None:
        """Checked here, not in _validate, so the limits stay one self-contained block."""
        for kind in ("address", "conversation", "staff"):
            rate, burst = getattr(self, f"{kind}_rate"), getattr(self, f"{kind}_burst")
            if rate < 0 or (rate > 0 and burst < 1):
                raise ConfigError(f"limits.{kind}_rate/{kind}_burst: a rate of 0 (off) or more, and a burst of at least 1")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"limits.trusted_proxies: {proxy!r} is not an IP address or network") from None


@dataclass(frozen=True)
class RosterEntry:
    """A staff member. Anyone not on the roster is a customer. `accounts` maps each chat platform
    to the person's user id there (`<platform> = "…"` in the file); `email` is the address single
    sign-on vouches for."""

    id: str
    name: str
    role: Role
    capacity: int = 0
    on_duty: bool = False
    email: str = ""
    accounts: Mapping[str, str] = field(default_factory=dict)

    def account(self, platform: str) -> str:
        """Their user id on `platform` ("" when they do not work there)."""
        return self.accounts.get(platform, "")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    timings: Timings = field(default_factory=Timings)
    cases: CaseSettings = field(default_factory=CaseSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    callback: CallbackSettings = field(default_factory=CallbackSettings)
    offline: OfflineSettings = field(default_factory=OfflineSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    language: LanguageSettings = field(default_factory=LanguageSettings)
    spiels: Spiels = field(default_factory=Spiels)
    auth: AuthSettings = field(default_factory=AuthSettings)
    consult: ConsultSettings = field(default_factory=ConsultSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    sme_groups: tuple[SmeGroup, ...] = ()
    roster: tuple[RosterEntry, ...] = ()
    adapters: Mapping[str, Any] = field(default_factory=dict)  # each adapter's own section (`[slack]`…), by name

    def sme_group_for(self, classification: str) -> SmeGroup | None:
        wanted = classification.strip().lower()
        for group in self.sme_groups:
            if any(c.lower() == wanted for c in group.classifications):
                return group
        return None

    def classifications(self) -> list[str]:
        return [c for group in self.sme_groups for c in group.classifications]

    def staff(self, person_id: str) -> RosterEntry | None:
        for entry in self.roster:
            if entry.id == person_id:
                return entry
        return None

    def staff_by_email(self, email: str) -> RosterEntry | None:
        wanted = email.strip().lower()
        return next((e for e in self.roster if wanted and e.email.lower() == wanted), None)

    def name_of(self, person_id: str | None, *, unknown: str = "") -> str:
        """A staff member's display name, or `unknown` for nobody or someone not on the roster."""
        entry = self.staff(person_id) if person_id else None
        return entry.name if entry else unknown

    def capacity_of(self, entry: RosterEntry) -> int:
        return entry.capacity or self.queue.agent_capacity


INTAKE_FIELDS = ("account_id", "browser", "email", "error", "steps")
_SPIEL_FIELDS = frozenset(
    "case previous missing articles title summary url number position wait agent ticket reply_by within "
    "call_by number_prompt length limit waited agent_line phone name consult classification notes sme line prompt_at end_at "
    "reason".split()
)


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sections: Mapping[str, type] | None = None,
) -> Settings:
    """Reads the TOML file (if any), applies environment overrides, then explicit overrides.

    `overrides` use dotted keys (`"server.port": 8080`), as the command line supplies them.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for name, value in (environ if environ is not None else os.environ).items():
        if not name.startswith("SUPPORTBOT_") or "__" not in name:
            continue
        section, _, key = name.removeprefix("SUPPORTBOT_").lower().partition("__")
        raw.setdefault(section, {})
        if not isinstance(raw[section], dict):
            raise ConfigError(f"{name}: [{section}] is not a section")
        raw[section][key] = _EnvText(value)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value
    return build_settings(raw, sections=sections)


class _EnvText(str):
    """A value from the environment: always text, so it is read as TOML where a setting is not text."""


def _from_env(text: _EnvText) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return str(text)


def build_settings(raw: Mapping[str, Any], *, sections: Mapping[str, type] | None = None) -> Settings:
    """`sections` are the adapters' own (`{"slack": SlackSettings}`): each platform's section is
    built with its class, and its name is the key that gives a roster entry's account or an SME
    group's channel there. The engine's settings never name a platform."""
    platforms = dict(sections or {})
    built: dict[str, Any] = {}
    adapters = {name: cls() for name, cls in platforms.items()}
    hints = get_type_hints(Settings)
    for key, value in raw.items():
        if key == "roster":
            built["roster"] = _build_roster(value, platforms)
            continue
        if key == "sme_groups":
            built["sme_groups"] = _build_sme_groups(value, platforms)
            continue
        if key not in hints and key not in platforms or key == "adapters":
            raise ConfigError(f"unknown section [{key}]")
        if not isinstance(value, Mapping):
            raise ConfigError(f"[{key}] must be a table")
        if key in platforms:
            adapters[key] = _build_section(platforms[key], key, value)
        else:
            built[key] = _build_section(hints[key], key, value)
    settings = Settings(**built, adapters=adapters)
    _validate(settings)
    return settings


def _build_section(cls: Any, section: str, values: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        full = f"{section}.{key}"
        if key not in hints:
            raise ConfigError(f"{full}: unknown key")
        kwargs[key] = _coerce(hints[key], value, full)
    return cls(**kwargs)


def _coerce(kind: Any, value: Any, key: str) -> Any:
    if kind == Mapping[str, str]:  # accounts and channels by platform, checked by _tables
        return dict(value)
    if kind is Duration:
        return Duration.parse(value, key)
    if kind is Role:
        try:
            return Role(value)
        except ValueError:
            allowed = ", ".join(r.value for r in Role if r is not Role.CUSTOMER)
            raise ConfigError(f"{key}: expected one of {allowed}, got {value!r}") from None
    if isinstance(value, _EnvText):
        value = str(value) if kind is str else _from_env(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if kind == tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return tuple(value)
    raise ConfigError(f"{key}: unsupported setting type {kind!r}")  # pragma: no cover - a programming error


def _tables(
    value: Any, name: str, cls: Any, required: tuple[str, ...], per_platform: tuple[str, str], platforms: Mapping[str, type]
) -> list[Any]:
    """An array of tables (`[[roster]]`, `[[sme_groups]]`) as `cls` instances, keys checked like
    sections. `per_platform` is (field, key pattern): a key naming a platform by the pattern
    (`slack`, `slack_channel`) goes into that mapping field (`accounts`, `channels`)."""
    if not isinstance(value, list):
        raise ConfigError(f"{name}: expected [[{name}]] entries")
    field_name, pattern = per_platform
    built = []
    for index, item in enumerate(value):
        key = f"{name}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{key}: expected a table")
        for required_name in required:
            if not isinstance(item.get(required_name), str) or not item[required_name]:
                raise ConfigError(f"{key}.{required_name}: required")
        own = dict(item)
        mapping = dict(own.pop(field_name, None) or {})
        for platform in platforms:
            if pattern.format(platform) in own:
                mapping[platform] = own.pop(pattern.format(platform))
        unknown_platforms = set(mapping) - set(platforms)
        if unknown_platforms or not all(isinstance(v, str) for v in mapping.values()):
            raise ConfigError(f"{key}.{field_name}: expected ids by platform ({', '.join(platforms) or 'none configured'})")
        built.append(_build_section(cls, key, {**own, field_name: mapping}))
    return built


def _build_roster(value: Any, platforms: Mapping[str, type]) -> tuple[RosterEntry, ...]:
    entries: list[RosterEntry] = _tables(value, "roster", RosterEntry, ("id", "name", "role"), ("accounts", "{}"), platforms)
    for index, entry in enumerate(entries):
        if entry.role is Role.CUSTOMER:
            raise ConfigError(f"roster[{index}].role: customers are everyone not on the roster")
    ids = [e.id for e in entries]
    if len(ids) != len(set(ids)):
        raise ConfigError("roster: duplicate id")
    emails = [e.email.lower() for e in entries if e.email]
    if len(emails) != len(set(emails)):
        raise ConfigError("roster: two entries share an email (single sign-on could not tell them apart)")
    return tuple(entries)


def _build_sme_groups(value: Any, platforms: Mapping[str, type]) -> tuple[SmeGroup, ...]:
    return tuple(_tables(value, "sme_groups", SmeGroup, ("name",), ("channels", "{}_channel"), platforms))


def _validate(settings: Settings) -> None:
    for spiel in dataclasses.fields(Spiels):
        text = getattr(settings.spiels, spiel.name)
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as exc:
            raise ConfigError(f"spiels.{spiel.name}: {exc}") from None
        unknown = names - _SPIEL_FIELDS
        if unknown:
            raise ConfigError(f"spiels.{spiel.name}: unknown placeholder {{{sorted(unknown)[0]}}}")
    for group in settings.sme_groups:
        for member in group.members:
            entry = settings.staff(member)
            if entry is None:
                raise ConfigError(f"sme_groups.{group.name}.members: {member!r} is not on the roster")
        if not group.classifications:
            raise ConfigError(f"sme_groups.{group.name}.classifications: at least one")
    for key in ("fields", "carry_over"):
        unknown_fields = set(getattr(settings.intake, key)) - set(INTAKE_FIELDS)
        if unknown_fields:
            detail = sorted(unknown_fields)[0]
            raise ConfigError(f"intake.{key}: unknown detail {detail!r}; choose from {', '.join(INTAKE_FIELDS)}")
    hours = settings.business_hours
    try:
        ZoneInfo(hours.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"business_hours.timezone: unknown time zone {hours.timezone!r}") from None
    for key in ("days", "business_days"):
        bad = set(getattr(hours, key)) - set(_WEEKDAYS)
        if bad:
            raise ConfigError(f"business_hours.{key}: unknown day {sorted(bad)[0]!r}; use {', '.join(_WEEKDAYS)}")
    for key in ("open", "close"):
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", getattr(hours, key)):
            raise ConfigError(f"business_hours.{key}: expected HH:MM, got {getattr(hours, key)!r}")
    if not 0.0 <= settings.knowledge.threshold <= 1.0:
        raise ConfigError("knowledge.threshold: a confidence between 0 and 1")
    if settings.server.max_message_chars < 1:
        raise ConfigError("server.max_message_chars: must be at least 1")
    if settings.server.wal_max_bytes < 1 << 20:
        raise ConfigError("server.wal_max_bytes: must be at least 1048576 (1 MiB)")
    if settings.queue.agent_capacity < 1:
        raise ConfigError("queue.agent_capacity: must be at least 1")
    if not settings.server.store.startswith("sqlite://"):
        raise ConfigError(f"server.store: expected sqlite:///path, got {settings.server.store!r}")
    auth = settings.auth
    if auth.oidc_issuer and not (auth.oidc_client_id and auth.oidc_issuer.startswith(("https://", "http://"))):
        raise ConfigError("auth.oidc_issuer: needs an http(s) URL and auth.oidc_client_id")
    for origin in auth.allowed_origins:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigError(f"auth.allowed_origins: expected an origin like 'https://support.example.com', got {origin!r}")
    if settings.server.public_url and not re.match(r"https?://[^/\s]+", settings.server.public_url):
        raise ConfigError(f"server.public_url: expected a URL like 'https://support.example.com', got {settings.server.public_url!r}")
    for key in ("number_format", "ticket_format"):
        try:
            getattr(settings.cases, key).format(1)
        except (ValueError, IndexError, KeyError) as exc:
            raise ConfigError(f"cases.{key}: {exc}") from None
