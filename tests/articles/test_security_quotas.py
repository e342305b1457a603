"""Per-agent daily quotas (issue 13): submissions and stored Markdown per agent and UTC day, revisions
included; refused with RATE_LIMITED naming the quota and when it resets; concurrent submissions of one agent
cannot overshoot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from agents.exceptions import RateLimited
from agents.models import Agent
from articles import services
from articles.models import AgentDailyUsage, Article
from tests.conftest import agent_entry, site_entry
from tests.mcp_bridge.conftest import connect, make_world

KIB = 1024


@pytest.fixture
def quota_config(loaded_config):
    def load(**quotas):
        loaded_config(
            agents=[
                agent_entry("a"),
                agent_entry("b"),
                agent_entry("seo", scopes=["article:submit", "article:read", "article:revise"]),
            ],
            sites=[site_entry("s")],
            system={
                "limits": {"max_content_bytes": 1024 * KIB, "max_request_bytes": 2048 * KIB},
                "quotas": quotas,
            },
        )
        return {agent.id: agent for agent in Agent.objects.all()}

    return load


def submit(agent, content: str = "Body", title: str = "Hello"):
    return services.article_submit(agent=agent, title=title, content_markdown=content)


def tomorrow_utc() -> str:
    return f"{(datetime.now(UTC) + timedelta(days=1)).date():%Y-%m-%d} 00:00 UTC"


@pytest.mark.django_db
def test_submissions_past_the_daily_quota_are_refused_naming_it_and_when_it_resets(quota_config):
    agents = quota_config(submissions_per_day=2)
    submit(agents["a"])
    submit(agents["a"])
    with pytest.raises(RateLimited) as refused:
        submit(agents["a"])
    assert refused.value.code == "RATE_LIMITED"
    assert refused.value.message == (
        "agent a submitted 2 articles today, the most quotas.submissions_per_day allows (2); "
        f"it resets at {tomorrow_utc()}"
    )
    assert 0 < refused.value.retry_after <= 24 * 3600
    assert Article.objects.filter(submitting_agent_id="a").count() == 2  # the refused one wrote nothing
    submit(agents["b"])  # another agent has its own quota


@pytest.mark.django_db
def test_stored_markdown_past_the_daily_quota_is_refused_revisions_included(quota_config):
    agents = quota_config(storage_mb_per_day=1)
    article = submit(agents["a"], "a" * (600 * KIB))
    with pytest.raises(RateLimited) as refused:
        services.article_revise(agent=agents["a"], article_id=article.pk, content_markdown="b" * (500 * KIB))
    assert refused.value.message.startswith(
        f"agent a stored {600 * KIB} bytes of Markdown today; {500 * KIB} more would pass "
        "quotas.storage_mb_per_day (1 MB = 1048576 bytes, revisions included)"
    )
    assert refused.value.message.endswith(f"it resets at {tomorrow_utc()}")
    article.refresh_from_db()
    assert article.revision_number == 1 and article.content_markdown == "a" * (600 * KIB)
    # A revision is counted against the agent that writes it.
    services.article_revise(agent=agents["seo"], article_id=article.pk, content_markdown="c" * (900 * KIB))
    with pytest.raises(RateLimited, match=r"quotas\.storage_mb_per_day"):
        submit(agents["seo"], "d" * (200 * KIB))


@pytest.mark.django_db
def test_the_quotas_are_per_utc_day(quota_config):
    agents = quota_config(submissions_per_day=1, storage_mb_per_day=1)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    AgentDailyUsage.objects.create(agent=agents["a"], day=yesterday, submissions=1, storage_bytes=1024 * KIB)
    submit(agents["a"])  # yesterday's use is not today's
    with pytest.raises(RateLimited):
        submit(agents["a"])


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def quota_world(tmp_path):
    world = make_world(
        tmp_path,
        {"flood": {}},
        global_settings={"max_concurrent_agents": 10},
        system={"rate_limits": {"tool_calls_per_minute": 1000}, "quotas": {"submissions_per_day": 5}},
    )
    yield world
    world.deployment.close()


@pytest.mark.anyio
@pytest.mark.slow
async def test_concurrent_submissions_of_one_agent_do_not_overshoot_its_quota(quota_world):
    async with connect(quota_world, "flood") as first, connect(quota_world, "flood") as second:
        calls = [
            client.call_tool("submit_article", {"title": f"Flood {n}", "content_markdown": "x" * (64 * KIB)})
            for n in range(8)
            for client in (first, second)
        ]
        results = await asyncio.gather(*calls)
    accepted = [r for r in results if not r.is_error]
    refused = [r.content[0].text for r in results if r.is_error]
    assert len(accepted) == 5
    assert len(refused) == 11
    assert all(text.startswith("RATE_LIMITED: agent flood submitted 5 articles today") for text in refused), refused
    stored = quota_world.run(
        "from articles.models import Article\nresult = Article.objects.filter(submitting_agent_id='flood').count()"
    )
    assert stored == 5
