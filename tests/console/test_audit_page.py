"""The console's audit log as a reviewer uses it: the filters are dropdowns of what exists, in words; From and
To are a date and a 24-hour time in the reviewer's zone, with a sentence when one cannot be read; the table
shows exact 24-hour times and event names in words; the CSV export and the pages keep the filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from audit.models import AuditLog
from tests.conftest import agent_entry, site_entry
from tests.factories import AgentFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

# 06:00 UTC is 14:00 in Shanghai (UTC+8, no daylight saving time).
SIX_UTC = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


@pytest.fixture
def reviewer(client):
    client.force_login(UserFactory(username="alice", is_staff=True))
    client.cookies["wpub_tz"] = "Asia/Shanghai"
    return client


def entry(message: str, at: datetime, **fields) -> AuditLog:
    values = {"event_type": "article_approved", "category": "content", "message": message, "timestamp": at}
    return AuditLog.objects.create(**{**values, **fields})


def options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, text) of each option of the select called `name`."""
    select = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S)
    assert select, f"no select {name}"
    return [(value, unescape(text)) for value, text in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', select[1])]


def messages_of(page: str) -> list[str]:
    return re.findall(r"<td data-label=\"Message\"[^>]*>([^<]*)</td>", page)


def test_the_filters_are_dropdowns_of_known_agents_sites_and_readable_events(reviewer):
    AgentFactory(id="writer"), AgentFactory(id="editor"), SiteFactory(id="blog")
    page = reviewer.get("/audit/").text
    assert options(page, "agent") == [("", "all"), ("editor", "editor"), ("writer", "writer")]
    assert options(page, "site") == [("", "all"), ("blog", "blog")]
    events = dict(options(page, "event"))
    assert events[""] == "all"
    assert events["article_approved"] == "Article approved" and events["ip_blocked"] == "IP blocked"
    assert not any("_" in text for text in events.values())
    assert options(page, "severity") == [("", "all"), ("info", "Info"), ("warning", "Warning"), ("error", "Error")]
    # 24-hour fields that do not depend on the browser's locale: no datetime-local picker.
    assert 'type="datetime-local"' not in page
    assert 'type="date" name="from_date"' in page and 'name="from_time"' in page and 'placeholder="00:00"' in page
    assert "Asia/Shanghai" in page  # the hint says which zone the times are in


def test_the_selected_filters_stay_selected(reviewer):
    AgentFactory(id="writer")
    page = reviewer.get("/audit/", {"agent": "writer", "event": "publish_failed", "severity": "error"}).text
    assert '<option value="writer" selected>writer</option>' in page
    assert '<option value="publish_failed" selected>Publish failed</option>' in page
    assert '<option value="error" selected>Error</option>' in page
    # An older link's agent that no longer exists is still shown as the filter in force.
    gone = reviewer.get("/audit/", {"agent": "retired"}).text
    assert '<option value="retired" selected>retired</option>' in gone


def test_from_and_to_are_read_in_the_reviewer_s_time_zone(reviewer):
    entry("before two", SIX_UTC - timedelta(seconds=30))  # 13:59:30 in Shanghai
    entry("at two", SIX_UTC + timedelta(seconds=30))  # 14:00:30
    entry("past two", SIX_UTC + timedelta(minutes=1, seconds=5))  # 14:01:05
    since = reviewer.get("/audit/", {"from_date": "2026-11-29", "from_time": "14:00"}).text
    assert messages_of(since) == ["past two", "at two"]
    # To covers its whole minute; a phone's number pad without a colon works too.
    until = reviewer.get("/audit/", {"to_date": "2026-11-29", "to_time": "1400"}).text
    assert messages_of(until) == ["at two", "before two"]
    # A day without a time counts whole, in the reviewer's zone: 29 November in Shanghai started at 16:00 UTC
    # the day before.
    entry("the day before", datetime(2026, 11, 28, 15, 59, tzinfo=UTC))
    day = reviewer.get("/audit/", {"from_date": "2026-11-29", "to_date": "2026-11-29"}).text
    assert messages_of(day) == ["past two", "at two", "before two"]
    # The table shows the exact time in the same zone, on the 24-hour clock.
    assert ">2026-11-29 14:01:05</time>" in since


def test_a_time_that_cannot_be_read_is_said_in_words_naming_the_field(reviewer):
    entry("kept", SIX_UTC)
    response = reviewer.get("/audit/", {"from_date": "2026-11-29", "from_time": "2pm"})
    assert response.status_code == 200
    page = response.text
    problem = re.search(r'<div class="message error[^"]*" role="alert"[^>]*>(.*?)</div>', page, re.S)
    assert problem, "no alert"
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", problem[1])).split())
    assert text.startswith("From: the time must be hours and minutes on the 24-hour clock, like 14:00")
    assert "leaves that limit out" in text
    assert messages_of(page) == ["kept"]  # the list is still shown, without that limit
    assert "_ERROR" not in page and "Export CSV" not in page


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"to_date": "2026-02-30"}, "To: the date must be a day of the calendar written like 2026-11-29."),
        ({"to_date": "29/11/2026"}, "To: the date must be a day of the calendar written like 2026-11-29."),
        ({"from_time": "14:00"}, "From: a time needs a date as well; pick the day, like 2026-11-29."),
        ({"to_date": "2026-11-29", "to_time": "24:00"}, "To: the time must be hours and minutes on the 24-hour"),
        ({"to_date": "9999-12-31"}, "To: the date must be a day of the calendar"),
    ],
)
def test_each_unreadable_from_or_to_names_its_field_and_format(reviewer, params, said):
    reviewer.cookies["wpub_tz"] = "America/New_York"  # 9999-12-31 ends past what the databases store
    response = reviewer.get("/audit/", params)
    assert response.status_code == 200 and said in unescape(response.text) and "_ERROR" not in response.text


