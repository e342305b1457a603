"""SSRF and reflection (issue 13): the one guard every request to a site goes through (sites/urlguard.py),
and what agents and reviewers are shown of a site's answer.

Link-local and cloud metadata addresses, in any spelling, are refused before any connection is attempted;
loopback and private ones stay allowed. Redirects are followed only within the site's origin. Agents (a
real in-process MCP client) see a health status and a short reason of our own, never the remote answer;
reviewers (API, console, admin) see the remote detail."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import anyio
import pytest
import yaml
from django.urls import reverse
from mcp import Client

from core.config.schema import config_parse
from core.config.types import ConfigInvalid, SiteConfig
from core.exceptions import URLRefused
from core.urlguard import url_guard_check
from sites.exceptions import WordPressError
from sites.models import HEALTH_WORDS, Site
from sites.services import site_health_check
from sites.wordpress import WordPressClient
from tests.conftest import agent_entry
from tests.factories import UserFactory
from tests.support import remote as support_remote

PREFIX = "/wp-json/wp/v2"
SECRET = "AKIA-INTERNAL-SECRET-7f3e9c"
SCOPES_ALL = ["article:submit", "article:read", "article:revise", "article:review"]
REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",  # 169.254.169.254 as one decimal number
    "http://0251.0376.0251.0376/",  # ... in octal
    "http://169.254.10.20:8080/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://100.100.100.200/",
    "http://0.0.0.0:8081/",
    "http://[::]/",
    "http://224.0.0.251/",
    "http://240.0.0.1/",
]


class Remote(support_remote.Remote):
    """Whatever an api_url points at (see tests/support/remote.py)."""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"


@pytest.fixture
def remotes() -> Iterator[list[Remote]]:
    started: list[Remote] = []
    yield started
    for remote in started:
        remote.close()


def remote(remotes: list[Remote], routes: dict) -> Remote:
    started = Remote(routes)
    remotes.append(started)
    return started


@pytest.fixture
def connects(monkeypatch) -> list[str]:
    """Every address a socket tries to connect to; anything but loopback is refused on the spot (so a
    connection to a metadata address shows up here instead of hanging)."""
    attempts: list[str] = []
    original = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        attempts.append(host)
        if not (host.startswith("127.") or host == "::1"):
            raise ConnectionRefusedError(f"test: no connection to {host}")
        original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    """Host names the tests make up, resolved to the addresses given (in turn, one answer a lookup)."""
    names: dict[str, list[str]] = {}
    original = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        numeric_only = kwargs.get("flags", 0) & socket.AI_NUMERICHOST
        if isinstance(host, str) and host in names and not numeric_only:
            answers = names[host]
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 80), 0, 0) if family == socket.AF_INET6 else (address, int(port or 80))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
        return original(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def client_for(api_url: str) -> WordPressClient:
    site = SiteConfig(id="blog", name="Blog", api_url=api_url, username="publisher", app_password="x" * 24)
    return WordPressClient(site, timeout=3)


# --- the guard ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_link_local_metadata_and_other_unroutable_addresses_are_refused_naming_the_field(url):
    with pytest.raises(URLRefused) as refused:
        url_guard_check(url=url, field="api_url")
    error = refused.value
    assert error.code == "URL_REFUSED" and error.field == "api_url"
    assert error.message.startswith("api_url: ") and "only public, private and loopback addresses" in error.message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:3306/", "http://10.1.2.3/", "http://192.168.0.10:8081/", "http://[::1]/", "https://x.test/"],
)
def test_loopback_and_private_addresses_stay_allowed(url):
    assert url_guard_check(url=url, field="api_url", resolve=False) is not None


def test_only_http_and_https_are_allowed():
    for url in ("file:///etc/passwd", "gopher://127.0.0.1:6379/", "ftp://127.0.0.1/"):
        with pytest.raises(URLRefused, match="is not an http\\(s\\) URL"):
            url_guard_check(url=url, field="api_url")


def test_sites_yml_refuses_such_an_address_with_a_config_error_naming_the_field():
    sites = [
        {
            "id": f"s{n}",
            "name": "S",
            "api_url": f"{base.rstrip('/')}/wp-json/wp/v2",
            "username": "u",
            "app_password": "p",
        }
        for n, base in enumerate(["http://169.254.169.254/", "http://2852039166/", "http://127.0.0.1:8081/"])
    ]
    texts = {
        "agents.yml": yaml.safe_dump({"agents": [agent_entry("a")]}),
        "sites.yml": yaml.safe_dump({"sites": sites}),
    }
    with pytest.raises(ConfigInvalid) as invalid:
        config_parse(texts, environ={})
    problems = [m for m in invalid.value.messages if "api_url" in m]
    assert problems == [
        "sites.yml: sites[0].api_url: URL_REFUSED: 169.254.169.254 is a cloud metadata address; "
        "only public, private and loopback addresses are allowed",
        "sites.yml: sites[1].api_url: URL_REFUSED: 2852039166 resolves to 169.254.169.254: 169.254.169.254 is a "
        "cloud metadata address; only public, private and loopback addresses are allowed",
    ]


@pytest.mark.parametrize("api_url", ["http://169.254.169.254/wp-json/wp/v2", "http://2852039166/wp-json/wp/v2"])
def test_the_client_refuses_metadata_addresses_without_any_connection_attempt(connects, api_url):
    with pytest.raises(WordPressError) as raised:
        client_for(api_url).me()
    assert raised.value.reason == "address refused" and not raised.value.retryable
    assert "169.254.169.254 is a cloud metadata address" in raised.value.message
    assert connects == []


@pytest.mark.django_db
def test_a_site_whose_name_resolves_to_a_metadata_address_is_refused_unconnected(loaded_config, dns, connects):
    dns["metadata.example.test"] = ["169.254.169.254"]
    site = {"id": "blog", "name": "Blog", "username": "publisher", "app_password": "x" * 24}
    loaded_config(
        agents=[agent_entry("a")],
        sites=[{**site, "api_url": f"http://metadata.example.test{PREFIX}"}],
        publishing={"timeout": 3},
    )
    checked = site_health_check(site_id="blog")
    assert (checked.health_status, checked.health_message) == ("error", "address refused")
    assert "resolves to 169.254.169.254" in checked.health_detail
    assert connects == []


def test_the_address_checked_is_the_address_connected_to(remotes, dns, connects):
    """DNS rebinding: a name that answers a loopback address once and the metadata address next."""
    wordpress = remote(remotes, {f"{PREFIX}/users/me": (200, {}, b'{"id": 1, "slug": "publisher"}')})
    dns["rebind.example.test"] = ["127.0.0.1", "169.254.169.254"]
    assert client_for(f"http://rebind.example.test:{wordpress.port}{PREFIX}").me()["id"] == 1
    assert connects == ["127.0.0.1"]


# --- redirects ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_redirect_to_another_host_fails_the_health_check_and_is_not_followed(loaded_config, remotes):
    inside = remote(remotes, {f"{PREFIX}/users/me": (200, {}, json.dumps({"id": 7, "slug": SECRET}).encode())})
    elsewhere = f"http://localhost:{inside.port}{PREFIX}/users/me"  # same port, another host name
    entry = remote(remotes, {f"{PREFIX}/users/me": (302, {"Location": elsewhere}, b"")})
    site = {"id": "blog", "name": "Blog", "api_url": entry.api_url, "username": "publisher", "app_password": "x" * 24}
    loaded_config(agents=[agent_entry("a")], sites=[site], publishing={"timeout": 3})
    checked = site_health_check(site_id="blog")
    assert (checked.health_status, checked.health_message) == ("error", "redirected elsewhere")
    assert inside.requests == []


@pytest.mark.django_db
def test_redirects_within_the_site_are_followed_at_most_three_times(loaded_config, remotes):
    routes = {
        f"{PREFIX}/users/me": (301, {"Location": f"{PREFIX}/users/me/"}, b""),
        f"{PREFIX}/users/me/": (200, {}, b'{"id": 1, "slug": "publisher"}'),
    }
    wordpress = remote(remotes, routes)
    site = {"id": "blog", "name": "B", "api_url": wordpress.api_url, "username": "publisher", "app_password": "x" * 24}
    loaded_config(agents=[agent_entry("a")], sites=[site], publishing={"timeout": 3})
    assert site_health_check(site_id="blog").health_status == "healthy"
    loop = {f"{PREFIX}/users/me": (302, {"Location": f"{PREFIX}/users/me"}, b"")}
    wordpress.routes = loop
    checked = site_health_check(site_id="blog")
    assert (checked.health_status, checked.health_message) == ("error", "redirected too often")
    # The first check's two and its read of the site's time zone (/wp-json/), then the first request and 3
    # redirects (a check that failed reads no time zone).
    assert len(wordpress.requests) == 3 + 4


# --- reflection: what agents and reviewers are shown ---------------------------------------------------


async def _agent_reads() -> dict[str, str]:
    from mcp_bridge.server import build_server

    seen = {}
    async with Client(build_server(with_auth=False)) as client:
        for tool, arguments in (("get_site_health", {"site_id": "blog"}), ("list_sites", {})):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content[0].text
            seen[tool] = json.dumps(result.structured_content)
        for uri in ("site://blog/health", "site://blog", "site://list", "system://events", "audit://logs"):
            seen[uri] = (await client.read_resource(uri)).contents[0].text
    return seen


def agent_reads(agent_id: str) -> dict[str, str]:
    """What an agent reads of the sites, over a real MCP client connected in process."""
    from mcp_bridge.identity import stdio_identity

    stdio_identity.agent_id = agent_id
    try:
        return anyio.run(_agent_reads)
    finally:
        stdio_identity.agent_id = None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, json.dumps({"code": "db_error", "message": f"mysql password {SECRET}"}), "answered HTTP 500"),
        (400, json.dumps({"code": SECRET, "message": "bad"}), "answered HTTP 400"),
        (200, json.dumps({"slug": SECRET, "name": SECRET}), "not a WordPress REST API"),
    ],
)
def test_agents_see_our_reason_and_reviewers_the_remote_detail(
    loaded_config, remotes, client, admin_client, status, body, reason
):
    answer = remote(remotes, {f"{PREFIX}/users/me": (status, {}, body.encode())})
    site = {"id": "blog", "name": "Blog", "api_url": answer.api_url, "username": "publisher", "app_password": "x" * 24}
    loaded_config(agents=[agent_entry("watcher", scopes=SCOPES_ALL)], sites=[site], publishing={"timeout": 3})
    checked = site_health_check(site_id="blog")
    assert checked.health_status in ("error", "warning") and checked.health_message == reason

    seen = agent_reads("watcher")
    for surface, text in seen.items():
        assert SECRET not in text, surface
        assert reason in text, surface  # the health itself, or the audit row of its change
    assert (
        f"site blog is {HEALTH_WORDS[checked.health_status]} (was not checked yet): {reason}" in seen["system://events"]
    )

    client.force_login(UserFactory(is_staff=True))
    assert SECRET in client.get("/api/sites/blog/health").json()["detail"]
    assert SECRET in json.dumps(client.get("/api/sites").json()[0]["health"])
    assert SECRET in client.get(reverse("console:sites")).content.decode()
    assert SECRET in admin_client.get(reverse("admin:sites_site_change", args=["blog"])).content.decode()
    assert Site.objects.get(pk="blog").health_message == reason
