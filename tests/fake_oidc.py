"""A small OpenID Connect provider on 127.0.0.1, written for supportbot's single sign-on tests.

It does what a real provider does on the authorization code flow with PKCE: discovery, an
authorization page (a form to pick who signs in, or an immediate redirect when `login_as` is set),
the code exchange with client authentication and the S256 check of the code verifier, and ID
tokens signed with an RSA key it generated, published as a JWKS. Faults are switched on per test:
claims to override in the next ID tokens, or a key nobody published to sign them with.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "supportbot-test"
CLIENT_SECRET = "test-client-secret"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    email: str


@dataclass
class FakeOidc:
    host: str = "127.0.0.1"
    login_as: str = ""  # set: /authorize redirects at once as this email; else it shows a form
    email_verified: bool | None = True
    claims_override: dict[str, Any] = field(default_factory=dict)
    sign_with_unknown_key: bool = False
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self._grants: dict[str, Grant] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._metadata)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/authorize", self._authorize_form)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeOidc:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _metadata(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    def _checked(self, query: Any) -> web.Response | None:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return web.Response(status=400, text="unknown client or response type")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return web.Response(status=400, text="PKCE (S256) is required")
        if "openid" not in str(query.get("scope", "")).split():
            return web.Response(status=400, text="not an OpenID request")
        return None

    async def _authorize(self, request: web.Request) -> web.Response:
        refused = self._checked(request.query)
        if refused is not None:
            return refused
        if self.login_as:
            return self._redirect(dict(request.query), self.login_as)
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v, quote=True)}">' for k, v in request.query.items())
        page = (f'<!doctype html><title>Test identity provider</title><form method="post" action="/authorize">{hidden}'
                '<label>Email <input name="email" id="email"></label><button id="continue">Continue</button></form>')
        return web.Response(text=page, content_type="text/html")

    async def _authorize_form(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        refused = self._checked(form)
        return refused or self._redirect(form, form.get("email", ""))

    def _redirect(self, query: dict[str, str], email: str) -> web.Response:
        code = secrets.token_urlsafe(16)
        self._grants[code] = Grant(query["client_id"], query["redirect_uri"], query["code_challenge"], query.get("nonce", ""), email)
        target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        raise web.HTTPFound(target)

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != grant.redirect_uri:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.code_challenge:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE verification failed"}, status=400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:16], "aud": CLIENT_ID,
            "iat": now, "exp": now + 300, "nonce": grant.nonce, "email": grant.email,
        }
        if self.email_verified is not None:
            claims["email_verified"] = self.email_verified
        claims.update(self.claims_override)
        key = self.key
        if self.sign_with_unknown_key:
            key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)
        return web.json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300, "id_token": id_token})
