"""`bench/markdown_worst.py`: agent Markdown at its worst, and what it costs the other agents.

1. Shapes: the worst inputs we know (cmark's test/pathological_tests.py list, the issue's bracket floods, the
   shapes on which html5ever, nh3's parser, is quadratic, and more) at 32, 64, 128 and 256 KiB, rendered by
   articles.rendering.markdown_render (median of 3 runs), and at 256 KiB by the renderer it replaced
   (Python-Markdown, then the same nh3 cleaner) when `markdown` is importable. The old renderer runs in a
   child process killed after --old-timeout seconds; when it times out at 256 KiB, its time there is
   extrapolated from the largest sizes it finished (power law through the last two points). Realistic
   articles too.
2. Isolation: the real server (daphne, its own data dir, SQLite), N agents submitting worst-case shapes in a
   loop while another agent calls get_article_status back to back; its p50/p95 against a quiet baseline,
   for several sizes of the content lane (MCP_CONTENT_WRITE_THREADS, of MCP_WORKER_THREADS=16).

Prints tables and writes bench/results-markdown.json.

    .venv/bin/python bench/markdown_worst.py [--smoke] [--old-timeout 5] [--lanes 2,4,8] [--flooders 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")

KIB = 1024
LIMIT = 256 * KIB
SIZES = (32 * KIB, 64 * KIB, 128 * KIB, LIMIT)
RESULTS = ROOT / "bench" / "results-markdown.json"


# --- the shapes ---------------------------------------------------------------------------------------------


def fill(unit: str, size: int) -> str:
    """`unit` repeated to exactly `size` characters."""
    return (unit * (size // len(unit) + 1))[:size]


def nested(opening: str, middle: str, closing: str, size: int) -> str:
    """`opening` k times, `middle`, `closing` k times: as deep as `size` allows."""
    k = (size - len(middle)) // (len(opening) + len(closing))
    return opening * k + middle + closing * k


def staircase(line: Callable[[int], str], size: int) -> str:
    """line(0) + line(1) + ... while it fits in `size`."""
    parts, total = [], 0
    for n in itertools.count():
        part = line(n)
        if total + len(part) > size:
            return "".join(parts)
        parts.append(part)
        total += len(part)
    raise AssertionError("unreachable")


def reference_collisions(size: int) -> str:
    """Link reference labels that collide in cmark's 16-bucket hash (from cmark's own pathological tests)."""

    def collides(label: str) -> bool:
        h = 0
        for c in label:
            h = (ord(c) + ((h << 6) & 0xFFFFFFFF) + ((h << 16) & 0xFFFFFFFF) - h) & 0xFFFFFFFF
        return h % 16 == 0

    labels = (f"x{n}" for n in itertools.count() if collides(f"x{n}"))
    first = next(labels)
    return staircase(lambda _: f"[{next(labels)}]: /url\n\n[{first}]\n\n", size)


def wide_table(size: int) -> str:
    """A table with as many columns as fit."""
    columns = (size - 8) // 4
    return "|a" * columns + "|\n" + "|-" * columns + "|\n|x|\n"


def wide_header_short_rows(size: int) -> str:
    """A header as wide as a quarter of `size` allows, then one-cell rows that a table pads to its width: the
    output would be rows x columns (cmark-gfm caps the padding)."""
    columns = size // 8
    head = "|a" * columns + "\n" + "|-" * columns + "\n"
    return head + "x\n" * ((size - len(head)) // 2)


def markdown_shapes(size: int) -> dict[str, str]:
    """Markdown constructs that make parsers quadratic or worse, `size` characters each."""
    return {
        # The issue's: Python-Markdown took 9.8 s on "[" * 8000 and 17.6 s on "![" * 16000.
        "[ flood": fill("[", size),
        "![ flood": fill("![", size),
        # cmark's test/pathological_tests.py
        "nested strong emph": nested("*a **a ", "b", " a** a*", size),
        "emph closers without openers": fill("a_ ", size),
        "emph openers without closers": fill("_a ", size),
        "link closers without openers": fill("a]", size),
        "link openers without closers": fill("[a", size),
        "mismatched openers and closers": fill("*a_ ", size),
        "cmark issue 389": nested("*a ", "", "_a*_ ", size),
        "openers and closers multiple of 3": "a**b" + fill("c* ", size - 4),
        "link openers and emph closers": fill("[ a_", size),
        "pattern [ (]( repeated": fill("[ (](", size),
        "pattern ![[]() repeated": fill("![[]()", size),
        "nested brackets": nested("[", "a", "]", size),
        "nested block quotes": nested("> ", "a", "", size),
        "deeply nested lists": staircase(lambda n: "  " * n + "* a\n", size),
        "backticks": staircase(lambda n: "e" + "`" * (n + 1), size),
        "unclosed links A": fill("[a](<b", size),
        "unclosed links B": fill("[a](b", size),
        "unclosed <!--": "</" + fill("<!--", size - 2),
        "empty lines in nested lists": nested("- ", "x", "\n", size),
        "empty lines in nested lists in quote": "> " + nested("- ", "x\n", ">\n", size - 2),
        "emph in deep quote": nested(">", "", "a*", size),
        "nested inlines": nested("*", "a", "*", size),
        "reference collisions": reference_collisions(size),
        "pathological tables": fill("aaa\rbbb\n-\v\n", size),
        # more of the same families
        "nested links": nested("[", "a", "](u)", size),
        "nested images": nested("![", "a", "](u)", size),
        "unclosed link titles": fill('[a](b "', size),
        "emph alternation": fill("*_", size),
        "strong alternation": fill("**__", size),
        "deeply nested ordered lists": staircase(lambda n: "   " * n + "1. a\n", size),
        "backtick pairs": fill("` ", size),
        "< flood": fill("<", size),
        "unclosed <?": fill("<?", size),
        "unclosed CDATA": fill("<![CDATA[", size),
        "unclosed declarations": fill("<!X", size),
        "unclosed attributes": fill('<a href="', size),
        "autolink openers": fill("<http://a", size),
        "link reference definitions": staircase(lambda n: f"[r{n}]: /u{n}\n", size // 2) + fill("[r1] ", size // 2),
        "undefined references": fill("[x][y] ", size),
        "table, many columns": wide_table(size),
        "table, wide header then short rows": wide_header_short_rows(size),
        "table, many rows": "|a|b|\n|-|-|\n" + fill("|x|y|\n", size - 12),
        "footnote references": fill("[^1]", size - 12) + "\n\n[^1]: x\n",
        "footnote definitions": staircase(lambda n: f"[^{n}]: x\n", size // 2)
        + staircase(lambda n: f"[^{n}]", size // 2),
        "nested footnotes": staircase(lambda n: f"[^{n}]: [^{n + 1}]\n", size),
        "[^ flood": fill("[^", size),
        "entity flood": fill("&amp;", size),
        "numeric entities": fill("&#123456789;", size),
        "& flood": fill("&", size),
        "Latin-1 flood (°)": fill("°", size // 2),
        "backslash flood": fill("\\", size),
        "setext headings": fill("a\n=\n", size),
        "unclosed fences": fill("```\n", size),
        "hard breaks": fill("a  \n", size),
        "one long line": fill("a", size),
    }


def html_shapes(size: int) -> dict[str, str]:
    """Raw HTML that costs html5ever (nh3's parser) quadratic time, or forces the slow sanitizing path."""
    return {
        "raw <div> flood": fill("<div>\n", size),
        "raw <b> flood": fill("<b>x", size),
        "raw <b title=n>, unclosed": staircase(lambda n: f"<b title={n}>", size),
        "raw <b title=n>x</b>": staircase(lambda n: f"<b title={n}>x</b>", size),
        "raw misnested <span><div></span>": fill("<span><div></span>", size),
        "raw <p> flood": fill("<p>x", size),
        "raw stray end tags": "<div>" + fill("</x>", size - 5),
        "raw &a in an HTML block": "<div>" + fill("&a", size - 5),
        "raw &deg; in an HTML block": "<div>" + fill("&deg;", size - 5),
        "raw attribute of &": '<a title="' + fill("&", size - 20) + '">x</a>',
        "raw tag with distinct attributes": "<b " + staircase(lambda n: f"a{n} ", size - 10) + ">x</b>",
        "raw text between table rows": "<table>" + fill("x<b>y</b>", size - 7),
        "table rows + one raw tag": "<b></b>\n\n|a|b|\n|-|-|\n" + fill("|x|y|\n", size - 25),
        "emph alternation + one raw tag": "<b></b>" + fill("*_", size - 7),
    }


def worst_shapes(size: int) -> dict[str, str]:
    return markdown_shapes(size) | html_shapes(size)


def realistic_article(size: int) -> str:
    """A technical article as agents write them (headings, prose, lists, code, a table, links, footnotes, a
    little raw HTML), repeated up to `size`."""
    section = (
        "## Deploying a Django app behind nginx\n\n"
        "Django's *development server* is not meant for production. In this guide we put **gunicorn** behind "
        "[nginx](https://nginx.org/) and keep static files on a CDN[^cdn]. Costs: ~$5/month, 20 °C in the "
        "server room, café-grade Wi-Fi & patience.\n\n"
        "1. Install the packages:\n\n   ```bash\n   sudo apt install nginx python3-venv\n   ```\n"
        "2. Create a virtual environment and install `gunicorn`.\n"
        "3. Point nginx at the socket.\n\n"
        "> Tip: press <kbd>Ctrl</kbd>+<kbd>C</kbd> to stop the server.\n\n"
        "| Setting | Value | Why |\n|:--|:-:|--:|\n"
        "| workers | 3 | 2 \u00d7 cores + 1 |\n| timeout | 30 | slow clients |\n\n"
        "```python\nfrom django.http import HttpResponse\n\n\ndef health(request):\n"
        '    return HttpResponse("ok" if 1 < 2 else "no")\n```\n\n'
        '- See the [docs](https://docs.djangoproject.com/ "Django docs") and ![diagram](https://example.com/a.png)\n'
        '- Read about <abbr title="Web Server Gateway Interface">WSGI</abbr> first.\n\n'
        "[^cdn]: Any CDN works; we used one with a free tier.\n\n"
    )
    return fill(section, size)


def realistic_articles() -> dict[str, str]:
    articles = {f"technical article, {size // KIB} KiB": realistic_article(size) for size in (4 * KIB, 32 * KIB, LIMIT)}
    articles["this README"] = (ROOT / "README.md").read_text()[:LIMIT]
    return articles


# --- the renderers --------------------------------------------------------------------------------------------


def new_render(text: str) -> str:
    """markdown_render; 'refused' when it answers ValidationFailed (nesting or HTML size past the limits)."""
    from articles.rendering import markdown_render
    from core.exceptions import ValidationFailed

    try:
        markdown_render(text)
        return "ok"
    except ValidationFailed:
        return "refused"


def old_render(text: str) -> str:
    """The renderer markdown_render used before: Python-Markdown with the same extensions, then nh3."""
    import markdown
    from markdown.extensions.tables import TableExtension

    from articles.rendering import _cleaner

    extensions = [TableExtension(use_align_attribute=True), "fenced_code", "footnotes", "sane_lists"]
    _cleaner.clean(markdown.Markdown(extensions=extensions, output_format="html").convert(text))
    return "ok"


def old_available() -> bool:
    try:
        import markdown  # noqa: F401
    except ImportError:
        return False
    return True


def time_new(text: str, repeat: int = 3) -> tuple[float, str]:
    timings, outcome = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = new_render(text)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), outcome


