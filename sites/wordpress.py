"""A small WordPress REST API client, one per site, authenticated with an application password.

Each site gets one `requests.Session` whose connection pool is bounded by the site's
`connection_pool.max_connections`; connections idle longer than `idle_timeout` are dropped. The session
is the SSRF guard's (sites/urlguard.py): it connects only to addresses the guard allows and follows
redirects only within the site's origin. Failures become `WordPressError` messages a person can act on,
with a short `reason` of our own words, and say whether a retry may help.

Every text field sent to WordPress (post title, category and tag names) leaves as plain text
(`wordpress_text`): the publishing user may post unfiltered HTML, so markup there would run on the site.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from core.config.types import SiteConfig
from core.exceptions import URLRefused
from core.urlguard import MAX_REDIRECTS, url_guard_session
from core.version import __version__
from sites.exceptions import WordPressError

CONNECT_TIMEOUT_MAX = 10.0
TERM_KINDS = ("categories", "tags")
# WordPress error codes that come with a 5xx but say the request itself is wrong: retrying cannot help
# (`empty_term_name`: a category or tag name WordPress sanitized to nothing, such as one made of markup).
PERMANENT_WP_CODES = frozenset({"empty_term_name", "invalid_taxonomy"})
# Post fields WordPress takes as text (HTML allowed): sent through `wordpress_text`.
TEXT_FIELDS = frozenset({"title", "excerpt"})
NOT_WORDPRESS = "not a WordPress REST API"
# A site's time zone given as an offset (WordPress's "UTC+5:30" choices), as `time_zone_name` writes it.
_OFFSET_ZONE = re.compile(r"UTC(?:([+-])(\d{1,2})(?::(\d{2}))?)?")

# When set, the monotonic time by which the current unit of work (one publish) must be done: each request
# gets only the time that is left, so a publish never outlives its budget (see `time_budget`).
_deadline: ContextVar[tuple[float, float] | None] = ContextVar("wordpress_deadline", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Bound every WordPress request made inside the block to `seconds` in total."""
    token = _deadline.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


