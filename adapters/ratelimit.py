"""Rate limits, so one client cannot starve the others: token buckets per client address and per
conversation on the public customer API and websocket, and per staff identity on the staff side.

A request over a limit is refused with edge.Refused (429, with the seconds until a token is back
as Retry-After); a websocket frame over it gets an error frame with the same hint and the socket
stays open. The refusal is answered after `refusal_delay` (1 s): a client that waits for its
answers (a browser, a script in a loop) then makes about one refused request a second per
connection, and a websocket is not read meanwhile. Answered at once, refusals are what keeps the
server's one core busy: in bench/flood_bench.py a 50-way flood from one address drew 9,000-14,000
refusals a second, 56-79 % of the core (all one core of flooding client could send; a stronger
flooder would take the rest), against 48 a second and 7 % with the delay.

Bucket time comes from the service's injectable clock, so tests move a fake clock instead of
sleeping. Settings: `[limits]` (bot/config.py).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
from collections.abc import Iterable, Sequence

from aiohttp import web

from adapters.edge import Refused
from bot.clock import Clock
from bot.config import LimitSettings

log = logging.getLogger(__name__)

MAX_KEYS = 100_000  # buckets kept at most, whatever the traffic (about 150 bytes each)
REPORT_EVERY = 60.0  # seconds between log lines about refused requests

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TokenBuckets:
    """Token buckets keyed by a string: a key may take `burst` tokens at once and `rate` per
    second after that.

    Memory stays bounded. A bucket untouched for `burst / rate` seconds has refilled, so it is as
    good as new and is forgotten: buckets are kept in the order they were last used and every call
    drops such buckets from the old end (amortised O(1)). `max_keys` caps the table against a flood
    of distinct keys; the least recently used bucket then goes (its key starts afresh)."""

    def __init__(self, rate: float, burst: int, clock: Clock, *, max_keys: int = MAX_KEYS) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._refill = self.burst / rate
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Takes a token for `key`: 0.0 if there was one, else the seconds until there will be
        one (and nothing is taken)."""
        now = self._clock.now()
        bucket = self._buckets.pop(key, None)
        tokens = self.burst if bucket is None else min(self.burst, bucket[0] + max(0.0, now - bucket[1]) * self.rate)
        self._forget(now)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget(self, now: float) -> None:
        refilled = now - self._refill
        while self._buckets:
            key, (_, at) = next(iter(self._buckets.items()))
            if at > refilled and len(self._buckets) < self._max_keys:
                return
            del self._buckets[key]


class RateLimits:
    """The service's limits (`[limits]`): `customer` for each request or frame on the public
    customer API and `conversation` for each message in a conversation, `staff` for each request
    or frame on the staff side; each raises Refused (429) when over its limit."""

    def __init__(self, settings: LimitSettings, clock: Clock) -> None:
        self._clock = clock
        self._delay = float(settings.refusal_delay)
        self._address = _buckets(settings.address_rate, settings.address_burst, clock)
        self._conversation = _buckets(settings.conversation_rate, settings.conversation_burst, clock)
        self._staff = _buckets(settings.staff_rate, settings.staff_burst, clock)
        self._proxies = tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies)
        self._refused: collections.Counter[str] = collections.Counter()
        self._report_at = float("-inf")

    def address(self, request: web.Request) -> str:
        """The client's address (see client_address): the key of `customer`, and of sign-in throttling."""
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", ()), self._proxies)

    async def customer(self, address: str) -> None:
        """One request or websocket frame from a customer's address (see `address`)."""
        await self._take(self._address, address, "address", "from your network address")

    async def conversation(self, conversation_id: str) -> None:
        """One message or button press in a conversation (what makes the bot work; reads count
        against the address only), checked once its token has opened the conversation, so nobody
        can use up another customer's allowance."""
        await self._take(self._conversation, conversation_id, "conversation", "in this conversation")

    async def staff(self, identity: str) -> None:
        """One request or console frame from a staff member, keyed by their credential (a token
        or a session, see adapters/auth/identity.py)."""
        await self._take(self._staff, identity, "staff", "for this staff member")

    async def _take(self, buckets: TokenBuckets | None, key: str, kind: str, whose: str) -> None:
        wait = buckets.take(key) if buckets is not None else 0.0
        if wait > 0.0:
            self._note(kind)
            await asyncio.sleep(self._delay)
            raise Refused(429, f"Too many requests {whose}; please wait a moment and try again.", retry_after=max(0.0, wait - self._delay))

    def _note(self, kind: str) -> None:
        """Refusals are counted and logged at most once a minute: counts by kind since the last
        line, never who was refused (an address is personal data)."""
        self._refused[kind] += 1
        now = self._clock.now()
        if now >= self._report_at:
            log.warning("requests refused by rate limits", extra={"refused": dict(self._refused)})
            self._refused.clear()
            self._report_at = now + REPORT_EVERY


def _buckets(rate: float, burst: int, clock: Clock) -> TokenBuckets | None:
    return TokenBuckets(rate, burst, clock) if rate > 0 else None


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """Who the client is, as a limit key. The peer's address, unless the peer is a trusted proxy:
    then the right-most X-Forwarded-For address that is not itself a trusted proxy (a proxy
    appends the address it saw; anything to the left of that the client may have written). IPv6
    clients are keyed by their /64, which one subscriber usually holds whole."""
    address = _parse(peer or "")
    if address is None:
        return peer or "unknown"
    if trusted and _within(address, trusted):
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        for hop in reversed(hops):
            parsed = _parse(hop)
            if parsed is None:
                break  # not an address a proxy would write: stop at the last trusted hop
            address = parsed
            if not _within(parsed, trusted):
                break
    return _key(address)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a peer or a proxy gives it, with a port after it or not ("[::1]:443", "10.0.0.1:80")."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def _key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
