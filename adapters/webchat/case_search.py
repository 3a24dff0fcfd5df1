"""Finding cases after the fact: the console's Closed tab and its search box.

`GET /api/agent/search?q=<words>&scope=closed|all&before=<case id>&limit=<n>`: cases newest first
whose number, customer name, problem, transcript or notes hold every word (`#tag` matches a note's
tag), a page at a time (`next_before` asks for the next page). Staff only (the sign-in middleware
runs first); SMEs help on consults and never read customer chats, so they get 403. Tier I sees the
results masked, and may not search by an email or a phone number: the search would tell them whose
case it is, which masking exists to keep from them (SOP 002).
"""

from __future__ import annotations

from aiohttp import web

from adapters.auth.identity import caller_of
from adapters.base import json_error
from adapters.webchat.case_views import case_json
from bot.config import Settings
from bot.domain import CaseState, Role
from bot.pii import TRUSTED_ROLES, redact
from bot.store.base import Store

MAX_QUERY = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
SCOPES = {"closed": (CaseState.RESOLVED, CaseState.CLOSED), "all": None}


class CaseSearch:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/api/agent/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        me = caller_of(request).entry
        if me.role is Role.SME:
            return json_error(403, "SMEs see the consults they were asked for, not customer cases.")
        words = request.query.get("q", "").strip()
        if len(words) > MAX_QUERY:
            return json_error(400, f"'q' is too long ({MAX_QUERY} characters at most).")
        if me.role not in TRUSTED_ROLES and redact(words) != words:
            return json_error(400, "Tier I searches by case number, ID, name or words, not by an email or phone number.")
        scope = request.query.get("scope", "closed")
        if scope not in SCOPES:
            return json_error(400, "'scope' is 'closed' or 'all'.")
        try:
            before = int(request.query["before"]) if "before" in request.query else None
            limit = min(MAX_LIMIT, max(1, int(request.query.get("limit", DEFAULT_LIMIT))))
        except ValueError:
            return json_error(400, "'before' and 'limit' must be whole numbers.")
        # one more than asked: whether there is a next page, without counting every match
        found = await self.store.search_cases(words, states=SCOPES[scope], limit=limit + 1, before_id=before)
        page = found[:limit]
        return web.json_response(
            {
                "cases": [case_json(c, me.role, self.settings) for c in page],
                "next_before": page[-1].id if len(found) > limit else None,
            }
        )