def _old_child(connection, name: str, size: int, text: str | None) -> None:
    text = text if text is not None else worst_shapes(size)[name]
    started = time.perf_counter()
    try:
        old_render(text)
    except Exception as error:  # reported: the server would have failed the call
        connection.send(f"{type(error).__name__} after {time.perf_counter() - started:.1f} s")
        return
    connection.send(time.perf_counter() - started)


def time_old(name: str, size: int, timeout: float, text: str | None = None) -> float | str | None:
    """The old renderer's time in a child process; None when it did not finish within `timeout`, the error
    when it failed (Python-Markdown raises RecursionError on deep nesting)."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_old_child, args=(sending, name, size, text), daemon=True)
    child.start()
    sending.close()
    try:
        return receiving.recv() if receiving.poll(timeout) else None
    except EOFError:
        return "crashed"
    finally:
        child.kill()
        child.join()


def old_at_limit(name: str, timeout: float) -> dict:
    """The old renderer at 256 KiB; when that times out, measured at smaller sizes and extrapolated."""
    seconds = time_old(name, LIMIT, timeout)
    if isinstance(seconds, str):
        return {"seconds": None, "estimated": False, "note": seconds}
    if seconds is not None:
        return {"seconds": round(seconds, 4), "estimated": False}
    points: list[tuple[int, float]] = []
    for size in (4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB):
        seconds = time_old(name, size, timeout)
        if not isinstance(seconds, float):
            break
        points.append((size, seconds))
    if len(points) < 2:
        where = f"{points[-1][0] // KIB * 2 if points else 4} KiB"
        return {"seconds": None, "estimated": True, "note": f"over {timeout:g} s at {where}"}
    (s1, t1), (s2, t2) = points[-2:]
    exponent = min(3.0, max(1.0, math.log(max(t2, 1e-6) / max(t1, 1e-6)) / math.log(s2 / s1)))
    return {
        "seconds": round(t2 * (LIMIT / s2) ** exponent, 1),
        "estimated": True,
        "exponent": round(exponent, 2),
        "measured": {f"{s // KIB} KiB": round(t, 3) for s, t in points},
    }


def measure_shapes(*, smoke: bool, old_timeout: float) -> dict:
    sizes = (4 * KIB, 8 * KIB) if smoke else SIZES
    names = list(worst_shapes(1024))
    if smoke:
        names = names[:6] + names[-3:]
    with_old = old_available()
    results: dict = {}
    first_label, last_label = f"new @{sizes[0] // KIB}K", f"new @{sizes[-1] // KIB}K"
    print(f"{'shape':<38} {first_label:>10} {last_label:>10} {'x':>6} {'old @256K':>14}")
    for name in names:
        row: dict = {"new": {}}
        for size in sizes:
            seconds, outcome = time_new(worst_shapes(size)[name])
            row["new"][f"{size // KIB} KiB"] = {"seconds": round(seconds, 5), "outcome": outcome}
        first, last = row["new"][f"{sizes[0] // KIB} KiB"], row["new"][f"{sizes[-1] // KIB} KiB"]
        row["scaling"] = round(last["seconds"] / max(first["seconds"], 1e-6), 1)  # 8 when linear
        if with_old and not smoke:
            row["old"] = old_at_limit(name, old_timeout)
        results[name] = row
        old = row.get("old", {})
        old_text = (
            "-"
            if not old
            else f"{'~' if old['estimated'] else ''}{old['seconds']} s"
            if old["seconds"] is not None
            else old.get("note", "?")
        )
        print(
            f"{name:<38} {first['seconds'] * 1000:>8.1f}ms {last['seconds'] * 1000:>8.1f}ms "
            f"{row['scaling']:>6} {old_text:>14}  {last['outcome']}",
            flush=True,
        )
    return results


def measure_articles(*, old_timeout: float) -> dict:
    results = {}
    for name, text in realistic_articles().items():
        seconds, outcome = time_new(text, repeat=5)
        old = time_old(name, 0, old_timeout, text) if old_available() else None
        old = old if isinstance(old, float) else None
        results[name] = {
            "bytes": len(text.encode()),
            "new_seconds": round(seconds, 5),
            "old_seconds": round(old, 5) if old is not None else None,
            "outcome": outcome,
        }
        print(
            f"{name:<38} {len(text.encode()):>8} B  new {seconds * 1000:7.2f} ms  "
            f"old {old * 1000 if old else float('nan'):7.2f} ms"
        )
    return results


# --- isolation on the real server ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary_ms(latencies: list[float]) -> dict:
    return {
        "calls": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
    }


async def _isolation_round(url: str, keys: dict[str, str], *, flooders: int, quiet: float, flood: float) -> dict:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    def client(agent_id: str):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {keys[agent_id]}"}, timeout=300)
        return http, Client(streamable_http_client(url, http_client=http), mode="legacy")

    shapes = list(worst_shapes(LIMIT).values())
    http, reader = client("reader")
    async with http, reader:
        mine = await reader.call_tool("submit_article", {"title": "Reader's", "content_markdown": "# Mine\n\nBody"})
        status_args = {"article_id": mine.structured_content["id"]}

        async def poll(until: float) -> list[float]:
            latencies = []
            while time.monotonic() < until:
                started = time.monotonic()
                result = await reader.call_tool("get_article_status", status_args)
                assert not result.is_error, result.content[0].text
                latencies.append(time.monotonic() - started)
            return latencies

        quiet_latencies = await poll(time.monotonic() + quiet)
        ordinary = await _ordinary_submissions(client, flooders, seconds=quiet)
        submissions: list[tuple[float, str]] = []
        stop = time.monotonic() + flood

        async def flooder(index: int) -> None:
            http, agent = client(f"flood-{index:02d}")
            async with http, agent:
                for n in itertools.count():
                    if time.monotonic() >= stop:
                        return
                    markdown = shapes[(index * 7 + n) % len(shapes)]
                    started = time.monotonic()
                    result = await agent.call_tool(
                        "submit_article", {"title": f"Flood {index}-{n}", "content_markdown": markdown}
                    )
                    text = result.content[0].text if result.is_error else ""
                    outcome = "ok" if not result.is_error else "refused" if "VALIDATION_ERROR" in text else text
                    submissions.append((time.monotonic() - started, outcome))

        flood_started = time.monotonic()
        tasks = [asyncio.create_task(flooder(index)) for index in range(flooders)]
        await asyncio.sleep(1.0)  # the flood under way
        flood_latencies = await poll(stop)
        await asyncio.gather(*tasks)
        drained = time.monotonic() - flood_started
    outcomes = [outcome for _, outcome in submissions]
    return {
        "quiet": summary_ms(quiet_latencies),
        "ordinary_submissions": ordinary,
        "during_flood": summary_ms(flood_latencies),
        "flood": {
            "submissions": len(submissions),
            "stored": outcomes.count("ok"),
            "refused": outcomes.count("refused"),
            "errors": [o for o in outcomes if o not in ("ok", "refused")][:5],
            "submission": summary_ms([seconds for seconds, _ in submissions]),
            "seconds_until_drained": round(drained, 1),
        },
    }


async def _ordinary_submissions(client: Callable, agents: int, *, seconds: float) -> dict:
    """`agents` agents submitting a short article back to back for `seconds`: what the lane costs the
    ordinary traffic (bench/run.py measures the same at 50 agents)."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def agent(index: int) -> None:
        http, session = client(f"flood-{index:02d}")
        async with http, session:
            for n in itertools.count():
                if time.monotonic() >= stop:
                    return
                started = time.monotonic()
                result = await session.call_tool(
                    "submit_article",
                    {"title": f"Ordinary {index}-{n}", "content_markdown": "# Title\n\nA *short* body."},
                )
                assert not result.is_error, result.content[0].text
                latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(agent(index) for index in range(agents)))
    return summary_ms(latencies) | {"per_second": round(len(latencies) / (time.monotonic() - started), 1)}


