"""The audit log at scale on PostgreSQL: the queries the console, the admin and the MCP audit resource
make, and retention deletes, with the table as the app creates it (indexes, batched deletes) and, for
comparison, the seed's monthly partitions (section 9.1.2).

Runs in a scratch database on the server of DATABASE_URL, which it creates and drops:

    DATABASE_URL=postgresql://127.0.0.1/postgres .venv/bin/python bench/audit_scale.py [--rows N] [--json FILE]

The rows span 91 days, as a table kept at its size by the default 90-day retention would: the daily
retention run then deletes one day of rows. Timestamps rise with ids, as they do when rows are appended.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCRATCH = "wpublisher_bench_audit"
DAYS = 91
PARTITIONED = "audit_auditlog_monthly"


def _scratch_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{SCRATCH}"))


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def _fill(cursor, rows: int) -> None:
    """`rows` audit rows over DAYS days: mostly routine events, a few warnings and errors, rare ones."""
    cursor.execute(
        f"""
        INSERT INTO audit_auditlog (event_type, category, severity, agent_id, article_id, site_id, username, message,
                             metadata, ip_address, user_agent, timestamp)
        SELECT
            CASE WHEN g %% 100000 = 0 THEN 'config_error'
                 WHEN g %% 100 = 0 THEN 'publish_failed'
                 WHEN g %% 20 = 0 THEN 'auth_failed'
                 ELSE (ARRAY['article_submitted', 'article_approved', 'publish_started', 'publish_succeeded',
                             'auth_succeeded', 'article_revised'])[1 + g %% 6] END,
            'content',
            CASE WHEN g %% 100 = 0 THEN 'error' WHEN g %% 20 = 0 THEN 'warning' ELSE 'info' END,
            'agent-' || (g %% 50),
            CASE WHEN g %% 20 = 0 THEN NULL ELSE g / 4 END,
            'site-' || (g %% 5),
            '',
            'event ' || g,
            '{{}}'::jsonb,
            '127.0.0.1',
            'bench',
            now() - interval '{DAYS} days' + (interval '{DAYS} days') * (g::float8 / %(rows)s)
        FROM generate_series(1, %(rows)s) AS g
        """,  # noqa: S608 - DAYS is this script's constant
        {"rows": rows},
    )


def _timed(run, repeat: int = 5) -> float:
    """Median milliseconds of `run()` over `repeat` runs, after one warm-up."""
    run()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 2)


def _listing_queries() -> dict:
    """The queries users make, built by the app's own code: name -> queryset."""
    from datetime import timedelta

    from django.utils import timezone

    from audit.selectors import audit_log_list

    middle = timezone.now() - timedelta(days=DAYS // 2)
    return {
        "console, newest page": audit_log_list().order_by("-id")[:101],
        "console, one agent": audit_log_list(agent_id="agent-7").order_by("-id")[:101],
        "console, one event type (rare)": audit_log_list(event_type="config_error").order_by("-id")[:101],
        "console, errors": audit_log_list(severity="error").order_by("-id")[:101],
        "console, one hour": audit_log_list()
        .filter(timestamp__gte=middle, timestamp__lt=middle + timedelta(hours=1))
        .order_by("-id")[:101],
        "console, next page (keyset)": audit_log_list().filter(id__lt=5_000).order_by("-id")[:101],
        "MCP resource, page 1": audit_log_list()[:51],
        "MCP resource, page 100, warnings": audit_log_list(severity="warning")[4950:5001],
    }


def _measure_listings(table: str) -> dict:
    from django.db import connection

    results = {}
    for name, queryset in _listing_queries().items():
        sql, params = queryset.query.sql_with_params()
        sql = sql.replace('"audit_auditlog"', f'"{table}"')

        def run(sql=sql, params=params) -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.fetchall()

        results[name] = _timed(run)
    return results


def _reads_during(work) -> tuple[float, dict]:
    """Run `work()`; meanwhile read the console's newest page in a loop. Returns (seconds, read timings)."""
    from django.db import connection

    ready, done = threading.Event(), threading.Event()
    reads: list[float] = []
    sql, params = _listing_queries()["console, newest page"].query.sql_with_params()

    def reader() -> None:
        with connection.cursor() as cursor:  # connect before measuring
            cursor.execute(sql, params)
        ready.set()
        while not done.is_set():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.fetchall()
            reads.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
        connection.close()

    thread = threading.Thread(target=reader)
    thread.start()
    ready.wait()
    started = time.perf_counter()
    try:
        work()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        thread.join()
    ordered = sorted(reads) or [float("nan")]
    return round(seconds, 2), {
        "reads": len(reads),
        "read_p50_ms": round(statistics.median(ordered), 2),
        "read_max_ms": round(ordered[-1], 2),
    }


def _partitioned_copy(cursor) -> None:
    """The seed's layout: the same table partitioned by month of timestamp (its key joins the primary key)."""
    cursor.execute(
        f"""
        CREATE TABLE {PARTITIONED} (LIKE audit_auditlog INCLUDING DEFAULTS) PARTITION BY RANGE (timestamp);
        ALTER TABLE {PARTITIONED} ADD PRIMARY KEY (id, timestamp);
        """
    )
    cursor.execute(
        "SELECT date_trunc('month', min(timestamp)), date_trunc('month', max(timestamp)) FROM audit_auditlog"
    )
    first, last = cursor.fetchone()
    month = first
    while month <= last:
        cursor.execute("SELECT %s::timestamptz + interval '1 month'", [month])
        following = cursor.fetchone()[0]
        name = f"{PARTITIONED}_{month:%Y_%m}"
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {PARTITIONED} FOR VALUES FROM (%s) TO (%s)", [month, following]
        )
        month = following
    cursor.execute(f"INSERT INTO {PARTITIONED} SELECT * FROM audit_auditlog")  # noqa: S608 - a constant
    for columns in ("timestamp", "agent_id, timestamp DESC", "event_type, timestamp DESC", "site_id, timestamp DESC"):
        cursor.execute(f"CREATE INDEX ON {PARTITIONED} ({columns})")
    cursor.execute(f"CREATE INDEX ON {PARTITIONED} (article_id, timestamp DESC)")
    cursor.execute(f"ANALYZE {PARTITIONED}")


