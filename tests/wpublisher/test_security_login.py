"""Issue 13, authentication: console and admin sign-ins lock out after repeated wrong passwords (django-axes),
saying so on the login page, audited, cleared by staff; `init --reviewer` makes a staff reviewer, not a
superuser."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.models import AuditLog
from console.reviewers import REVIEWERS_GROUP, reviewer_create
from tests.conftest import agent_entry, site_entry

pytestmark = pytest.mark.django_db

LOCKED = re.compile(r"Too many failed sign-ins; try again after (\d\d:\d\d) UTC")
LOGIN_PAGES = ["/login/", "/admin/login/"]


@pytest.fixture
def alice() -> str:
    """A reviewer, "alice"; returns her password."""
    return reviewer_create(username="alice")[2]


def sign_in(client: Client, path: str, password: str):
    return client.post(path, {"username": "alice", "password": password, "next": "/"})


def minutes_after(minutes: int) -> set[str]:
    """HH:MM a lockout of `minutes` that starts about now may end at (rounded up to the minute)."""
    now = timezone.now()
    return {f"{now + timedelta(minutes=minutes, seconds=s):%H:%M}" for s in (0, 60, 90)}


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_wrong_passwords_lock_the_username_out_at_that_address_saying_until_when(client, alice, path, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = sign_in(client, path, "wrong password")
        assert refused.status_code == 200 and not LOCKED.search(refused.content.decode())
    locked = sign_in(client, path, "wrong password")
    assert locked.status_code == 429
    until = LOCKED.search(locked.content.decode())
    assert until, locked.content.decode()
    assert until.group(1) in minutes_after(15)
    assert int(locked["Retry-After"]) > 14 * 60
    # Now even the right password is refused, on both login pages, and the time shown does not move.
    for page in LOGIN_PAGES:
        again = sign_in(client, page, alice)
        assert again.status_code == 429 and LOCKED.search(again.content.decode()).group(1) == until.group(1)
    assert "_auth_user_id" not in client.session
    # Another address is not locked out.
    elsewhere = Client(REMOTE_ADDR="198.51.100.23")
    assert sign_in(elsewhere, path, alice).status_code == 302


def test_a_lockout_is_audited_once_without_the_password(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        sign_in(client, "/login/", "hunter2-wrong")
    rows = list(AuditLog.objects.filter(event_type="login_locked_out"))
    assert len(rows) == 1
    row = rows[0]
    assert row.username == "alice" and row.ip_address == "127.0.0.1" and row.severity == "warning"
    assert f"after {settings.AXES_FAILURE_LIMIT} failed attempts" in row.message
    assert "hunter2" not in row.message and "hunter2" not in str(row.metadata)
    assert alice not in row.message


def test_a_success_before_the_limit_starts_the_count_again(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "/login/", "wrong password")
    assert sign_in(client, "/login/", alice).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "/login/", "wrong password").status_code == 200


def test_staff_see_and_clear_lockouts_in_the_admin(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "/login/", "wrong password")
    assert sign_in(client, "/login/", alice).status_code == 429
    staff = Client(REMOTE_ADDR="198.51.100.24")
    staff.force_login(get_user_model().objects.get(username="alice"))  # a reviewer, signed in elsewhere
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="alice")
    cleared = staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert cleared.status_code == 302
    assert sign_in(client, "/login/", alice).status_code == 302


def test_init_reviewer_makes_a_staff_user_with_reviewer_rights_not_a_superuser(config_files):
    config_files.write(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    out = StringIO()
    call_command("init", "--reviewer", "bob", stdout=out)
    password = re.search(r"password \(shown once\): (\S+)", out.getvalue()).group(1)
    call_command("init", "--reviewer", "bob", stdout=StringIO())  # again: same group, a new password
    bob = get_user_model().objects.get(username="bob")
    assert bob.is_staff and bob.is_active and not bob.is_superuser
    assert list(bob.groups.values_list("name", flat=True)) == [REVIEWERS_GROUP]
    assert not bob.check_password(password)
    for allowed in ("articles.view_article", "articles.change_article", "agents.view_agent", "sites.view_site"):
        assert bob.has_perm(allowed), allowed
    assert bob.has_perm("audit.view_auditlog") and bob.has_perm("axes.delete_accessattempt")
    for refused in ("agents.change_agent", "sites.change_site", "auth.change_user", "articles.delete_article"):
        assert not bob.has_perm(refused), refused

    client = Client()
    client.force_login(bob)
    for page in ("/", "/audit/", "/api/articles", "/admin/", "/admin/articles/article/", "/admin/audit/auditlog/"):
        assert client.get(page).status_code == 200, page
    for page in ("/admin/agents/agent/", "/admin/sites/site/", "/admin/agents/mcpsession/"):
        assert client.get(page).status_code == 200, page
    assert client.get("/admin/auth/user/").status_code == 403
