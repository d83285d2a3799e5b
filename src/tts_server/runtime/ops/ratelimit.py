"""Per-client-IP rate limits by request class, on the `limits` library (moving windows).

The limits are read from the live Settings on every check, so PUT /config changes them at once. The
client is the connection's peer address; X-Forwarded-For is believed only when the peer is one of
the configured trusted proxies, and then the right-most address that is not a proxy is the client.

Clients in TTS_RATE_LIMIT_EXEMPT (by default this machine's loopback addresses) are not limited, so a person
trying the server on their own machine is never refused. A request that carries a forwarding header from a
peer that is not a trusted proxy is never exempt: it came through a proxy we know nothing of, and its
client could be anyone (a reverse proxy on this host that is not listed in TTS_TRUSTED_PROXIES).

Counters live where TTS_RATE_LIMIT_STORAGE says: in this process (memory://, each replica counts
alone), or in a storage every replica shares (redis://..., through the library's async client, so no
check blocks the event loop). A shared storage that cannot be reached lets requests through, with a
warning: rate limiting is not worth an outage.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter as SharedWindowLimiter
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from tts_server.settings import Settings

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Headers by which a proxy names the client it forwards (lower case, as ASGI gives them).
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
log = logging.getLogger(__name__)


class LimitClass(StrEnum):
    GENERATE = "generate"  # speech generation: HTTP routes and WebSocket generate messages
    UPLOAD = "upload"  # reference / audio prompt uploads and transcriptions
    JOBS = "jobs"  # job queries and commands


@dataclass(frozen=True, slots=True)
class LimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the next request will be allowed again

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._storage = MemoryStorage()
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._shared = _shared_limiter(settings.rate_limit_storage)
        self._failures = 0
        self._items: dict[str, RateLimitItem] = {}
        self._proxies = tuple(_network(proxy) for proxy in settings.trusted_proxy_list)
        self._exempt = tuple(_network(network) for network in settings.rate_limit_exempt_list)

    @property
    def enabled(self) -> bool:
        return self._settings.rate_limit_enabled

    @property
    def scope(self) -> Literal["replica", "all"]:
        """Whose requests the counters count: this replica's, or every replica's (a shared storage)."""
        return "replica" if self._shared is None else "all"

    async def hit(self, limit_class: LimitClass, client: str) -> LimitDecision | None:
        """Count one request of `client`; None when rate limiting is off (or its storage is unreachable)."""
        if not self.enabled:
            return None
        item = self._item(limit_class)
        if self._shared is not None:
            return await self._hit_shared(self._shared, item, limit_class, client)
        allowed = self._strategy.hit(item, limit_class.value, client)
        stats = self._strategy.get_window_stats(item, limit_class.value, client)
        return LimitDecision(allowed, item.amount, max(0, stats.remaining), stats.reset_time)

    async def _hit_shared(
        self, shared: SharedWindowLimiter, item: RateLimitItem, limit_class: LimitClass, client: str
    ) -> LimitDecision | None:
        try:
            allowed = await shared.hit(item, limit_class.value, client)
            stats = await shared.get_window_stats(item, limit_class.value, client)
        except Exception as error:  # the storage is down: let the request through
            self._failures += 1
            if self._failures in (1, 100) or self._failures % 10_000 == 0:
                log.warning("Rate-limit storage unreachable (%d checks let through): %s", self._failures, error)
            return None
        self._failures = 0
        return LimitDecision(allowed, item.amount, max(0, stats.remaining), stats.reset_time)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        if peer is None:
            return "unknown"
        if not forwarded_for or not self._is_proxy(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_proxy(hop):
                return hop
        return hops[0] if hops else peer

    def limited_client(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """The client a request counts against, or None when it is exempt from the limits."""
        client = self.client_address(peer, headers.get("x-forwarded-for"))
        if not self._exempt or not _within(client, self._exempt):
            return client
        forwarded = any(name in headers for name in FORWARDING_HEADERS)
        return client if forwarded and (peer is None or not self._is_proxy(peer)) else None

    def _item(self, limit_class: LimitClass) -> RateLimitItem:
        text: str = getattr(self._settings, f"rate_limit_{limit_class.value}")
        item = self._items.get(text)
        if item is None:
            item = self._items[text] = parse_many(text)[0]
        return item

    def _is_proxy(self, address: str) -> bool:
        return _within(address, self._proxies)


def _within(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack listener is 127.0.0.1
    return any(ip in network for network in networks)


def _shared_limiter(uri: str) -> SharedWindowLimiter | None:
    """The async limiter over a shared storage URI; None for memory:// (this process's own counters)."""
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "memory":
        return None
    if scheme.startswith("redis"):  # the redis client the 'postgres' extra installs, not coredis
        return SharedWindowLimiter(storage_from_string(f"async+{uri}", implementation="redispy"))
    return SharedWindowLimiter(storage_from_string(f"async+{uri}"))


def _network(value: str) -> IpNetwork:
    """A trusted proxy: one address or a network (10.0.0.0/8)."""
    return ipaddress.ip_network(value, strict=False)