def test_older_links_with_iso_since_and_until_still_work_and_fill_the_fields(reviewer):
    entry("early", SIX_UTC - timedelta(hours=1))
    entry("late", SIX_UTC + timedelta(hours=1))
    page = reviewer.get("/audit/", {"since": "2026-11-29T06:00"}).text  # UTC: 14:00 in Shanghai
    assert messages_of(page) == ["late"]
    assert 'name="from_date" value="2026-11-29"' in page and 'name="from_time" value="14:00"' in page
    assert reviewer.get("/audit/", {"since": "2026-02-30T00:00"}).status_code == 400  # as every console param


def test_the_csv_export_and_the_next_page_keep_the_filters(reviewer, monkeypatch):
    monkeypatch.setattr("console.views.audit.PAGE_SIZE", 2)
    for minute in range(4):
        entry(f"after {minute}", SIX_UTC + timedelta(minutes=minute))
    entry("before", SIX_UTC - timedelta(minutes=5))
    filters = {"from_date": "2026-11-29", "from_time": "14:00"}
    page = reviewer.get("/audit/", filters).text
    assert messages_of(page) == ["after 3", "after 2"]
    older = unescape(re.search(r'<a href="(\?[^"]*before=[0-9]+)"', page)[1])
    assert "from_date=2026-11-29" in older and "from_time=14%3A00" in older
    assert messages_of(reviewer.get("/audit/" + older).text) == ["after 1", "after 0"]

    export = unescape(re.search(r'href="(/audit\.csv\?[^"]*)"', page)[1])
    rows = b"".join(reviewer.get(export).streaming_content).decode().splitlines()
    assert [row.rsplit(",", 1)[1] for row in rows[1:]] == ["after 3", "after 2", "after 1", "after 0"]


def test_the_csv_export_refuses_an_unreadable_time_in_words(reviewer):
    response = reviewer.get("/audit.csv", {"from_date": "2026-11-29", "from_time": "25:00"})
    assert response.status_code == 400
    assert response.text.startswith("From: the time must be hours and minutes") and "_ERROR" not in response.text


def test_the_table_shows_words_exact_times_and_cards_for_narrow_screens(reviewer):
    entry("Site blog is failing", SIX_UTC, event_type="site_health_changed", category="site", severity="error")
    page = reviewer.get("/audit/").text
    assert '<table class="audit cards">' in page
    for label in ("Time", "Event", "Severity", "Agent", "Article", "Site", "By", "IP", "Message"):
        assert f'<td data-label="{label}"' in page, label
    assert '<td data-label="Event">Site health changed</td>' in page
    assert '<td data-label="Severity">Error</td>' in page
    assert re.search(
        r'<td data-label="Time"><time datetime="2026-11-29T06:00:00\+00:00" title="[^"]*">'
        r"2026-11-29 14:00:00</time></td>",
        page,
    )
    assert ">site_health_changed<" not in page


def test_the_empty_states_say_what_to_do(reviewer):
    assert "Nothing has been recorded yet" in reviewer.get("/audit/").text
    entry("x", SIX_UTC)
    filtered = reviewer.get("/audit/", {"severity": "error"}).text
    assert "No entries match these filters." in filtered and "Clear filters" in filtered


# --- the configuration page (the same helper's page: times and words) ---------------------------------------


def test_the_config_page_shows_its_times_in_words_and_one_primary_button(reviewer, loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    page = reviewer.get("/config/").text
    status = re.search(r'<p class="muted config-status">(.*?)</p>', page, re.S)[1]
    assert "Running 1 agent and 1 site from" in status
    assert re.search(
        r', loaded <time datetime="[^"]+" title="[^"]+\(CST, UTC\+0800\)[^"]*" data-relative>just now</time>', status
    )
    assert not re.search(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]", re.sub(r'"[^"]*"', "", status))  # no raw ISO
    assert len(re.findall(r'<button[^>]*class="primary"', page)) == 1
    assert "_ERROR" not in page
