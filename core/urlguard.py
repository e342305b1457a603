"""The SSRF guard: which URLs a request from wpublisher may reach, checked where the connection is made.

Every outgoing request to a URL that configuration or content names (a site's `api_url`, and later
features such as fetching images) goes through this module:

- `url_guard_check(url=..., field=...)` refuses a URL that is not http(s) or whose host resolves to a
  refused address, and returns the addresses that passed. With `resolve=False` it looks at address
  literals only (no DNS): what configuration validation uses, so `check_config` stays offline.
- `url_guard_session()` is a `requests.Session` whose every connection is checked: its adapter resolves
  the host itself (getaddrinfo, which also decodes decimal, octal and hex IPv4 forms such as
  `http://2852039166/`), refuses the host when any of its addresses is refused, and connects to exactly
  the addresses it checked. The name is resolved once per connection and the check and the connect use
  the same answer, so a DNS record that changes in between (DNS rebinding) cannot swap in another
  address. TLS still verifies the certificate against the host name (SNI and Host header unchanged).
  Redirects are followed only within the same origin (scheme, host and port), at most
  `MAX_REDIRECTS`; a redirect elsewhere raises URLRefused (reason "redirected elsewhere"). Proxies from
  the environment are not used (`trust_env` is off): through a proxy the guard would check the proxy's
  address instead of the site's.

Refused: link-local (169.254.0.0/16, fe80::/10), cloud metadata (169.254.169.254, fd00:ec2::254,
100.100.100.200), unspecified (0.0.0.0/8, ::), multicast and reserved addresses, also when written as an
IPv4-mapped, 6to4 or NAT64 IPv6 address. Loopback and private addresses are allowed: real WordPress sites
live there (on the same host, or in the same network).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as socket_connection

from core.exceptions import URLRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
MAX_REDIRECTS = 3
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
ALLOWED = "only public, private and loopback addresses are allowed"


def url_guard_address_problem(address: IPAddress) -> str | None:
    """Why a request must not reach `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:  # judged by the IPv4 address it stands for
            problem = url_guard_address_problem(embedded)
            return f"{problem} (written as {address})" if problem else None
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return f"{address} is an unspecified address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_reserved and not address.is_loopback:  # ::1 lies in the reserved ::/8
        return f"{address} is a reserved address"
    return None


def _addresses(host: str, port: int, *, resolve: bool) -> list[IPAddress]:
    """The host's addresses in getaddrinfo's order, without repeats. Raises socket.gaierror."""
    flags = 0 if resolve else socket.AI_NUMERICHOST
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found))


def _addresses_check(host: str, addresses: list[IPAddress], *, field: str) -> None:
    for address in addresses:
        if problem := url_guard_address_problem(address):
            where = "" if host == str(address) else f"{host} resolves to {address}: "
            raise URLRefused(f"{where}{problem}; {ALLOWED}", field=field)


def url_guard_check(*, url: str, field: str = "url", resolve: bool = True) -> tuple[IPAddress, ...]:
    """The addresses `url` may be reached at; URLRefused (naming `field`) when it may not be reached.

    `resolve=False` checks address literals only, without DNS (a name passes, with no addresses): for
    configuration validation. With `resolve=True` a host that does not resolve is refused too."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise URLRefused(f"'{url[:100]}' is not a valid URL", field=field) from None
    if parts.scheme not in SCHEMES or not host:
        raise URLRefused(f"'{url[:100]}' is not an http(s) URL", field=field, reason="not an http(s) URL")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _addresses(host, port, resolve=resolve)
    except (socket.gaierror, UnicodeError, ValueError):
        if not resolve:
            return ()  # a host name: checked when a request resolves it
        raise URLRefused(f"host {host} does not resolve", field=field, reason="host not found") from None
    _addresses_check(host, addresses, field=field)
    return tuple(addresses)


# --- the guarded requests session -------------------------------------------------------------------


class _GuardedConnectionMixin:
    """Resolve, check and connect in one step (urllib3's `_new_conn`, which would resolve again)."""

    _dns_host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    host: str

    def _new_conn(self) -> socket.socket:
        try:
            addresses = _addresses(self._dns_host, self.port, resolve=True)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error  # type: ignore[arg-type]
        _addresses_check(self.host, addresses, field="url")
        last_error: OSError | None = None
        for address in addresses:
            try:
                return socket_connection.create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from error
            except OSError as error:
                last_error = error
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")  # type: ignore[arg-type]


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedHTTPAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections are checked by the guard (see the module's docstring)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    return parts.scheme, (parts.hostname or ""), port


class _GuardedSession(requests.Session):
    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None and _origin(urljoin(resp.url, target)) != _origin(resp.url):
            resp.close()
            raise URLRefused(
                f"{resp.url} redirected to another scheme, host or port; redirects are followed only within "
                f"the same origin (at most {MAX_REDIRECTS})",
                field="url",
                reason="redirected elsewhere",
            )
        return target


def url_guard_session(**adapter_options: Any) -> requests.Session:
    """A requests session that reaches only addresses the guard allows (see the module's docstring).
    `adapter_options` go to the HTTPAdapter (pool sizes, retries)."""
    session = _GuardedSession()
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    adapter = GuardedHTTPAdapter(**adapter_options)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