def run(rows: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audit.models import AuditLog
    from audit.services import audit_retention_apply

    call_command("migrate", verbosity=0)
    result: dict = {"rows": rows, "days": DAYS}
    with connection.cursor() as cursor:
        started = time.perf_counter()
        _fill(cursor, rows)
        cursor.execute("ANALYZE audit_auditlog")
        result["fill_seconds"] = round(time.perf_counter() - started, 1)
        cursor.execute("SELECT pg_total_relation_size('audit_auditlog')")
        result["table_mb"] = round(cursor.fetchone()[0] / 2**20)

    indexed = {"listing_ms": _measure_listings("audit_auditlog")}
    # The daily retention run: the oldest day goes, in batches, while the console keeps reading.
    before = AuditLog.objects.count()
    seconds, reads = _reads_during(lambda: audit_retention_apply(days=DAYS - 1))
    deleted = before - AuditLog.objects.count()
    indexed["daily_retention"] = {"deleted": deleted, "seconds": seconds, **reads}
    indexed["listing_ms_after_retention"] = _measure_listings("audit_auditlog")

    with connection.cursor() as cursor:
        started = time.perf_counter()
        _partitioned_copy(cursor)
        partitioned: dict = {"build_seconds": round(time.perf_counter() - started, 1)}
        partitioned["listing_ms"] = _measure_listings(PARTITIONED)
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass ORDER BY 1",
            [PARTITIONED],
        )
        oldest = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {oldest}")  # noqa: S608 - a partition's name, from the catalog
        month_rows = cursor.fetchone()[0]

        def drop_oldest_month() -> None:
            with connection.cursor() as dropping:
                dropping.execute(f"ALTER TABLE {PARTITIONED} DETACH PARTITION {oldest}")
                dropping.execute(f"DROP TABLE {oldest}")

        seconds, reads = _reads_during(drop_oldest_month)
        partitioned["monthly_drop"] = {"deleted": month_rows, "seconds": seconds, **reads}
    result["indexes_and_batched_deletes"] = indexed
    result["monthly_partitions"] = partitioned
    result["choice"] = _choose(indexed, rows)
    return result


def _choose(indexed: dict, rows: int) -> str:
    """Partitions cost a composite primary key, partition upkeep and coarser retention (a month goes at
    once); they are worth it only if the plain table is slow where users wait."""
    slowest_listing = max(indexed["listing_ms"].values())
    retention = indexed["daily_retention"]
    if slowest_listing < 100 and retention["read_max_ms"] < 250:
        return (
            f"indexes and batched deletes: every listing under 100 ms at {rows:,} rows (slowest "
            f"{slowest_listing} ms), and the daily retention ({retention['deleted']:,} rows in "
            f"{retention['seconds']} s) never held a reader more than {retention['read_max_ms']} ms"
        )
    return f"monthly partitions: with indexes alone a listing took {slowest_listing} ms"


def _print(result: dict) -> None:
    indexed, partitioned = result["indexes_and_batched_deletes"], result["monthly_partitions"]
    print(
        f"audit log: {result['rows']:,} rows over {result['days']} days ({result['table_mb']} MB, "
        f"filled in {result['fill_seconds']} s)"
    )
    print(f"  {'query':<36} {'indexes':>10} {'after retention':>16} {'partitions':>11}")
    for name, ms in indexed["listing_ms"].items():
        after = indexed["listing_ms_after_retention"][name]
        print(f"  {name:<36} {ms:>8} ms {after:>13} ms {partitioned['listing_ms'][name]:>8} ms")
    daily, drop = indexed["daily_retention"], partitioned["monthly_drop"]
    print(
        f"  daily retention, batched deletes: {daily['deleted']:,} rows in {daily['seconds']} s; console reads "
        f"meanwhile p50 {daily['read_p50_ms']} ms, max {daily['read_max_ms']} ms"
    )
    print(
        f"  monthly partitions, drop oldest month: {drop['deleted']:,} rows in {drop['seconds']} s; reads "
        f"p50 {drop['read_p50_ms']} ms, max {drop['read_max_ms']} ms"
    )
    print(f"  choice: {result['choice']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("the audit benchmark needs DATABASE_URL to name a PostgreSQL server")
    _admin(url, f"DROP DATABASE IF EXISTS {SCRATCH}")
    _admin(url, f"CREATE DATABASE {SCRATCH}")
    os.environ.update(DATABASE_URL=_scratch_url(url), DJANGO_SETTINGS_MODULE="wpublisher.settings", LOG_LEVEL="WARNING")
    try:
        result = run(args.rows)
    finally:
        from django.db import connections

        connections.close_all()
        _admin(url, f"DROP DATABASE IF EXISTS {SCRATCH}")
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
