"""Who is asking: staff sign in (password, token, single sign-on, one-time link) and every staff
surface checks it; `?staff=` grants nothing; throttles, expiry, sign-out, Origin and CSRF."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient

from adapters.auth.pages import SIGN_IN_LINKS
from adapters.server import RUNTIME, create_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.credentials import hash_password
from bot.store.sqlite import SQLiteStore
from tests.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.harness import DEFAULT_ARTICLES, ROSTER, KeywordFinder, desk_settings
from tests.staff import bearer, link_path

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
PASSWORD = "correct horse battery staple"
STAFF_GETS = ("/api/agent/roster", "/api/agent/me", "/api/agent/cases/1", "/api/agent/articles?q=refund", "/metrics")


def app_for(tmp_path: Path, settings: Settings | None = None, clock: FakeClock | None = None) -> web.Application:
    return create_app(settings or desk_settings(), clock=clock or FakeClock(), store=SQLiteStore(tmp_path / "auth.db"),
                      articles=KeywordFinder(dict(DEFAULT_ARTICLES)), background=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(tmp_path: Path, clock: FakeClock, aiohttp_client: AiohttpClient) -> AsyncIterator[TestClient[Any, Any]]:
    client = await aiohttp_client(app_for(tmp_path, clock=clock))
    await client.app[RUNTIME].store.accounts.set_password("ana", hash_password(PASSWORD), now=clock.now())
    yield client


async def sign_in(client: TestClient[Any, Any], name: str, password: str, *, next_path: str = "/agent") -> aiohttp.ClientResponse:
    """Fills in /login as a browser would: the form's CSRF value comes from the page and its cookie."""
    page = await (await client.get("/login", params={"next": next_path})).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    return await client.post("/login", data={"name": name, "password": password, "csrf": csrf.group(1), "next": next_path},
                             allow_redirects=False)


