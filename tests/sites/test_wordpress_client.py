"""The WordPress client against a fake WordPress: error messages, retryability, terms, time budget."""

from __future__ import annotations

import socket

import pytest

from core.config.types import SiteConfig
from core.version import __version__
from sites.exceptions import WordPressError
from sites.wordpress import WordPressClient, time_budget
from tests.sites.fake_wordpress import Failure


def client_for(fake, *, password=None, timeout=5.0, api_url=None) -> WordPressClient:
    site = SiteConfig(
        id="tech-blog",
        name="Tech",
        api_url=api_url or fake.api_url,
        username="publisher",
        app_password=password or fake.password,
    )
    return WordPressClient(site, timeout=timeout)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_authenticated_calls_name_wpublisher_in_the_user_agent(fake_wp):
    assert client_for(fake_wp).me()["slug"] == "publisher"
    assert fake_wp.user_agents == {f"wpublisher/{__version__}"}


def test_a_wrong_password_says_authentication_failed_and_is_not_retried(fake_wp):
    with pytest.raises(WordPressError) as raised:
        client_for(fake_wp, password="wrong pass word 1234 5678").me()
    assert raised.value.message == "authentication failed for site tech-blog (check username/app_password)"
    assert not raised.value.retryable
    assert "wrong pass" not in raised.value.message


def test_connection_refused_names_the_url():
    url = f"http://127.0.0.1:{unused_port()}/wp-json/wp/v2"
    with pytest.raises(WordPressError) as raised:
        client_for(None, api_url=url, password="x" * 24).me()
    assert raised.value.message == f"site tech-blog unreachable at {url}/users/me: connection refused"
    assert raised.value.retryable


def test_a_slow_site_times_out_with_the_limit_named(fake_wp):
    fake_wp.fail("GET", "/users/me", Failure(status=200, body={}, delay=1.5))
    with pytest.raises(WordPressError) as raised:
        client_for(fake_wp, timeout=0.5).me()
    assert raised.value.message == f"site tech-blog timed out at {fake_wp.api_url}/users/me: no answer within 0.5s"
    assert raised.value.retryable


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (502, True), (503, True), (404, False), (400, False)]
)
def test_which_answers_are_worth_a_retry(fake_wp, status, retryable):
    fake_wp.fail("POST", "/posts", Failure(status=status, body={"code": "some_code", "message": "Some message."}))
    with pytest.raises(WordPressError) as raised:
        client_for(fake_wp).post_create(title="t", content="c", status="publish", slug="s", categories=[], tags=[])
    assert raised.value.retryable is retryable
    assert raised.value.message == (
        f"site tech-blog answered HTTP {status} to POST {fake_wp.api_url}/posts some_code: Some message."
    )


def test_a_name_wordpress_reduced_to_nothing_is_not_worth_a_retry(fake_wp):
    """WordPress answers 500 `empty_term_name` for a category it sanitized to nothing (`<svg onload=…>`):
    the same request fails the same way every time."""
    body = {"code": "empty_term_name", "message": "A name is required for this term.", "data": {"status": 500}}
    fake_wp.fail("POST", "/categories", Failure(status=500, body=body))
    with pytest.raises(WordPressError) as raised:
        client_for(fake_wp).term_ids("categories", ["<svg onload=alert(1)>"])
    assert raised.value.retryable is False and raised.value.wp_code == "empty_term_name"


def test_terms_are_found_by_name_created_when_missing_and_cached(fake_wp):
    fake_wp.terms["tags"].append({"id": 7, "name": "Python", "slug": "python"})
    client = client_for(fake_wp)
    assert client.term_ids("tags", ["python", "Django"]) == [7, 101]
    assert fake_wp.terms["tags"][-1]["name"] == "Django"
    calls = len(fake_wp.calls)
    assert client.term_ids("tags", ["Python", "django"]) == [7, 101]
    assert len(fake_wp.calls) == calls  # cached per site


def test_a_term_created_meanwhile_is_reused_from_term_exists(fake_wp):
    fake_wp.terms["categories"].append({"id": 55, "name": "News", "slug": "news"})
    fake_wp.fail("GET", "/categories", Failure(status=200, body=[]))  # the search misses it
    assert client_for(fake_wp).term_ids("categories", ["News"]) == [55]
    assert len(fake_wp.terms["categories"]) == 2


def test_html_entities_in_term_names_match(fake_wp):
    fake_wp.terms["categories"].append({"id": 56, "name": "Tips &amp; Tricks", "slug": "tips-tricks"})
    assert client_for(fake_wp).term_ids("categories", ["Tips & Tricks"]) == [56]


def test_a_time_budget_bounds_all_the_calls_together(fake_wp):
    fake_wp.fail("GET", "/users/me", Failure(status=200, body={}, delay=0.6), Failure(status=200, body={}, delay=0.6))
    client = client_for(fake_wp, timeout=5)
    with pytest.raises(WordPressError) as raised, time_budget(1.0):
        client.me()
        client.me()
    assert "timed out" in raised.value.message and raised.value.retryable


def test_an_exhausted_budget_fails_before_calling(fake_wp):
    client = client_for(fake_wp)
    with pytest.raises(WordPressError, match=r"gave up after 0s \(publishing.timeout\)"), time_budget(0):
        client.me()
    assert fake_wp.calls == []


def test_connections_are_reused_and_dropped_after_the_idle_timeout(fake_wp):
    import time

    site = SiteConfig(
        id="tech-blog",
        name="Tech",
        api_url=fake_wp.api_url,
        username="publisher",
        app_password=fake_wp.password,
        idle_timeout=1,
    )
    client = WordPressClient(site, timeout=5)
    client.me()
    client.me()
    assert fake_wp.client_ports[0] == fake_wp.client_ports[1]  # kept alive
    time.sleep(1.2)
    client.me()
    assert fake_wp.client_ports[2] != fake_wp.client_ports[1]  # idle too long: a new connection


def test_the_pool_never_opens_more_than_max_connections(fake_wp):
    from concurrent.futures import ThreadPoolExecutor

    site = SiteConfig(
        id="tech-blog",
        name="Tech",
        api_url=fake_wp.api_url,
        username="publisher",
        app_password=fake_wp.password,
        max_connections=2,
    )
    client = WordPressClient(site, timeout=5)
    fake_wp.fail("GET", "/users/me", *[Failure(status=200, body={}, delay=0.2)] * 6)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: client.me(), range(6)))
    assert len(set(fake_wp.client_ports)) == 2
