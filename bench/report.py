"""Markdown tables of a benchmark result, as the README shows them.

.venv/bin/python bench/report.py bench/results-embedded.json
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


if __name__ == "__main__":
    print(report(json.loads(Path(sys.argv[1]).read_text())))
