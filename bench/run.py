"""`make bench`: wpublisher against the bare MCP SDK, measured in one run on this machine.

Starts wpublisher (embedded by default; PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set) and,
as the reference, a bare MCP SDK server with a trivial tool on the same transport (Streamable HTTP) and
ASGI server (daphne). With the SDK client, it measures p50/p95 latency and throughput of the bare tool,
get_article_status, list_articles (10k articles) and submit_article at 1, 10 and 50 concurrent agents,
each with its own key; the steady-state key verification cost; the review queue page and list_articles
at 100k articles (server time and SQL queries); and approve -> published on a real WordPress against
the same WordPress calls made directly. Prints a table and writes bench/results.json.

    .venv/bin/python bench/run.py [--smoke] [--no-wordpress]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.deployment import stop_process_group  # noqa: E402 - after the path is set

PYTHON = sys.executable
TARGETS = {
    "ratio_read_p50": ("<=", 1.3),
    "ratio_submit_p50": ("<=", 2.0),
    "ratio_throughput_50": (">=", 0.6),
    "key_verify_ms": ("<", 1.0),
    "ratio_publish": ("<=", 1.2),
}
ROUNDS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own local server
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Bench:
    def __init__(self, *, smoke: bool, wordpress: bool):
        self.smoke = smoke
        self.with_wordpress = wordpress
        self.directory = Path(tempfile.mkdtemp(prefix="wpublisher-bench-"))
        self.agents = 50
        self.keys: dict[str, str] = {}
        self.processes: list[subprocess.Popen] = []
        self.results: dict = {"measurements": {}, "ratios": {}, "environment": {}}
        self.env = {
            **os.environ,
            "WPUBLISHER_DATA_DIR": str(self.directory / "data"),
            "WPUBLISHER_CONFIG_DIR": str(self.directory / "config"),
            "DJANGO_SETTINGS_MODULE": "wpublisher.settings",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(
            {
                k: self.env[k]
                for k in ("WPUBLISHER_DATA_DIR", "WPUBLISHER_CONFIG_DIR", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")
            }
        )

    # --- set-up -------------------------------------------------------------------------------------

    def configure(self, sites: list[dict]) -> None:
        import yaml

        from core.keys import key_generate

        config = self.directory / "config"
        config.mkdir(parents=True)
        self.keys = {f"bench-{n:02d}": key_generate()[1] for n in range(self.agents)}
        agents = [
            {
                "id": agent_id,
                "name": agent_id,
                "role": "content-creator",
                "api_key": key,
                "scopes": ["article:submit", "article:read", "article:review"],
            }
            for agent_id, key in self.keys.items()
        ]
        (config / "agents.yml").write_text(
            yaml.safe_dump({"agents": agents, "global_settings": {"max_concurrent_agents": 100}})
        )
        (config / "sites.yml").write_text(yaml.safe_dump({"sites": sites, "publishing": {"timeout": 30}}))
        # The benchmark measures calls, not the limits: every agent submits far more than a day's quota.
        system = {
            "rate_limits": {"tool_calls_per_minute": 10000},
            "quotas": {"submissions_per_day": 1_000_000, "storage_mb_per_day": 1_000_000},
        }
        (config / "system.yml").write_text(yaml.safe_dump(system))

    def django(self) -> None:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from configuration.reload import config_reload

        config_reload(sync=True)
        self.configured_at = time.monotonic()
        self.results["environment"] = {
            "database": _vendor(),
            "redis": bool(os.environ.get("REDIS_URL")),
            "cpus": os.cpu_count(),
        }

    def seed_articles(self, total: int) -> None:
        """Bulk rows (as submitted articles would be) up to `total` articles."""
        from articles.models import Article

        have = Article.objects.count()
        batch = []
        agent_ids = list(self.keys)
        for n in range(have, total):
            batch.append(
                Article(
                    title=f"Seeded article {n}",
                    content_markdown="Body",
                    content_html="<p>Body</p>",
                    submitting_agent_id=agent_ids[n % len(agent_ids)],
                    target_site_id="bench",
                    content_hash=f"{n:064x}",
                )
            )
            if len(batch) == 5000:
                Article.objects.bulk_create(batch)
                batch = []
        Article.objects.bulk_create(batch)

    def start(self, argv: list[str], url: str | None = None, env: dict | None = None) -> subprocess.Popen:
        """Start one of our own processes; wait for `url` to answer when given."""
        process = subprocess.Popen(  # noqa: S603 - our own commands
            argv,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes.append(process)
        if url:
            wait_http(url)
        return process

    def stop(self) -> None:
        for process in self.processes:
            stop_process_group(process)
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- MCP load -----------------------------------------------------------------------------------

    async def load(self, url: str, *, tool: str, make_args, concurrency: int, calls: int, auth: bool) -> dict:
        """One round: `concurrency` agents, each on its own session, make `calls` calls once all are ready."""
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        latencies: list[float] = []
        errors = 0
        agent_ids = list(self.keys)[:concurrency]

        async def agent(index: int, agent_id: str) -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {self.keys[agent_id]}"} if auth else {}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                await client.call_tool(tool, make_args(index, -1))  # warm-up, not measured
                await ready.wait()
                for n in range(calls):
                    started = time.perf_counter()
                    try:
                        result = await client.call_tool(tool, make_args(index, n))
                        errors += int(result.is_error)
                    except Exception:
                        errors += 1
                    latencies.append((time.perf_counter() - started) * 1000)

        ready = asyncio.Event()
        tasks = [asyncio.create_task(agent(i, a)) for i, a in enumerate(agent_ids)]
        await asyncio.sleep(0.5 + concurrency * 0.05)  # all connected and warmed up
        started = time.perf_counter()
        ready.set()
        await asyncio.gather(*tasks)
        return {"latencies": latencies, "wall": time.perf_counter() - started, "errors": errors}

    @staticmethod
    def summary(rounds: list[dict]) -> dict:
        latencies = [ms for r in rounds for ms in r["latencies"]]
        return {
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(percentile(latencies, 0.95), 2),
            "throughput": round(len(latencies) / sum(r["wall"] for r in rounds), 1),
            "errors": sum(r["errors"] for r in rounds),
            "calls": len(latencies),
        }

    def measure(self, name: str, result: dict) -> None:
        self.results["measurements"][name] = result
        self.show(name, result)

    @staticmethod
    def show(name: str, result: dict) -> None:
        print(
            f"  {name:<34} p50 {result.get('p50_ms', '-'):>8} ms  p95 {result.get('p95_ms', '-'):>8} ms  "
            f"{result.get('throughput', '-'):>8}/s  errors {result.get('errors', 0)}",
            flush=True,
        )


def status_args(articles: int):
    """get_article_status arguments for call `n` of agent `i`: articles spread over all `articles`."""
    return lambda i, n: {"article_id": 1 + (i * 37 + n) % articles}


def submit_args(title: str):
    """submit_article arguments for call `n` of agent `i`: a short article with a distinct title."""
    return lambda i, n: {"title": f"{title} {i}-{n}", "content_markdown": "# Title\n\nA *short* body."}


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts: check that the benchmark works")
    parser.add_argument("--no-wordpress", action="store_true", help="skip approve -> published")
    args = parser.parse_args()
    bench = Bench(smoke=args.smoke, wordpress=not args.no_wordpress)
    try:
        run(bench)
    finally:
        bench.stop()


def run(bench: Bench) -> None:
    wordpress = _wordpress(bench)
    site = (
        wordpress.site_entry("wp1", id="bench")
        if wordpress
        else {
            "id": "bench",
            "name": "Bench",
            "api_url": "http://127.0.0.1:9/wp-json/wp/v2",
            "username": "bench",
            "app_password": "bench-password-not-used",
        }
    )
    bench.configure([site])
    bench.django()
    small = bench.smoke
    concurrencies = (1, 2) if small else (1, 10, 50)
    articles = 300 if small else 10_000
    bench.seed_articles(articles)

    wp_port, bare_port = free_port(), free_port()
    bench.start(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(wp_port), "wpublisher.asgi:application"],
        f"http://127.0.0.1:{wp_port}/health",
    )
    bench.start(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(bare_port), "bench.bare_server:application"],
        f"http://127.0.0.1:{bare_port}/mcp",
    )
    wp_url, bare_url = f"http://127.0.0.1:{wp_port}/mcp", f"http://127.0.0.1:{bare_port}/mcp"
    # Steady state: the configuration load invalidated the cached keys and agents for a while.
    from core.cache import TOMBSTONE_SECONDS

    time.sleep(max(0.0, TOMBSTONE_SECONDS - (time.monotonic() - bench.configured_at)))
    print(f"MCP over Streamable HTTP, daphne, {articles} articles", flush=True)
    for concurrency in concurrencies:
        calls = 3 if small else max(10, 100 // concurrency)  # per agent and round
        print(f" {concurrency} concurrent agents x {calls} calls x {ROUNDS} rounds", flush=True)
        suffix = f"@{concurrency}"
        cases = [
            ("bare_trivial", bare_url, "echo", lambda i, n: {"text": "ping"}, False),
            (
                "get_article_status",
                wp_url,
                "get_article_status",
                status_args(articles),
                True,
            ),
            ("list_articles", wp_url, "list_articles", lambda i, n: {"limit": 50, "status": "pending_review"}, True),
            (
                "submit_article",
                wp_url,
                "submit_article",
                submit_args("Bench"),
                True,
            ),
        ]
        # Rounds alternate between the cases, so that a slow spell of this shared machine falls on all
        # of them rather than on one.
        rounds: dict[str, list[dict]] = {name: [] for name, *_ in cases}
        for _ in range(ROUNDS):
            for name, url, tool, make_args, auth in cases:
                rounds[name].append(
                    asyncio.run(
                        bench.load(url, tool=tool, make_args=make_args, concurrency=concurrency, calls=calls, auth=auth)
                    )
                )
        for name in rounds:
            bench.measure(f"{name}{suffix}", bench.summary(rounds[name]))

    measurements = bench.results["measurements"]
    top = f"@{concurrencies[-1]}"
    bench.results["ratios"].update(
        {
            "ratio_read_p50": round(
                measurements["get_article_status@1"]["p50_ms"] / measurements["bare_trivial@1"]["p50_ms"], 2
            ),
            "ratio_submit_p50": round(
                measurements["submit_article@1"]["p50_ms"] / measurements["bare_trivial@1"]["p50_ms"], 2
            ),
            "ratio_throughput_50": round(
                measurements[f"get_article_status{top}"]["throughput"]
                / measurements[f"bare_trivial{top}"]["throughput"],
                2,
            ),
        }
    )
    bench.results["ratios"]["key_verify_ms"] = _key_verify(bench, 200 if small else 2000)
    bench.results["queue"] = _queue(bench, articles, 2_000 if small else 100_000)
    bench.results["ratios"]["queue_queries"] = bench.results["queue"]["queries"]
    if wordpress:
        try:
            bench.results["publish"] = _publish(bench, wordpress, 2 if small else 10)
            bench.results["ratios"]["ratio_publish"] = bench.results["publish"]["ratio"]
        finally:
            wordpress.down()
    if bench.results["environment"]["database"] == "postgresql":
        bench.results["pool"] = _pool_sizing(bench, articles)
        bench.results["audit"] = _audit(bench, 20_000 if small else 10_000_000)
    else:
        print("audit log at scale: measured on PostgreSQL only (set DATABASE_URL)", flush=True)
    _report(bench)


def _pool_sizing(bench: Bench, articles: int) -> dict:
    """50 agents reading and submitting, with psycopg's pool at several sizes (DATABASE_POOL_MAX) against
    a persistent connection per thread (0: no pool)."""
    concurrency = 2 if bench.smoke else 50
    calls = 3 if bench.smoke else 10
    sizes = (0, 4) if bench.smoke else (0, 4, 8, 16)
    print(f"psycopg pool sizes, {concurrency} agents x {calls} calls x {ROUNDS} rounds", flush=True)
    result = {}
    for size in sizes:
        port = free_port()
        process = bench.start(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "wpublisher.asgi:application"],
            f"http://127.0.0.1:{port}/health",
            env={"DATABASE_POOL_MAX": str(size)},
        )
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            for name, make_args in (
                ("get_article_status", status_args(articles)),
                ("submit_article", submit_args("Pool")),
            ):
                rounds = [
                    asyncio.run(
                        bench.load(url, tool=name, make_args=make_args, concurrency=concurrency, calls=calls, auth=True)
                    )
                    for _ in range(ROUNDS)
                ]
                summary = bench.summary(rounds)
                result[f"{name}@pool={size}"] = summary
                bench.show(f"{name} pool={size or 'none'}", summary)
        finally:
            stop_process_group(process)
    return result


def _audit(bench: Bench, rows: int) -> dict:
    """The audit log at `rows` rows, in a scratch database of the same server (bench/audit_scale.py)."""
    output = bench.directory / "audit.json"
    subprocess.run(  # noqa: S603 - our own script
        [PYTHON, str(ROOT / "bench" / "audit_scale.py"), "--rows", str(rows), "--json", str(output)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"]},
        check=True,
    )
    return json.loads(output.read_text())


def _wordpress(bench: Bench):
    if not bench.with_wordpress:
        return None
    from tests.support.wordpress import LocalWordPress

    wordpress = LocalWordPress(bench.directory / "wordpress", count=1)
    try:
        wordpress.up()
    except Exception as error:
        print(f"no local WordPress ({error}); approve -> published is not measured", flush=True)
        return None
    return wordpress


def _key_verify(bench: Bench, rounds: int) -> float:
    from agents.services import agent_authenticate

    token = bench.keys["bench-00"]
    agent_authenticate(token=token)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        agent_authenticate(token=token)
        timings.append((time.perf_counter() - started) * 1000)
    value = round(statistics.median(timings), 3)
    print(f"  key verification (steady state)   p50 {value} ms", flush=True)
    return value


def _queue(bench: Bench, small_size: int, large_size: int) -> dict:
    """The review queue page and list_articles, server side, at two sizes: time and SQL queries."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from articles.selectors import article_list

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    result: dict = {"sizes": {}, "queries": {}}
    for size in (small_size, large_size):
        bench.seed_articles(size)
        client.get("/articles/")  # warm
        with CaptureQueriesContext(connection) as page_queries:
            started = time.perf_counter()
            response = client.get("/articles/", {"status": "pending_review"})
            page_ms = (time.perf_counter() - started) * 1000
        assert response.status_code == 200
        with CaptureQueriesContext(connection) as list_queries:
            started = time.perf_counter()
            article_list(status="pending_review", limit=50)
            list_ms = (time.perf_counter() - started) * 1000
        result["sizes"][size] = {
            "queue_page_ms": round(page_ms, 1),
            "queue_page_queries": len(page_queries),
            "list_articles_ms": round(list_ms, 1),
            "list_articles_queries": len(list_queries),
        }
        result["queries"][size] = len(page_queries)
        print(
            f"  queue page at {size:>7} articles   {page_ms:7.1f} ms  {len(page_queries)} queries; "
            f"list_articles {list_ms:6.1f} ms  {len(list_queries)} queries",
            flush=True,
        )
    counts = set(result["queries"].values())
    result["queries_independent_of_size"] = len(counts) == 1
    return result


