"""Heavy submissions cannot starve the other tools: through the real MCP stack (daphne, Streamable HTTP, the
SDK's client), 48 agents submit the heaviest Markdown we know at the 256 KiB limit at once while another
agent polls get_article_status. The submissions hold at most MCP_CONTENT_WRITE_THREADS of the MCP threads
(mcp_bridge.threads.run_sync_content; by default 2 of 16) and the others wait without one. Checked by hand on
this 2-core machine: without the lane (every submission straight onto the pool), the reads took 1.2-2.5 s at
the median and 4.5-6 s at most, queued behind the submissions, and this test fails; with it, 0.03-0.04 s and
0.4-1.5 s (CPU shared with the renders)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

import anyio
import pytest

from mcp_bridge import threads
from tests.mcp_bridge.conftest import connect, make_world

LIMIT = 256 * 1024
FLOODERS = 48


def fill(unit: str, size: int = LIMIT) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# The costliest accepted shapes (cmark's output at 5-6 times the input, a raw tag forcing the slow sanitizing
# path) and two that are refused (nesting, or HTML too large), all at the size limit; True when accepted.
HEAVY = [
    ("<b></b>\n\n|a|b|\n|-|-|\n" + fill("|x|y|\n", LIMIT - 25), True),
    (fill("aaa\rbbb\n-\v\n"), True),
    ("<b></b>" + fill("*_", LIMIT - 7), True),
    ("<b></b>\n\n|a|b|\n|-|-|\n" + fill("|x|y|\n", LIMIT - 25), True),
    (fill("aaa\rbbb\n-\v\n"), True),
    (fill("[ (]("), True),
    (fill("> "), False),
    (fill("<div>\n"), False),
]


@pytest.fixture(scope="module")
def flood_world(tmp_path_factory):
    agents = {"reader": {"role": "content-creator"}} | {f"flood-{n:02d}": {} for n in range(FLOODERS)}
    world = make_world(
        tmp_path_factory.mktemp("render-isolation"),
        agents,
        global_settings={"max_concurrent_agents": FLOODERS + 10},
        system={"rate_limits": {"tool_calls_per_minute": 10000}},
    )
    yield world
    world.deployment.close()


@pytest.mark.anyio
@pytest.mark.slow
async def test_status_reads_answer_while_48_agents_submit_worst_case_markdown(flood_world):
    world = flood_world
    outcomes: list[str] = []
    flood_done = anyio.Event()

    async def flooder(index: int) -> None:
        async with connect(world, f"flood-{index:02d}") as client:
            markdown, _ = HEAVY[index % len(HEAVY)]
            result = await client.call_tool("submit_article", {"title": f"Flood {index}", "content_markdown": markdown})
            outcomes.append(result.content[0].text if result.is_error else "ok")

    async with connect(world, "reader") as reader:
        mine = await reader.call_tool("submit_article", {"title": "Mine", "content_markdown": "# Mine\n\nBody"})
        article_id = mine.structured_content["id"]
        latencies: list[float] = []
        started = time.monotonic()
        async with anyio.create_task_group() as flood:

            async def all_flooders() -> None:
                async with anyio.create_task_group() as group:
                    for index in range(FLOODERS):
                        group.start_soon(flooder, index)
                flood_done.set()

            flood.start_soon(all_flooders)
            await anyio.sleep(1.0)  # every flooder connected and its first submission on the server
            while not flood_done.is_set():
                before = time.monotonic()
                status = await reader.call_tool("get_article_status", {"article_id": article_id})
                latencies.append(time.monotonic() - before)
                assert not status.is_error and status.structured_content["status"] == "pending_review"
                await anyio.sleep(0.2)
        flood_seconds = time.monotonic() - started

    # The flood finished: every submission answered, stored or refused with VALIDATION_ERROR naming the limit.
    assert len(outcomes) == FLOODERS
    refused = [text for text in outcomes if text != "ok"]
    assert all("VALIDATION_ERROR: content_markdown " in text for text in refused), refused
    assert outcomes.count("ok") == sum(HEAVY[index % len(HEAVY)][1] for index in range(FLOODERS))
    assert flood_seconds < 240
    # The reads kept being answered throughout, each within a bound a person would call prompt.
    assert len(latencies) >= 3, (flood_seconds, latencies)
    median = statistics.median(latencies)
    assert median < 0.5 and max(latencies) < 3.0, (median, max(latencies), flood_seconds)


# The pool's threads are shared with earlier tests and may hold a database connection, which run_sync checks.
@pytest.mark.django_db
def test_waiting_content_calls_hold_no_thread_and_a_cancelled_one_keeps_its_place(monkeypatch):
    """The lane's two promises, on the real pool: calls waiting for a place are not queued on the pool (so
    other tools are served), and a place is given back when the thread finishes, not when the caller gives up
    (a client that disconnects cannot let more renders run than the lane allows)."""
    monkeypatch.setattr(threads, "CONTENT_WRITE_THREADS", 1)
    release = threading.Event()
    finished: list[str] = []

    def render(name: str) -> None:
        if name == "first":
            release.wait(30)
        finished.append(name)

    async def scenario() -> None:
        first = asyncio.create_task(threads.run_sync_content(render, "first"))
        await asyncio.sleep(0.2)
        waiting = [asyncio.create_task(threads.run_sync_content(render, f"waiting-{n}")) for n in range(30)]
        await asyncio.sleep(0.2)
        # Other tools still run: the 30 wait on the lane, holding no thread.
        assert await asyncio.wait_for(threads.run_sync(lambda: "read"), 5) == "read"
        first.cancel()  # its caller gives up; its thread goes on
        await asyncio.sleep(0.3)
        assert finished == []  # the place is still taken: none of the 30 ran (on the pool they would have)
        release.set()
        await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert finished == ["first", *(f"waiting-{n}" for n in range(30))]

    asyncio.run(scenario())
