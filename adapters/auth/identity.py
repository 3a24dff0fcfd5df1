"""Who is asking, on every staff surface: a signed session cookie (browsers) or a personal access
token (`Authorization: Bearer`, scripts), checked by one middleware before any staff handler runs.

The roster stays the source of who is staff and in which role: a credential only says which
roster id it belongs to, and a person taken off the roster is signed out everywhere at once.
Identity never comes from a query parameter or a form field.

Browsers are also held to where a request comes from: a request to a staff route that carries an
`Origin` (every websocket upgrade and form post from a page does) must come from the service's
own pages or a configured origin, and a cookie-authenticated state change must echo the session's
CSRF token. A bearer token is not sent by a browser on its own, so it needs neither.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from aiohttp import web
from itsdangerous import BadSignature, Signer

from adapters.base import json_error
from adapters.ratelimit import RateLimits
from bot.clock import Clock
from bot.config import RosterEntry, Settings
from bot.credentials import digest, new_secret
from bot.store.accounts import AccountStore

log = logging.getLogger(__name__)

SESSION_COOKIE = "sb_session"
STAFF_PAGES = ("/agent", "/dashboard")  # redirect to /login when nobody is signed in
STAFF_APIS = ("/api/agent/", "/metrics")  # 401 when nobody is signed in
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_CREDENTIAL = 200  # characters: longer cookies or tokens are not ours, and are not looked up


@dataclass(frozen=True)
class Caller:
    """A signed-in staff member and how they proved it."""

    entry: RosterEntry
    via: str  # session | token
    key: str  # the session's or the token's stored hash: what `still_valid` looks up again
    expires_at: float | None = None  # sessions only

    @property
    def credential(self) -> str:
        """The token or session itself (not the person): what rate limits count against."""
        return f"{self.via}:{self.key}"


CALLER = web.RequestKey("caller", Caller)


class StaffAuth:
    def __init__(self, settings: Settings, accounts: AccountStore, clock: Clock, limits: RateLimits) -> None:
        self.settings = settings
        self.limits = limits
        self.accounts = accounts
        self.clock = clock
        self._signer: Signer | None = None
        self._csrf_key = b""
        self.flow_key = b""  # signs single sign-on's flow cookie (oidc.py)
        self.secure_cookies = settings.server.public_url.startswith("https://")
        self._ended: list[Callable[[str], Awaitable[None]]] = []

    async def start(self) -> None:
        """Loads (or creates) the signing key: from [auth] secret, else the one kept in the store."""
        configured = self.settings.auth.secret
        key = configured.encode() if configured else await self.accounts.auth_secret(os.urandom(32))
        self._signer = Signer(key, salt="supportbot-session")
        self._csrf_key = hashlib.sha256(b"supportbot-csrf" + key).digest()
        self.flow_key = hashlib.sha256(b"supportbot-sso" + key).digest()

    def on_session_end(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """`listener(session_key)` runs when a session is signed out (the console closes its sockets)."""
        self._ended.append(listener)

    # ----- identifying ----------------------------------------------------------------------------

    async def identify(self, request: web.Request) -> Caller | None:
        """The caller, or None. A request that sends a bearer token is judged by it alone."""
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or len(token) > MAX_CREDENTIAL:
                return None
            found = await self.accounts.token_by_hash(digest(token), now=self.clock.now())
            entry = self.settings.staff(found.staff_id) if found is not None else None
            return Caller(entry, "token", str(found.id)) if entry is not None and found is not None else None
        session_key = self._session_key(request)
        if session_key is None:
            return None
        session = await self.accounts.session(session_key, now=self.clock.now())
        entry = self.settings.staff(session.staff_id) if session is not None else None
        if entry is None or session is None:
            return None
        return Caller(entry, "session", session_key, session.expires_at)

    async def still_valid(self, caller: Caller) -> bool:
        """Whether the credential a long-lived connection was opened with still holds."""
        now = self.clock.now()
        if caller.via == "session":
            session = await self.accounts.session(caller.key, now=now)
            return session is not None and self.settings.staff(session.staff_id) is not None
        tokens = await self.accounts.tokens(caller.entry.id)
        return any(str(t.id) == caller.key and t.revoked_at is None for t in tokens) and self.settings.staff(caller.entry.id) is not None

    def _session_key(self, request: web.Request) -> str | None:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if not cookie or len(cookie) > MAX_CREDENTIAL or self._signer is None:
            return None
        try:
            session_id = self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        return digest(session_id)

    # ----- sessions -------------------------------------------------------------------------------

    async def sign_in(self, response: web.StreamResponse, entry: RosterEntry, *, via: str) -> None:
        """Starts a browser session for `entry` and sets its cookie on `response`."""
        assert self._signer is not None, "start() first"
        session_id = new_secret()
        now = self.clock.now()
        lifetime = float(self.settings.auth.session_lifetime)
        await self.accounts.add_session(digest(session_id), entry.id, via=via, now=now, expires_at=now + lifetime)
        response.set_cookie(
            SESSION_COOKIE, self._signer.sign(session_id).decode(), max_age=int(lifetime), path="/",
            httponly=True, samesite="Lax", secure=self.secure_cookies,
        )
        log.info("staff signed in", extra={"staff": entry.id, "via": via})

    async def sign_out(self, caller: Caller, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/")
        if caller.via != "session":
            return
        await self.accounts.end_session(caller.key)
        log.info("staff signed out", extra={"staff": caller.entry.id})
        for listener in self._ended:
            await listener(caller.key)

    def csrf_token(self, caller: Caller) -> str:
        """What a cookie-authenticated form or state-changing request must send back."""
        return hmac.new(self._csrf_key, caller.key.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, caller: Caller, sent: str) -> bool:
        return caller.via != "session" or hmac.compare_digest(self.csrf_token(caller), sent)

    # ----- where a request comes from ------------------------------------------------------------

    def origin_allowed(self, request: web.Request) -> bool:
        """No Origin (not a browser, or a same-origin GET) passes; otherwise it must be ours."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if origin in self.settings.auth.allowed_origins:
            return True
        public = self.settings.server.public_url
        if public:
            parts = urlsplit(public)
            return origin == f"{parts.scheme}://{parts.netloc}"
        # No public URL configured: the page must come from the host the request was sent to
        # (scheme aside: a TLS proxy in front makes the browser's https our http).
        return urlsplit(origin).netloc == request.host

    # ----- the middleware ------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        path = request.path
        page = any(path == p or path.startswith(p + "/") for p in STAFF_PAGES)
        if not page and not path.startswith(STAFF_APIS):
            return await handler(request)
        if not self.origin_allowed(request):
            log.warning("staff request from a foreign origin refused", extra={"path": path})
            return json_error(403, "This page may not call supportbot's staff API (origin not allowed).")
        caller = await self.identify(request)
        if caller is None:
            if page:
                raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='/')}")
            return json_error(
                401, "Sign in first: a session from /login, or 'Authorization: Bearer <token>' "
                "(supportbot staff token <id>).", headers={"WWW-Authenticate": "Bearer"},
            )
        if request.method not in SAFE_METHODS and not self.csrf_ok(caller, request.headers.get("X-CSRF-Token", "")):
            return json_error(403, "Missing or wrong X-CSRF-Token for this session.")
        await self.limits.staff(caller.credential)  # per token or session: 429 past [limits] staff_rate
        request[CALLER] = caller
        return await handler(request)


def caller_of(request: web.Request) -> Caller:
    """The signed-in caller of a staff route (the middleware has checked there is one)."""
    return request[CALLER]


def local_path(wanted: str, default: str = "/agent") -> str:
    """`wanted` if it is a path on this site, else `default`: a sign-in never redirects away."""
    if wanted.startswith("/") and not wanted.startswith(("//", "/\\")) and wanted.isprintable() and " " not in wanted:
        return wanted
    return default
