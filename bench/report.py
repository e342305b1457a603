"""Markdown tables of a benchmark or soak result, as the README shows them.

.venv/bin/python bench/report.py bench/results-embedded.json
.venv/bin/python bench/report.py bench/results-soak-embedded.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = {
    "ratio_read_p50": "≤ 1.3",
    "ratio_submit_p50": "≤ 2.0",
    "ratio_throughput_50": "≥ 0.6",
    "key_verify_ms": "< 1",
    "ratio_publish": "≤ 1.2",
}


def report(results: dict) -> str:
    lines = ["| measurement | agents | p50 ms | p95 ms | calls/s | errors |", "| --- | --- | --- | --- | --- | --- |"]
    measurements = results["measurements"]
    for name in sorted(measurements, key=lambda n: (n.split("@")[0], int(n.split("@")[1]))):
        tool, agents = name.split("@")
        m = measurements[name]
        lines.append(f"| {tool} | {agents} | {m['p50_ms']} | {m['p95_ms']} | {m['throughput']} | {m['errors']} |")
    lines += ["", "| ratio or figure | value | target |", "| --- | --- | --- |"]
    ratios, met = results["ratios"], results.get("targets_met", {})
    for name, target in TARGETS.items():
        verdict = {True: "met", False: "missed", None: "not measured"}[met.get(name)]
        lines.append(f"| {name} | {ratios.get(name, '-')} | {target}: {verdict} |")
    queue = results["queue"]
    sizes = list(queue["sizes"])
    page = " / ".join(str(queue["sizes"][s]["queue_page_queries"]) for s in sizes)
    page_ms = " / ".join(str(queue["sizes"][s]["queue_page_ms"]) for s in sizes)
    listing_ms = " / ".join(str(queue["sizes"][s]["list_articles_ms"]) for s in sizes)
    independent = "met" if queue["queries_independent_of_size"] else "missed"
    sizes_text = " / ".join(f"{int(s):,}" for s in sizes)
    lines.append(
        f"| queue page queries at {sizes_text} articles | {page} ({page_ms} ms) | independent of size: {independent} |"
    )
    lines.append(f"| list_articles at {sizes_text} articles | 1 query, {listing_ms} ms | |")
    if publish := results.get("publish"):
        lines.append(
            f"| approve → published (p50) | {publish['pipeline_p50_ms']} ms ({publish['queued_p50_ms']} ms queued, "
            f"{publish['publishing_p50_ms']} ms publishing) against {publish['direct_p50_ms']} ms direct | |"
        )
    if pool := results.get("pool"):
        lines += [
            "",
            "| psycopg pool (DATABASE_POOL_MAX), 50 agents | p50 ms | p95 ms | calls/s |",
            "| --- | --- | --- | --- |",
        ]
        for name, m in pool.items():
            label = name.replace("@pool=0", ", no pool (persistent)").replace("@pool=", ", pool ")
            lines.append(f"| {label} | {m['p50_ms']} | {m['p95_ms']} | {m['throughput']} |")
    if audit := results.get("audit"):
        indexed, partitioned = audit["indexes_and_batched_deletes"], audit["monthly_partitions"]
        lines += [
            "",
            f"| audit log, {audit['rows']:,} rows over {audit['days']} days ({audit['table_mb']} MB) | indexes | "
            "after a retention run | monthly partitions |",
            "| --- | --- | --- | --- |",
        ]
        for name, ms in indexed["listing_ms"].items():
            lines.append(
                f"| {name} | {ms} ms | {indexed['listing_ms_after_retention'][name]} ms | "
                f"{partitioned['listing_ms'][name]} ms |"
            )
        daily, drop = indexed["daily_retention"], partitioned["monthly_drop"]
        lines.append(
            f"| retention | one day ({daily['deleted']:,} rows) in {daily['seconds']} s, batched; reads meanwhile "
            f"p50 {daily['read_p50_ms']} ms, max {daily['read_max_ms']} ms | | oldest month ({drop['deleted']:,} "
            f"rows) dropped in {drop['seconds']} s |"
        )
        lines += ["", f"Choice: {audit['choice']}."]
    return "\n".join(lines)


def soak_report(results: dict) -> str:
    """The figures of a `make soak` run (bench/soak.py): one table of the phases' work and checks, one of
    each tool's latency over the soak."""
    phases = results["phases"]
    sizes = results["sizes"]
    lines = ["| phase | what ran | figures | checks |", "| --- | --- | --- | --- |"]
    if soak := phases.get("soak"):
        f = soak["figures"]
        edits = ", ".join(f"{e['reload_s']} s" if e["applied"] else "not applied" for e in f.get("config_edits", []))
        lines.append(
            f"| soak | {round(soak['seconds'] / 60, 1):g} min, {sizes['soak_agents']} agents submitting and polling, "
            f"reviewer approving 70 % / rejecting, /health every {sizes['health_every']:g} s, 2 config edits "
            f"(reloaded in {edits or '-'}) | {_publishing(f)}; restarts {sum(f['restarts'].values())}, "
            f"5xx {f['5xx']}, failed calls {sum(f.get('errors', {}).values())} | {_checks(soak)} |"
        )
    if faults := phases.get("faults"):
        f, plan = faults["figures"], results["faults"]
        wp2, wp3 = plan["wp2"], plan["wp3"]
        lines.append(
            f"| faults | {f['approved']} articles approved; one site behind a proxy answering "
            f"{wp2['error_share']:.0%} 5xx and holding {wp2['timeout_share']:.0%} past the timeout, refusing "
            f"{wp2['create_4xx_share']:.0%} of creates with 400; one site {wp3['delay']:g} s slower per request | "
            f"{_publishing(f)}; {f.get('manual_retries', 0)} failed publishes retried from the console, "
            f"{f.get('creates_refused_4xx', 0)} creates refused | {_checks(faults)} |"
        )
    if kills := phases.get("kill-worker"):
        f = kills["figures"]
        lines.append(
            f"| kill-worker | {f['approved']} publishes, the worker SIGKILLed {len(f.get('kills', []))} times "
            f"(main process and pool process in turn; {f.get('kills_mid_publish', 0)} while articles were publishing, "
            f"{f.get('kills_mid_request', 0)} with a WordPress request in flight) | "
            f"{_publishing(f)}; worker restarts {f['restarts'].get('worker', 0)} | {_checks(kills)} |"
        )
    if restart := phases.get("restart-web"):
        f = restart["figures"]
        downs = ", ".join(f"{r['down_s']} s" for r in f.get("web_restarts", []))
        lines.append(
            f"| restart-web | {sizes['restart_agents']} agents submitting for {restart['seconds']} s; web restarts "
            f"(SIGTERM): {len(f.get('web_restarts', []))}, down {downs or '-'} | {f['acknowledged']} acknowledged, "
            f"{f['stored']} stored; failed attempts, each sent again with its idempotency key: "
            f"{f['answers_503']} answered 503, {f.get('answers_5xx_other', 0)} other 5xx, "
            f"{f.get('answers_no_connection', 0)} without an answer, {f.get('answers_session_gone', 0)} sessions gone "
            f"(404) | {_checks(restart)} |"
        )
    if soak and (calls := soak["figures"].get("calls")):
        flat = soak["figures"].get("p95_flat", {})
        series = soak["figures"].get("p95_by_bucket", {})
        bucket = soak["figures"].get("bucket_seconds", 60)
        lines += [
            "",
            f"| soak: tool | calls | p50 ms | p95 ms | p95 first → last {bucket:g} s buckets | p95 worst bucket |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for tool, c in calls.items():
            if tool in flat or tool in series:
                trend = f"{flat[tool]['first_p95_ms']:.1f} → {flat[tool]['last_p95_ms']:.1f}" if tool in flat else "-"
                worst = max((v for v in series.get(tool, []) if v is not None), default=None)
                lines.append(f"| {tool} | {c['n']} | {c['p50_ms']} | {c['p95_ms']} | {trend} | {worst or '-'} |")
    return "\n".join(lines)


def _publishing(f: dict) -> str:
    return (
        f"{f['acknowledged']} submitted, {f['stored']} stored, {f['approved']} approved, {f['published']} published, "
        f"{f['posts_public']} posts ({f.get('duplicate_posts', 0)} duplicate, {f.get('lost_posts', 0)} lost, "
        f"{f['posts_trashed_audited']} late duplicates trashed and audited)"
    )


def _checks(phase: dict) -> str:
    checks = phase["checks"]
    failed = [name for name, c in checks.items() if c.get("judged", True) and not c["ok"]]
    return f"{len(checks) - len(failed)} of {len(checks)} met" + (f"; missed: {', '.join(failed)}" if failed else "")


if __name__ == "__main__":
    loaded = json.loads(Path(sys.argv[1]).read_text())
    print(soak_report(loaded) if "phases" in loaded else report(loaded))
