"""Prometheus metrics at /metrics.

Counters of what happens in this process (MCP requests and tool calls, authentication failures: see
mcp_bridge.metrics) live in prometheus_client's registry; each web process exposes its own, as Prometheus
expects. The state of the system (articles by status, agents, sites, publishes) is read from the database
at scrape time, so every process reports the same numbers, whichever process did the work (the Celery
workers included).
The processes that `manage.py serve` supervises (up, restarts) are read from its state file at scrape time."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agents.models import Agent
from agents.selectors import connected_agent_ids
from articles.models import Article, ArticleStatus
from audit.monitoring import publish_durations
from core.supervision import supervision_status
from sites.models import Site

HEALTH_VALUES = {"healthy": 1.0, "warning": 0.5, "error": 0.0, "unknown": -1.0}


class DatabaseCollector(Collector):
    """The system's state, read when Prometheus scrapes."""

    def collect(self):
        articles = GaugeMetricFamily("wpublisher_articles", "Articles by status", labels=["status"])
        counts = dict(Article.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        for status in ArticleStatus.values:
            articles.add_metric([status], counts.get(status, 0))
        yield articles

        yield GaugeMetricFamily(
            "wpublisher_agents_active", "Active agents", value=Agent.objects.filter(is_active=True).count()
        )
        yield GaugeMetricFamily(
            "wpublisher_agents_connected", "Agents with an open MCP session", value=len(connected_agent_ids())
        )

        publishes = CounterMetricFamily(
            "wpublisher_publishes", "Publishes by site and outcome", labels=["site", "outcome"]
        )
        health = GaugeMetricFamily(
            "wpublisher_site_health", "Site health: 1 healthy, 0.5 warning, 0 error, -1 unknown", labels=["site"]
        )
        latency = GaugeMetricFamily("wpublisher_site_latency_ms", "Latency of the last health check", labels=["site"])
        for site in Site.objects.filter(is_active=True):
            publishes.add_metric([site.id, "success"], site.total_posts_published)
            publishes.add_metric([site.id, "failure"], site.total_publish_failures)
            health.add_metric([site.id], HEALTH_VALUES.get(site.health_status, -1.0))
            if site.health_latency_ms is not None:
                latency.add_metric([site.id], site.health_latency_ms)
        yield publishes
        yield health
        yield latency

        durations = sorted(seconds for _, seconds in publish_durations(limit=200))
        summary = GaugeMetricFamily(
            "wpublisher_publish_duration_seconds_recent",
            "Duration of the last 200 successful publishes, by quantile",
            labels=["quantile"],
        )
        for quantile in (0.5, 0.9, 0.99):
            if durations:
                summary.add_metric([str(quantile)], durations[min(len(durations) - 1, int(quantile * len(durations)))])
        yield summary


class ProcessCollector(Collector):
    """The children of `manage.py serve`, as its supervisor last recorded them. Without a running
    supervisor (compose, a web server started alone, a serve that was killed) no sample is reported:
    a stale "up" would hide that nothing restarts the processes any more."""

    def collect(self):
        restarts = CounterMetricFamily(
            "wpublisher_process_restarts", "Restarts of a process by manage.py serve", labels=["process"]
        )
        up = GaugeMetricFamily(
            "wpublisher_process_up", "A process of manage.py serve: 1 running, 0 down or restarting", labels=["process"]
        )
        for child in supervision_status().children:
            restarts.add_metric([child.name], child.restarts)
            up.add_metric([child.name], 1.0 if child.up else 0.0)
        yield restarts
        yield up


_registered = False


def _register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(DatabaseCollector())
        REGISTRY.register(ProcessCollector())
        _registered = True


def metrics_view(request: HttpRequest) -> HttpResponse:
    _register()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