async def test_nobody_signed_in_gets_401_and_pages_redirect_to_login(client: TestClient[Any, Any]) -> None:
    for path in STAFF_GETS:
        answer = await client.get(path)
        assert answer.status == 401, path
        assert "Sign in first" in (await answer.json())["error"]
    page = await client.get("/agent", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/login?next=/agent"
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/agent/ws")
    assert refused.value.status == 401
    # customers' pages and the health check stay open
    assert (await client.get("/")).status == 200 and (await client.get("/healthz")).status == 200


async def test_the_old_staff_query_parameter_grants_nothing(client: TestClient[Any, Any]) -> None:
    for path in STAFF_GETS:
        separator = "&" if "?" in path else "?"
        assert (await client.get(f"{path}{separator}staff=maya")).status == 401, path
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/agent/ws", params={"staff": "maya"})
    assert refused.value.status == 401


async def test_a_personal_access_token_signs_a_script_in_until_revoked(client: TestClient[Any, Any], clock: FakeClock) -> None:
    store = client.app[RUNTIME].store
    header = await bearer(store, "tara")
    me = await (await client.get("/api/agent/me", headers=header)).json()
    assert (me["id"], me["role"], me["via"]) == ("tara", "tier2", "token")
    async with client.ws_connect("/api/agent/ws", headers=header) as socket:
        assert (await socket.receive_json(timeout=5))["me"]["id"] == "tara"

    (token,) = await store.accounts.tokens("tara")
    assert token.last_used_at == clock.now()
    assert await store.accounts.revoke_token(token.id, now=clock.now())
    assert (await client.get("/api/agent/me", headers=header)).status == 401
    for bad in ("Bearer", "Bearer nope", "Basic YW5hOmFuYQ==", "Bearer " + "x" * 5000):
        assert (await client.get("/api/agent/me", headers={"Authorization": bad})).status == 401, bad


async def test_a_token_of_someone_taken_off_the_roster_signs_nobody_in(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(app_for(tmp_path))
    header = await bearer(client.app[RUNTIME].store, "former-agent")
    assert (await client.get("/api/agent/me", headers=header)).status == 401


async def test_password_sign_in_sets_a_safe_session_cookie_and_signs_out(client: TestClient[Any, Any]) -> None:
    answer = await sign_in(client, "ana", PASSWORD)
    assert answer.status == 303 and answer.headers["Location"] == "/agent"
    cookie = answer.headers["Set-Cookie"]
    assert "sb_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    me = await (await client.get("/api/agent/me")).json()
    assert (me["id"], me["name"], me["via"]) == ("ana", "Ana", "session")
    assert (await client.get("/agent")).status == 200
    async with client.ws_connect("/api/agent/ws") as socket:
        assert (await socket.receive_json(timeout=5))["me"]["id"] == "ana"
        refused = await client.post("/logout", data={"csrf": "wrong"}, allow_redirects=False)
        assert refused.status == 403 and (await client.get("/api/agent/me")).status == 200
        out = await client.post("/logout", data={"csrf": me["csrf"]}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"] == "/login"
        closed = await socket.receive(timeout=5)
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4401  # the console goes to /login
    assert (await client.get("/api/agent/me")).status == 401


async def test_email_signs_in_too_and_a_wrong_password_says_so(tmp_path: Path, clock: FakeClock, aiohttp_client: AiohttpClient) -> None:
    roster = [{**e, "email": "Ana@School.org"} if e["id"] == "ana" else e for e in ROSTER]
    client = await aiohttp_client(app_for(tmp_path, desk_settings(roster=roster), clock))
    await client.app[RUNTIME].store.accounts.set_password("ana", hash_password(PASSWORD), now=clock.now())
    wrong = await sign_in(client, "ana@school.org", "not the password")
    assert wrong.status == 401 and "Wrong name or password." in await wrong.text()
    assert (await sign_in(client, "ana@school.org", PASSWORD)).status == 303
    assert (await (await client.get("/api/agent/me")).json())["id"] == "ana"


async def test_the_sign_in_form_refuses_a_post_without_its_csrf_value_or_from_another_site(client: TestClient[Any, Any]) -> None:
    forged = await client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf": "guess"}, allow_redirects=False)
    assert forged.status == 403
    page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    elsewhere = await client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf": csrf.group(1)},
                                  headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert elsewhere.status == 403
    assert (await client.get("/api/agent/me")).status == 401


async def test_sign_in_redirects_only_within_the_site(client: TestClient[Any, Any]) -> None:
    for wanted, landing in (("/agent?tab=1", "/agent?tab=1"), ("https://evil.example/", "/agent"), ("//evil.example", "/agent"), ("/\\evil", "/agent")):
        await client.post("/logout")  # no session: harmless
        client.session.cookie_jar.clear()
        answer = await sign_in(client, "ana", PASSWORD, next_path=wanted)
        assert answer.headers["Location"] == landing, wanted


async def test_failed_sign_ins_are_throttled_per_account_then_allowed_again(client: TestClient[Any, Any], clock: FakeClock) -> None:
    for _ in range(5):
        assert (await sign_in(client, "ana", "guess")).status == 401
    held = await sign_in(client, "ana", PASSWORD)  # even the right password waits: no oracle for the guesser
    assert held.status == 429 and int(held.headers["Retry-After"]) > 0
    assert (await client.get("/api/agent/me")).status == 401
    clock.advance(15 * 60 + 1)
    assert (await sign_in(client, "ana", PASSWORD)).status == 303


async def test_failed_sign_ins_are_throttled_per_address_across_accounts(client: TestClient[Any, Any], clock: FakeClock) -> None:
    for number in range(20):
        assert (await sign_in(client, f"user{number}", "guess")).status == 401
    assert (await sign_in(client, "ana", PASSWORD)).status == 429


async def test_sign_in_attempts_are_logged_without_secrets(client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    await sign_in(client, "ana", "guess-one-two")
    await sign_in(client, "ana", PASSWORD)
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "sign-in failed" in text and "staff signed in" in text
    assert "guess-one-two" not in text and PASSWORD not in text and "sb_session" not in text


async def test_a_session_ends_after_its_lifetime(client: TestClient[Any, Any], clock: FakeClock) -> None:
    assert (await sign_in(client, "ana", PASSWORD)).status == 303
    clock.advance(12 * 3600 - 60)
    assert (await client.get("/api/agent/me")).status == 200
    clock.advance(120)
    assert (await client.get("/api/agent/me")).status == 401
    assert (await client.get("/agent", allow_redirects=False)).status == 302


async def test_a_forged_or_tampered_session_cookie_signs_nobody_in(client: TestClient[Any, Any]) -> None:
    assert (await sign_in(client, "ana", PASSWORD)).status == 303
    real = next(c for c in client.session.cookie_jar if c.key == "sb_session").value
    for forged in (real[:-2] + "xx", "anything", "a.b", real + "." + real, "\u00e9" * 10):
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({"sb_session": forged})
        assert (await client.get("/api/agent/me")).status == 401, forged


async def test_setting_a_password_signs_out_that_persons_sessions(client: TestClient[Any, Any], clock: FakeClock) -> None:
    assert (await sign_in(client, "ana", PASSWORD)).status == 303
    await client.app[RUNTIME].store.accounts.set_password("ana", hash_password("another long password"), now=clock.now())
    assert (await client.get("/api/agent/me")).status == 401


async def test_a_session_cookie_is_secure_behind_an_https_public_url(tmp_path: Path, clock: FakeClock, aiohttp_client: AiohttpClient) -> None:
    settings = desk_settings(server={"public_url": "https://support.example.com"})
    client = await aiohttp_client(app_for(tmp_path, settings, clock))
    await client.app[RUNTIME].store.accounts.set_password("ana", hash_password(PASSWORD), now=clock.now())
    page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    # a Secure cookie is not sent back over plain http, so read the Set-Cookie header itself
    answer = await client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf": csrf.group(1)},
                               headers={"Cookie": f"sb_login={csrf.group(1)}", "Origin": "https://support.example.com"}, allow_redirects=False)
    assert answer.status == 303 and "Secure" in answer.headers["Set-Cookie"]


async def test_a_one_time_link_signs_in_once_and_only_while_fresh(client: TestClient[Any, Any], clock: FakeClock) -> None:
    store = client.app[RUNTIME].store
    path = await link_path(store, "maya", now=clock.now())
    first = await client.get(path, allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == "/agent"
    assert (await (await client.get("/api/agent/me")).json())["via"] == "session"
    client.session.cookie_jar.clear()
    again = await client.get(path, allow_redirects=False)
    assert again.status == 400 and "expired or was already used" in await again.text()
    stale = await link_path(store, "maya", now=clock.now())
    clock.advance(601)
    assert (await client.get(stale, allow_redirects=False)).status == 400
    assert (await client.get("/login/link?token=", allow_redirects=False)).status == 400


async def test_the_staff_websocket_refuses_pages_from_other_origins(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    settings = desk_settings(auth={"allowed_origins": ["https://intranet.example.org"]})
    client = await aiohttp_client(app_for(tmp_path, settings))
    header = await bearer(client.app[RUNTIME].store, "ana")
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/agent/ws", headers={**header, "Origin": "https://evil.example"})
    assert refused.value.status == 403
    for origin in (f"http://{client.host}:{client.port}", "https://intranet.example.org"):
        async with client.ws_connect("/api/agent/ws", headers={**header, "Origin": origin}) as socket:
            assert (await socket.receive_json(timeout=5))["type"] == "state"


async def test_roles_that_may_not_see_a_case_get_403(client: TestClient[Any, Any]) -> None:
    opened = await (await client.post("/api/conversations", json={})).json()
    said = await client.post(f"/api/conversations/{opened['id']}/messages", json={"text": "My export fails"},
                             headers={"Authorization": f"Bearer {opened['token']}"})
    assert said.status == 202
    store = client.app[RUNTIME].store
    sme = await client.get("/api/agent/cases/1", headers=await bearer(store, "sam"))
    assert sme.status == 403  # SMEs see consults they were asked for, not customer chats
    assert (await client.get("/api/agent/cases/1", headers=await bearer(store, "ana"))).status == 200


async def test_demo_sign_in_links_only_on_a_loopback_bind(tmp_path: Path) -> None:
    for host, expected in (("127.0.0.1", len(ROSTER)), ("0.0.0.0", 0)):
        settings = desk_settings(server={"host": host}, auth={"demo_sign_in_links": True})
        app = app_for(tmp_path / host, settings)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            links = app[SIGN_IN_LINKS]
            assert len(links) == expected, host
            assert all(url.startswith("http://127.0.0.1:3978/login/link?token=") for _, url in links)
        finally:
            await runner.cleanup()


# ----- single sign-on against a local OpenID Connect provider --------------------------------------


@pytest.fixture
async def provider() -> AsyncIterator[FakeOidc]:
    async with FakeOidc() as running:
        yield running


def sso_settings(provider: FakeOidc) -> Settings:
    roster = [{**e, "email": f"{e['id']}@school.org"} for e in ROSTER]
    return desk_settings(roster=roster, auth={"oidc_issuer": provider.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET})


async def sso(client: TestClient[Any, Any]) -> aiohttp.ClientResponse:
    """The browser's part of the code flow: to the provider and back to the callback."""
    start = await client.get("/login/sso", params={"next": "/agent"}, allow_redirects=False)
    assert start.status == 302
    async with aiohttp.ClientSession() as browser:
        at_provider = await browser.get(start.headers["Location"], allow_redirects=False)
        assert at_provider.status == 302, await at_provider.text()
        back = urlsplit(at_provider.headers["Location"])
    return await client.get(f"{back.path}?{back.query}", allow_redirects=False)


async def test_single_sign_on_maps_the_verified_email_to_the_roster(provider: FakeOidc, tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(app_for(tmp_path, sso_settings(provider)))
    assert "Sign in with single sign-on" in await (await client.get("/login")).text()
    start = await client.get("/login/sso", allow_redirects=False)
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID] and query["nonce"][0]

    provider.login_as = "Maya@School.org"
    done = await sso(client)
    assert done.status == 303 and done.headers["Location"] == "/agent"
    me = await (await client.get("/api/agent/me")).json()
    assert (me["id"], me["role"]) == ("maya", "manager")
    assert provider.token_requests[-1]["code_verifier"]  # PKCE: the verifier went with the code


@pytest.mark.parametrize(
    "fault, status",
    [
        ({"claims_override": {"iss": "https://other.example"}}, 401),
        ({"claims_override": {"aud": "someone-else"}}, 401),
        ({"claims_override": {"exp": 1_000_000_000}}, 401),
        ({"claims_override": {"nonce": "replayed"}}, 401),
        ({"sign_with_unknown_key": True}, 401),
        ({"email_verified": False}, 401),
        ({"login_as": "stranger@elsewhere.org"}, 403),
    ],
)
async def test_single_sign_on_refuses_answers_that_do_not_check_out(
    provider: FakeOidc, tmp_path: Path, aiohttp_client: AiohttpClient, fault: dict[str, Any], status: int
) -> None:
    client = await aiohttp_client(app_for(tmp_path, sso_settings(provider)))
    provider.login_as = "ana@school.org"
    for name, value in fault.items():
        setattr(provider, name, value)
    answer = await sso(client)
    assert answer.status == status
    assert (await client.get("/api/agent/me")).status == 401


async def test_single_sign_on_callback_without_its_flow_cookie_or_state_is_refused(
    provider: FakeOidc, tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(app_for(tmp_path, sso_settings(provider)))
    assert (await client.get("/login/sso/callback?code=abc&state=xyz", allow_redirects=False)).status == 401
    await client.get("/login/sso", allow_redirects=False)
    assert (await client.get("/login/sso/callback?code=abc&state=not-the-state", allow_redirects=False)).status == 401
    assert (await client.get("/api/agent/me")).status == 401


async def test_without_single_sign_on_configured_its_routes_are_404(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/login/sso")).status == 404
    assert "single sign-on" not in await (await client.get("/login")).text()
