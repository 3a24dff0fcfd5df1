"""The sign-in pages: /login (password, single sign-on), /logout, one-time links, /api/agent/me.

Every form here is a POST that changes state, so each carries a CSRF token: before sign-in a
random value also set as a cookie (double submit), after it the session's own token. Failed
passwords are throttled per account and per address (throttle.py) and logged without secrets.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import secrets
from collections.abc import Mapping

from aiohttp import web

from adapters.auth.identity import StaffAuth, caller_of, local_path
from adapters.auth.oidc import FLOW_COOKIE, FLOW_MAX_AGE, SignOnFailed, SingleSignOn
from adapters.auth.throttle import FailureThrottle
from bot.config import RosterEntry, Settings
from bot.credentials import digest, issue_sign_in_link, password_matches

log = logging.getLogger(__name__)

SIGN_IN_LINKS = web.AppKey("sign_in_links", list[tuple[RosterEntry, str]])  # printed by `supportbot serve`
LOGIN_COOKIE = "sb_login"  # the pre-sign-in CSRF value, echoed by the form
MAX_FIELD = 200


def redirect(location: str, status: int = 303) -> web.Response:
    """A redirect to return (aiohttp deprecates returning its HTTPException responses)."""
    return web.Response(status=status, headers={"Location": location})


def is_loopback(host: str) -> bool:
    """Whether a bind address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SignInPages:
    def __init__(self, settings: Settings, auth: StaffAuth) -> None:
        self.settings = settings
        self.auth = auth
        limits = settings.auth
        self.per_account = FailureThrottle(limit=limits.failures_per_account, window=float(limits.failure_window), clock=auth.clock)
        self.per_address = FailureThrottle(limit=limits.failures_per_address, window=float(limits.failure_window), clock=auth.clock)
        self.sso: SingleSignOn | None = None

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/login", self.form)
        app.router.add_post("/login", self.password)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/login/link", self.link)
        app.router.add_get("/login/sso", self.sso_start)
        app.router.add_get("/login/sso/callback", self.sso_callback)
        app.router.add_get("/api/agent/me", self.me)
        app[SIGN_IN_LINKS] = []
        app.on_startup.append(self._start)

    async def _start(self, app: web.Application) -> None:
        await self.auth.start()
        auth, server = self.settings.auth, self.settings.server
        if auth.oidc_issuer:
            self.sso = SingleSignOn(auth, self.auth.flow_key)
        if auth.demo_sign_in_links and is_loopback(server.host):
            base = f"http://{server.host}:{server.port}"
            for entry in self.settings.roster:
                secret = await issue_sign_in_link(self.auth.accounts, entry.id, now=self.auth.clock.now(), ttl=float(auth.demo_link_ttl))
                app[SIGN_IN_LINKS].append((entry, f"{base}/login/link?token={secret}"))

    # ----- password -------------------------------------------------------------------------------

    async def form(self, request: web.Request) -> web.Response:
        wanted = local_path(request.query.get("next", ""))
        if await self.auth.identify(request) is not None:
            return redirect(wanted)
        return self._page(wanted)

    async def password(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str) and len(v) <= MAX_FIELD}
        wanted = local_path(fields.get("next", ""))
        sent = fields.get("csrf", "")
        if not self.auth.origin_allowed(request) or not sent or not secrets.compare_digest(sent, request.cookies.get(LOGIN_COOKIE, "")):
            return self._page(wanted, "This form has expired; please sign in again.", status=403)
        name, password = fields.get("name", "").strip(), fields.get("password", "")
        account, address = "account:" + name.lower(), "address:" + self.auth.limits.address(request)
        wait = max(self.per_account.retry_after(account), self.per_address.retry_after(address))
        if wait > 0:
            log.warning("sign-in throttled", extra={"address": self.auth.limits.address(request)})
            return self._page(wanted, f"Too many failed sign-ins; try again in {int(wait // 60) + 1} minutes.", status=429,
                              headers={"Retry-After": str(int(wait))})
        entry = self.settings.staff(name) or self.settings.staff_by_email(name)
        stored = await self.auth.accounts.password_hash(entry.id) if entry is not None else None
        if not name or not password or not await asyncio.to_thread(password_matches, stored, password) or entry is None:
            self.per_account.failed(account)
            self.per_address.failed(address)
            log.warning("sign-in failed", extra={"staff": entry.id if entry else None, "address": self.auth.limits.address(request)})
            return self._page(wanted, "Wrong name or password.", status=401, name=name)
        self.per_account.succeeded(account)
        return await self._signed_in(entry, "password", wanted)

    async def logout(self, request: web.Request) -> web.Response:
        caller = await self.auth.identify(request)
        form = await request.post()
        sent = form.get("csrf")
        if caller is None:
            return redirect("/login")
        if not self.auth.origin_allowed(request) or not isinstance(sent, str) or not self.auth.csrf_ok(caller, sent):
            return web.json_response({"error": "Missing or wrong CSRF token."}, status=403)
        response = redirect("/login")
        await self.auth.sign_out(caller, response)
        return response

    # ----- one-time links --------------------------------------------------------------------------

    async def link(self, request: web.Request) -> web.Response:
        secret = request.query.get("token", "")
        staff_id = await self.auth.accounts.use_sign_in_link(digest(secret), now=self.auth.clock.now()) if 0 < len(secret) <= MAX_FIELD else None
        entry = self.settings.staff(staff_id) if staff_id else None
        if entry is None:
            return self._page("/agent", "That sign-in link has expired or was already used.", status=400)
        return await self._signed_in(entry, "link", "/agent")

    # ----- single sign-on ---------------------------------------------------------------------------

    async def sso_start(self, request: web.Request) -> web.Response:
        if self.sso is None:
            raise web.HTTPNotFound(text="Single sign-on is not configured.")
        try:
            url, flow = await self.sso.begin(self._callback_url(request), local_path(request.query.get("next", "")))
        except SignOnFailed as exc:
            return self._page("/agent", str(exc), status=502)
        response = redirect(url, 302)
        response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_MAX_AGE, path="/login/sso", httponly=True, samesite="Lax",
                            secure=self.auth.secure_cookies)
        return response

    async def sso_callback(self, request: web.Request) -> web.Response:
        if self.sso is None:
            raise web.HTTPNotFound(text="Single sign-on is not configured.")
        try:
            if "error" in request.query:
                raise SignOnFailed("The identity provider did not sign you in.")
            flow = self.sso.flow(request.cookies.get(FLOW_COOKIE, ""))
            email = await self.sso.finish(self._callback_url(request), flow, code=request.query.get("code", ""),
                                          state=request.query.get("state", ""))
        except SignOnFailed as exc:
            return self._page("/agent", str(exc), status=401)
        entry = self.settings.staff_by_email(email)
        if entry is None:
            log.warning("single sign-on for someone not on the roster", extra={"address": self.auth.limits.address(request)})
            return self._page("/agent", "You signed in, but that email is not on supportbot's staff roster.", status=403)
        response = await self._signed_in(entry, "sso", flow.next)
        response.del_cookie(FLOW_COOKIE, path="/login/sso")
        return response

    def _callback_url(self, request: web.Request) -> str:
        base = self.settings.server.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
        return f"{base}/login/sso/callback"

    # ----- who am I ------------------------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.Response:
        caller = caller_of(request)
        entry = caller.entry
        return web.json_response(
            {"id": entry.id, "name": entry.name, "role": entry.role.value, "via": caller.via,
             "expires_at": caller.expires_at, "csrf": self.auth.csrf_token(caller)}
        )

    # ----- rendering -------------------------------------------------------------------------------------

    async def _signed_in(self, entry: RosterEntry, via: str, wanted: str) -> web.Response:
        response = redirect(wanted)
        await self.auth.sign_in(response, entry, via=via)
        response.del_cookie(LOGIN_COOKIE, path="/login")
        return response

    def _page(self, wanted: str, error: str = "", *, status: int = 200, name: str = "",
              headers: Mapping[str, str] | None = None) -> web.Response:
        csrf = secrets.token_urlsafe(24)
        sso = ""
        if self.sso is not None:
            sso = (f'<p><a class="button" href="/login/sso?next={html.escape(wanted, quote=True)}">'
                   f"{html.escape(self.sso.label)}</a></p><p class=\"status\">or with your password:</p>")
        body = LOGIN_PAGE.format(
            error=html.escape(error), sso=sso, csrf=csrf, next=html.escape(wanted, quote=True), name=html.escape(name, quote=True)
        )
        response = web.Response(text=body, content_type="text/html", status=status, headers=headers)
        response.set_cookie(LOGIN_COOKIE, csrf, max_age=3600, path="/login", httponly=True, samesite="Lax", secure=self.auth.secure_cookies)
        response.headers["Cache-Control"] = "no-store"
        return response


LOGIN_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sign in · supportbot</title>
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header><h1>supportbot · staff sign-in</h1></header>
  <main class="signin">
    <div class="error" id="error" role="alert">{error}</div>
    {sso}
    <form method="post" action="/login">
      <input type="hidden" name="csrf" value="{csrf}">
      <input type="hidden" name="next" value="{next}">
      <label>Staff id or email <input name="name" id="name" autocomplete="username" required value="{name}"></label>
      <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
      <button class="primary" type="submit" id="sign-in">Sign in</button>
    </form>
  </main>
</body>
</html>
"""