def _publish(bench: Bench, wordpress, rounds: int) -> dict:
    """approve -> published through the worker, against the same WordPress calls made directly."""
    import uuid

    import requests

    from agents.actors import Actor
    from agents.models import Agent
    from articles.models import Article
    from articles.services import article_approve, article_submit
    from audit.models import AuditLog

    bench.start(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "wpublisher",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    writer, editor = Agent.objects.get(pk="bench-00"), Agent.objects.get(pk="bench-01")
    pipeline, direct, queued_ms, publishing_ms = [], [], [], []
    site = wordpress.sites["wp1"]
    auth = (site["username"], site["app_password"])
    for n in range(rounds):
        article = article_submit(
            agent=writer,
            title=f"Publish bench {n} {uuid.uuid4().hex[:6]}",
            content_markdown="Body",
            tags=["bench"],
            category="Bench",
        )
        started = time.perf_counter()
        article_approve(actor=Actor(agent=editor), article_id=article.pk, expected_revision=article.revision_number)
        while Article.objects.filter(pk=article.pk, status="publishing").exists():
            time.sleep(0.02)
        pipeline.append((time.perf_counter() - started) * 1000)
        stamps = dict(
            AuditLog.objects.filter(article_id=article.pk).values_list("event_type", "timestamp").order_by("id")
        )
        queued_ms.append((stamps["publish_started"] - stamps["article_approved"]).total_seconds() * 1000)
        publishing_ms.append((stamps["publish_succeeded"] - stamps["publish_started"]).total_seconds() * 1000)
        # The same calls, straight to WordPress.
        slug = f"direct-{uuid.uuid4().hex[:10]}"
        started = time.perf_counter()
        with requests.Session() as session:
            session.auth = auth
            base = site["api_url"]
            session.get(f"{base}/posts", params={"slug": slug, "status": "any", "context": "edit"}, timeout=30)
            session.get(f"{base}/categories", params={"search": "Bench", "per_page": 100}, timeout=30)
            session.get(f"{base}/tags", params={"search": "bench", "per_page": 100}, timeout=30)
            # Exactly once: created as a draft, then made public by id (articles.services.publishing._post_ensure_one).
            draft = session.post(
                f"{base}/posts",
                json={"title": slug, "content": "<p>Body</p>", "status": "draft", "slug": slug},
                timeout=30,
            )
            draft.raise_for_status()
            session.post(
                f"{base}/posts/{draft.json()['id']}", json={"status": "publish"}, timeout=30
            ).raise_for_status()
        direct.append((time.perf_counter() - started) * 1000)
    result = {
        "pipeline_p50_ms": round(statistics.median(pipeline), 1),
        "direct_p50_ms": round(statistics.median(direct), 1),
    }
    result["ratio"] = round(result["pipeline_p50_ms"] / result["direct_p50_ms"], 2)
    # Where the pipeline's time goes: waiting for a worker, then the claim and the WordPress calls.
    result["queued_p50_ms"] = round(statistics.median(queued_ms), 1)
    result["publishing_p50_ms"] = round(statistics.median(publishing_ms), 1)
    print(
        f"  approve -> published {result['pipeline_p50_ms']} ms (queued {result['queued_p50_ms']} ms, publishing "
        f"{result['publishing_p50_ms']} ms) vs direct WordPress calls {result['direct_p50_ms']} ms",
        flush=True,
    )
    return result


def _report(bench: Bench) -> None:
    ratios = bench.results["ratios"]
    print("\nRatios against the references (targets in brackets):")
    verdicts = {}
    for name, (op, target) in TARGETS.items():
        value = ratios.get(name)
        met = None if value is None else {"<=": value <= target, ">=": value >= target, "<": value < target}[op]
        verdicts[name] = met
        verdict = "not measured" if met is None else ("ok" if met else "MISSED")
        print(f"  {name:<22} {value!s:>8}   [{op} {target}]  {verdict}")
    print(
        f"  {'queue_queries':<22} {ratios.get('queue_queries')}  [independent of size: "
        f"{bench.results['queue']['queries_independent_of_size']}]"
    )
    bench.results["targets_met"] = verdicts
    text = json.dumps(bench.results, indent=2, default=str) + "\n"
    if bench.smoke:
        outputs = [ROOT / "bench" / "results-smoke.json"]
    else:
        # The latest run, and the latest on this database (the README shows both set-ups).
        outputs = [ROOT / "bench" / "results.json", ROOT / "bench" / f"results-{_setup(bench)}.json"]
    for output in outputs:
        output.write_text(text)
    print(f"\nwritten to {', '.join(str(o.relative_to(ROOT)) for o in outputs)}")


def _setup(bench: Bench) -> str:
    environment = bench.results["environment"]
    if environment["database"] == "sqlite":
        return "embedded"
    return environment["database"] + ("-redis" if environment["redis"] else "")


if __name__ == "__main__":
    main()
