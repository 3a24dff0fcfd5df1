"""Single sign-on with OpenID Connect: the authorization code flow with PKCE, through authlib.

authlib does the protocol: discovery from the issuer's metadata, the authorization URL with its
state, nonce and S256 code challenge, the code exchange (httpx), and the ID token's signature
(the issuer's JWKS), issuer, audience, expiry and nonce. What stays here is what authlib leaves to
a web framework: carrying the flow's state from the redirect to the callback (a signed,
short-lived cookie, as nothing else exists before sign-in) and mapping the verified email to a
roster entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import BaseApp, FrameworkIntegration
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
from authlib.integrations.httpx_client import AsyncOAuth2Client
from itsdangerous import BadData, URLSafeTimedSerializer

from bot.config import AuthSettings

log = logging.getLogger(__name__)

FLOW_COOKIE = "sb_sso"
FLOW_MAX_AGE = 600  # seconds a person may spend at the identity provider


class SignOnFailed(Exception):
    """The provider's answer cannot sign anyone in; the message is safe to show."""


class _Client(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):  # type: ignore[misc]
    client_cls = AsyncOAuth2Client


@dataclass(frozen=True)
class Flow:
    """What the callback needs from the redirect that started it."""

    state: str
    code_verifier: str
    nonce: str
    next: str


class SingleSignOn:
    def __init__(self, settings: AuthSettings, secret: bytes) -> None:
        self.label = settings.oidc_label
        self._client = _Client(
            FrameworkIntegration("oidc"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret or None,
            server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256", "timeout": 10.0},
        )
        self._flows = URLSafeTimedSerializer(secret, salt="supportbot-sso")

    async def begin(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """The provider URL to send the browser to, and the flow cookie's value."""
        try:
            started: dict[str, Any] = await self._client.create_authorization_url(redirect_uri)
        except Exception as exc:  # the provider's metadata could not be read
            log.warning("single sign-on unavailable", extra={"error": type(exc).__name__})
            raise SignOnFailed("Single sign-on is not reachable right now; try again or use your password.") from exc
        flow = {"state": started["state"], "code_verifier": started["code_verifier"], "nonce": started["nonce"], "next": next_path}
        return str(started["url"]), self._flows.dumps(flow)

    def flow(self, cookie: str) -> Flow:
        try:
            data = self._flows.loads(cookie, max_age=FLOW_MAX_AGE)
            return Flow(str(data["state"]), str(data["code_verifier"]), str(data["nonce"]), str(data["next"]))
        except (BadData, KeyError, TypeError) as exc:
            raise SignOnFailed("That sign-in took too long or was started elsewhere; please start again.") from exc

    async def finish(self, redirect_uri: str, flow: Flow, *, code: str, state: str) -> str:
        """The email the provider vouches for, after checking the whole answer."""
        if not code or state != flow.state:
            raise SignOnFailed("The identity provider's answer does not match this sign-in; please start again.")
        try:
            token = await self._client.fetch_access_token(redirect_uri=redirect_uri, code=code, code_verifier=flow.code_verifier)
            claims = await self._client.parse_id_token(token, nonce=flow.nonce)
        except Exception as exc:  # the provider refused or is unreachable, or a token failed a check
            log.warning("single sign-on failed", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
            raise SignOnFailed("The identity provider's answer could not be verified.") from exc
        if claims is None:
            raise SignOnFailed("The identity provider sent no ID token.")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise SignOnFailed("The identity provider did not say which email you signed in with.")
        if claims.get("email_verified") is False:
            raise SignOnFailed("The identity provider has not verified that email address.")
        return email