class WordPressClient:
    def __init__(self, site: SiteConfig, *, timeout: float):
        self.site = site
        self.timeout = timeout
        self.session = url_guard_session(
            pool_connections=1, pool_maxsize=site.max_connections, pool_block=True, max_retries=0
        )
        self.session.auth = (site.username, site.app_password)
        self.session.headers.update({"User-Agent": f"wpublisher/{__version__}", "Accept": "application/json"})
        self._last_used = time.monotonic()
        self._lock = threading.Lock()
        self._term_ids: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self.session.close()

    # --- HTTP ----------------------------------------------------------------------------------------

    def _read_timeout(self) -> float:
        budget = _deadline.get()
        if budget is None:
            return self.timeout
        remaining = budget[0] - time.monotonic()
        if remaining <= 0:
            raise WordPressError(
                f"site {self.site.id}: gave up after {budget[1]:g}s (publishing.timeout)",
                retryable=True,
                reason="timed out (publishing.timeout)",
            )
        return min(self.timeout, remaining)

    def request(
        self, method: str, path: str, *, params: dict | None = None, json: Any = None, root: bool = False
    ) -> Any:
        """`path` under api_url (`/wp-json/wp/v2`), or under the REST index (`/wp-json`) when `root`."""
        url = (self.site.api_url.removesuffix("/wp/v2") if root else self.site.api_url) + path
        read_timeout = self._read_timeout()
        with self._lock:
            if time.monotonic() - self._last_used > self.site.idle_timeout:
                self.session.close()  # drops pooled connections; the session opens new ones on demand
            self._last_used = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                timeout=(min(CONNECT_TIMEOUT_MAX, read_timeout), read_timeout),
            )
        except URLRefused as error:
            raise WordPressError(
                f"site {self.site.id} refused at {url}: {error.problem}", retryable=False, reason=error.reason
            ) from None
        except requests.exceptions.TooManyRedirects:
            raise WordPressError(
                f"site {self.site.id} redirected more than {MAX_REDIRECTS} times at {url}",
                retryable=False,
                reason="redirected too often",
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise WordPressError(
                f"site {self.site.id} unreachable at {url}: connection timed out",
                retryable=True,
                reason="unreachable: connection timed out",
            ) from None
        except requests.exceptions.ConnectionError as error:
            detail = "connection refused" if "refused" in str(error).lower() else "connection failed"
            raise WordPressError(
                f"site {self.site.id} unreachable at {url}: {detail}", retryable=True, reason=f"unreachable: {detail}"
            ) from None
        except requests.exceptions.Timeout:
            raise WordPressError(
                f"site {self.site.id} timed out at {url}: no answer within {read_timeout:g}s",
                retryable=True,
                reason="timed out",
            ) from None
        return self._answer(response, method=method, url=url)

    def _answer(self, response: requests.Response, *, method: str, url: str) -> Any:
        status = response.status_code
        if 300 <= status < 400:  # a redirect the session did not follow (no usable Location)
            raise WordPressError(
                f"site {self.site.id} answered {method} {url} with HTTP {status} and no redirect it may follow",
                retryable=False,
                reason=f"answered HTTP {status}",
                status=status,
            )
        if status < 400:
            try:
                return response.json()
            except ValueError:
                raise WordPressError(
                    f"site {self.site.id} answered {method} {url} with something that is not JSON "
                    "(is api_url the REST API root?)",
                    retryable=False,
                    reason=NOT_WORDPRESS,
                    status=status,
                ) from None
        wp_code, wp_message, wp_data = _wordpress_error(response)
        if status == 401 or _refused_as_anonymous(wp_data):
            raise WordPressError(
                f"authentication failed for site {self.site.id} (check username/app_password)",
                retryable=False,
                reason="authentication refused (check username/app_password)",
                status=status,
                wp_code=wp_code,
            )
        retryable = (status == 429 or status >= 500) and wp_code not in PERMANENT_WP_CODES
        detail = f" {wp_code}: {wp_message}" if wp_code else (f": {wp_message}" if wp_message else "")
        raise WordPressError(
            f"site {self.site.id} answered HTTP {status} to {method} {url}{detail}",
            retryable=retryable,
            reason=f"answered HTTP {status}",
            status=status,
            wp_code=wp_code,
            data=wp_data,
        )

    # --- API -----------------------------------------------------------------------------------------

    def me(self) -> dict:
        return self.request("GET", "/users/me", params={"context": "edit"})

    def time_zone(self) -> str:
        """The site's time zone (Settings > General) as its REST index says: an IANA name
        (`timezone_string`), else its fixed offset (`gmt_offset`) as "UTC+5:30" ("UTC" for none)."""
        index = self.request("GET", "/", params={"_fields": "timezone_string,gmt_offset"}, root=True)
        name = time_zone_name(index) if isinstance(index, dict) else None
        if name is None:
            raise WordPressError(
                f"site {self.site.id}: its REST index names no time zone (timezone_string, gmt_offset): "
                f"{str(index)[:200]!r}",
                retryable=False,
                reason=NOT_WORDPRESS,
            )
        return name

    def term_ids(self, kind: str, names: list[str]) -> list[int]:
        """Ids for category or tag names: found by name or slug, created when missing. WordPress drops
        unknown ids and rejects names in posts, so posts always carry ids."""
        if kind not in TERM_KINDS:
            raise ValueError(kind)
        return [self._term_id(kind, name) for name in names]

    def _term_id(self, kind: str, name: str) -> int:
        cache_key = (kind, name.casefold())
        if cache_key in self._term_ids:
            return self._term_ids[cache_key]
        # WordPress stores names HTML-escaped (`A &amp; B`) and searches them as stored; terms named before
        # names were sent escaped may hold a raw `'` or `"`, so those are looked up as written too.
        match = None
        for search in dict.fromkeys((wordpress_text(name), name)):
            found = self.request("GET", f"/{kind}", params={"search": search, "per_page": 100, "context": "view"})
            match = next((t for t in found if _same_term(t, name)), None)
            if match is not None:
                break
        term_id = int(match["id"]) if match is not None else self._term_create(kind, name)
        self._term_ids[cache_key] = term_id
        return term_id

    def _term_create(self, kind: str, name: str) -> int:
        try:
            return int(self.request("POST", f"/{kind}", json={"name": wordpress_text(name)})["id"])
        except WordPressError as error:
            # Created meanwhile (another worker), or a name search missed it: WordPress names the id.
            if error.wp_code == "term_exists" and error.data.get("term_id"):
                return int(error.data["term_id"])
            raise

    def posts_find_by_slug(self, slug: str) -> list[dict]:
        """Every post with this slug whatever its status (drafts included, the trash excluded), oldest
        first. Drafts keep the exact slug they were given, so two drafts can share one."""
        return self.request(
            "GET",
            "/posts",
            params={"slug": slug, "status": "any", "context": "edit", "orderby": "id", "order": "asc"},
        )

    def post_get(self, post_id: int) -> dict | None:
        """The post, or None when it is gone or in the trash."""
        try:
            post = self.request("GET", f"/posts/{int(post_id)}", params={"context": "edit"})
        except WordPressError as error:
            if error.status in (404, 410):
                return None
            raise
        return None if post.get("status") == "trash" else post

    def post_create(
        self,
        *,
        title: str,
        content: str,
        status: str,
        slug: str,
        categories: list[int],
        tags: list[int],
        excerpt: str = "",
        date_gmt: datetime | None = None,
    ) -> dict:
        """A new post. `excerpt` is plain text, like the title; `date_gmt` dates it (a post made public
        with a date ahead becomes a future post, published by WordPress then)."""
        fields: dict[str, Any] = {
            "title": wordpress_text(title),
            "content": content,
            "status": status,
            "slug": slug,
            "categories": categories,
            "tags": tags,
        }
        if excerpt:
            fields["excerpt"] = wordpress_text(excerpt)
        if date_gmt is not None:
            fields["date_gmt"] = date_gmt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return self.request("POST", "/posts", json=fields)

    def post_update(self, post_id: int, **fields: Any) -> dict:
        """Change a post's fields; the text fields (`TEXT_FIELDS`) are sent as plain text. A `slug` of ""
        sent with a public status lets WordPress name the post after its title (`sanitize_title`: a Chinese
        title percent-encoded); drafts and pending posts keep an empty one until they are published."""
        plain = {name: wordpress_text(value) if name in TEXT_FIELDS else value for name, value in fields.items()}
        return self.request("POST", f"/posts/{int(post_id)}", json=plain)

    def post_trash(self, post_id: int) -> dict:
        """Move a post to the trash (recoverable in WordPress admin for EMPTY_TRASH_DAYS)."""
        return self.request("DELETE", f"/posts/{int(post_id)}")


def wordpress_text(text: str) -> str:
    """`text` as plain text for a WordPress text field: `& < > " '` written as HTML entities, once.

    WordPress shows a post title as stored (`the_title` does not escape it; the publishing user has
    `unfiltered_html`, so markup there would run on the public page) and stores a term name escaped by its
    `pre_term_name` filters, which leave entities as they are. Either way readers see exactly `text`."""
    return html.escape(text, quote=True)


def time_zone_name(index: dict) -> str | None:
    """A site's zone from its REST index: `timezone_string` when it names a zone, else `gmt_offset` (hours,
    a number or a numeric string, 5.5 for +5:30) as "UTC+5:30"; None when neither is usable."""
    named = index.get("timezone_string")
    if isinstance(named, str) and named and time_zone_info(named) is not None:
        return named
    try:
        hours = float(index.get("gmt_offset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not -14 <= hours <= 14:
        return None
    minutes = round(abs(hours) * 60)
    if minutes == 0:
        return "UTC"
    sign = "-" if hours < 0 else "+"
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def time_zone_info(name: str) -> tzinfo | None:
    """The zone a `time_zone_name` names (an IANA zone or "UTC+5:30"); None when it names none known here."""
    if offset := _OFFSET_ZONE.fullmatch(name):
        sign, hours, minutes = offset.groups()
        if sign is None:
            return UTC
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _same_term(term: dict, name: str) -> bool:
    return html.unescape(term.get("name", "")).casefold() == name.casefold() or term.get("slug") == name.casefold()


def _refused_as_anonymous(data: dict) -> bool:
    """WordPress treats a wrong application password as no login at all; a request that needs one then
    fails as 400 with a 401 inside (`status=any` is "forbidden" to anonymous callers)."""
    details = data.get("details")
    if not isinstance(details, dict):
        return False
    return any(isinstance(d, dict) and (d.get("data") or {}).get("status") == 401 for d in details.values())


def _wordpress_error(response: requests.Response) -> tuple[str, str, dict]:
    """WordPress's own error code, message and data ({"code", "message", "data"} bodies)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.reason or "", {}
    if isinstance(body, dict):
        data = body["data"] if isinstance(body.get("data"), dict) else {}
        return str(body.get("code", "")), str(body.get("message", ""))[:300], data
    return "", "", {}


_clients: dict[str, WordPressClient] = {}
_clients_lock = threading.Lock()


def wordpress_client(site: SiteConfig, *, timeout: float) -> WordPressClient:
    """The process's client for a site; rebuilt when the site's config (say, its password) changed."""
    with _clients_lock:
        client = _clients.get(site.id)
        if client is None or client.site != site or client.timeout != timeout:
            if client is not None:
                client.close()
            client = _clients[site.id] = WordPressClient(site, timeout=timeout)
        return client
