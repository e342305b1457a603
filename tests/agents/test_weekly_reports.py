from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from agents.actors import Actor
from agents.models import AgentWeeklyReport
from articles import services
from articles.models import Article
from articles.reports import agent_weekly_reports_write
from audit.models import AuditLog
from tests.factories import AgentFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("queued")
def test_weekly_reports_count_each_agents_week():
    SiteFactory(id="blog")
    writer, idle = AgentFactory(id="writer"), AgentFactory(id="idle")
    editor = AgentFactory(id="editor", scopes=["article:read", "article:review"])
    first = services.article_submit(agent=writer, title="One", content_markdown="x")
    second = services.article_submit(agent=writer, title="Two", content_markdown="y")
    services.article_revise(agent=writer, article_id=first.pk, content_markdown="z")
    services.article_approve(actor=Actor(agent=editor), article_id=first.pk, expected_revision=2)
    services.article_reject(actor=Actor(user=UserFactory()), article_id=second.pk, rejection_reason="no")
    # Everything happened last week (Wednesday noon); submitted an hour before the reviews.
    today = timezone.now().date()
    monday = today - timedelta(days=today.weekday() + 7)
    when = timezone.make_aware(datetime.combine(monday + timedelta(days=2), datetime.min.time())) + timedelta(hours=12)
    AuditLog.objects.update(timestamp=when)
    Article.objects.update(created_at=when - timedelta(hours=1), reviewed_at=when)

    reports = {r.agent_id: r for r in agent_weekly_reports_write()}
    report = reports["writer"]
    assert report.week_start == monday
    assert (report.submitted, report.revised, report.approved, report.rejected) == (2, 1, 1, 1)
    assert report.average_review_seconds == 3600
    assert (reports["idle"].submitted, reports["editor"].approved) == (0, 0)  # reviews count for the author
    # Running it again rewrites, never duplicates.
    agent_weekly_reports_write(week_start=monday)
    assert AgentWeeklyReport.objects.filter(agent=writer).count() == 1
    assert idle.weekly_reports.get().week_start == monday
    assert isinstance(monday, date)