def measure_isolation(*, lanes: list[int], flooders: int, quiet: float, flood: float) -> dict:
    from core.keys import key_generate
    from tests.support.deployment import Deployment, stop_process_group

    agents = ["reader", *(f"flood-{n:02d}" for n in range(flooders))]
    keys = {agent_id: key_generate()[1] for agent_id in agents}
    directory = Path(tempfile.mkdtemp(prefix="wpublisher-markdown-bench-"))
    site = {
        "id": "bench",
        "name": "Bench",
        "api_url": "http://127.0.0.1:9/wp-json/wp/v2",
        "username": "bench",
        "app_password": "bench-password-not-used",
    }
    deployment = Deployment(
        directory,
        agents=[{"id": a, "name": a, "role": "content-creator", "api_key": keys[a]} for a in agents],
        sites=[site],
        global_settings={"max_concurrent_agents": flooders + 10},
        system={"rate_limits": {"tool_calls_per_minute": 10000}},
    )
    results = {}
    try:
        for lane in lanes:
            deployment.start_web(
                env={"MCP_WORKER_THREADS": "16", "MCP_CONTENT_WRITE_THREADS": str(lane), "LOG_LEVEL": "WARNING"}
            )
            try:
                result = asyncio.run(
                    _isolation_round(f"{deployment.url}/mcp", keys, flooders=flooders, quiet=quiet, flood=flood)
                )
            except BaseException:
                print(deployment.web_log()[-3000:], file=sys.stderr)
                raise
            finally:
                stop_process_group(deployment.web)
            results[f"lane={lane}"] = result
            print(
                f"  lane {lane:>2} of 16 threads, {flooders} flooders: get_article_status quiet p50 "
                f"{result['quiet']['p50_ms']} ms p95 {result['quiet']['p95_ms']} ms | during the flood p50 "
                f"{result['during_flood']['p50_ms']} ms p95 {result['during_flood']['p95_ms']} ms max "
                f"{result['during_flood']['max_ms']} ms ({result['during_flood']['calls']} calls) | "
                f"{result['flood']['submissions']} submissions ({result['flood']['stored']} stored, "
                f"{result['flood']['refused']} refused), p50 {result['flood']['submission']['p50_ms']} ms | ordinary "
                f"submissions {result['ordinary_submissions']['per_second']}/s p50 "
                f"{result['ordinary_submissions']['p50_ms']} ms",
                flush=True,
            )
    finally:
        deployment.close()
        shutil.rmtree(directory, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few shapes, small sizes, short rounds")
    parser.add_argument("--old-timeout", type=float, default=5.0, help="seconds before the old renderer is stopped")
    parser.add_argument("--lanes", default="2,4,8", help="MCP_CONTENT_WRITE_THREADS values to compare")
    parser.add_argument("--flooders", type=int, default=20, help="agents submitting worst-case Markdown")
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument("--skip-server", action="store_true", help="shapes only")
    parser.add_argument("--skip-shapes", action="store_true", help="the server part only, kept with earlier results")
    args = parser.parse_args()

    from articles.rendering import MAX_HTML_EXPANSION, MAX_NESTING, renderer_version

    results: dict = {
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(), "renderer": renderer_version()},
        "limits": {"content_bytes": LIMIT, "max_nesting": MAX_NESTING, "max_html_expansion": MAX_HTML_EXPANSION},
    }
    print(f"{renderer_version()}; old renderer {'Python-Markdown' if old_available() else 'not installed'}")
    output = ROOT / "var" / "results-markdown-smoke.json" if args.smoke else RESULTS
    if args.skip_shapes and output.exists():
        results = json.loads(output.read_text()) | results
    else:
        results["shapes"] = measure_shapes(smoke=args.smoke, old_timeout=args.old_timeout)
        print("Realistic articles")
        results["articles"] = measure_articles(old_timeout=args.old_timeout)
    if not args.skip_server:
        print("Another agent's get_article_status while agents submit worst-case Markdown (real server, SQLite)")
        results["isolation"] = measure_isolation(
            lanes=[int(lane) for lane in args.lanes.split(",")],
            flooders=2 if args.smoke else args.flooders,
            quiet=2.0 if args.smoke else 5.0,
            flood=5.0 if args.smoke else args.flood_seconds,
        )
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {output.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
