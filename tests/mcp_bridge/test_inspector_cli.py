"""The official MCP Inspector CLI (@modelcontextprotocol/inspector 2.12.0), a third-party MCP client, against
a live wpublisher: what an agent author sees who tries the server with it.

The binary is $WPUBLISHER_INSPECTOR, else <project root>/var/inspector/node_modules/.bin/mcp-inspector, where
scripts/install-inspector.sh puts it. Without it the tests skip, unless WPUBLISHER_REQUIRE_INSPECTOR=1 (CI),
where they fail.

The CLI runs with `--format json` (stdout: one {"result": ...} object; failures: an {"error": {...}} envelope on
stderr) and `--stored-auth-only`: a 401 must fail at once, never start the CLI's interactive OAuth login. It
gets a HOME of its own so that it reads and writes nothing of the user's (~/.mcp-inspector).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mcp_bridge.conftest import World, make_world
from tests.mcp_bridge.test_tools import ALL_TOOLS
from tests.support.deployment import ROOT

pytestmark = [pytest.mark.slow]

VERSION = "2.12.0"
TIMEOUT = 120
TOOLS = ALL_TOOLS
AGENTS = {
    "writer": {"role": "content-creator"},
    "editor": {"role": "editor", "scopes": ["article:submit", "article:read", "article:review"]},
}
# The CLI's exit codes (core/cli/error-handler.ts in the Inspector).
EXIT_AUTH_REQUIRED = 3
EXIT_TOOL_ERROR = 5


def inspector_path() -> Path:
    configured = os.environ.get("WPUBLISHER_INSPECTOR")
    return Path(configured) if configured else ROOT / "var" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture(scope="module")
def inspector() -> Path:
    """The mcp-inspector binary, checked to be the pinned version."""
    path = inspector_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        message = (
            f"no MCP Inspector at {path}: run scripts/install-inspector.sh, or set WPUBLISHER_INSPECTOR to the "
            "path of an mcp-inspector binary"
        )
        if os.environ.get("WPUBLISHER_REQUIRE_INSPECTOR") == "1":
            pytest.fail(f"WPUBLISHER_REQUIRE_INSPECTOR=1 but {message}", pytrace=False)
        pytest.skip(message)
    version = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False
    )
    assert version.stdout.strip() == VERSION, (
        f"{path} reports version {version.stdout.strip()!r} (exit {version.returncode}), expected {VERSION}: "
        f"run scripts/install-inspector.sh\n{version.stderr[-2000:]}"
    )
    return path


@pytest.fixture(scope="module")
def world(inspector, tmp_path_factory) -> World:
    """A server of its own: a writer (default scopes) and an editor who may review."""
    created = make_world(
        tmp_path_factory.mktemp("inspector"),
        AGENTS,
        global_settings={"max_concurrent_agents": 50},
        system={"rate_limits": {"tool_calls_per_minute": 10000}},
    )
    yield created
    created.deployment.close()


@dataclass
class Outcome:
    """One run of the CLI."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        command = " ".join(self.argv)
        return f"{command}\nexit {self.returncode}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"

    @property
    def result(self) -> dict:
        """What the server answered (the CLI prints it also when a tool call returned isError)."""
        try:
            return json.loads(self.stdout)["result"]
        except (ValueError, KeyError) as error:
            raise AssertionError(f"no JSON result on stdout ({error}):\n{self}") from None

    @property
    def error(self) -> dict:
        """The CLI's error envelope, the last JSON line of stderr ({"code": ..., "message": ...})."""
        for line in reversed(self.stderr.splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)["error"]
                except (ValueError, KeyError):
                    continue
        raise AssertionError(f"no error envelope on stderr:\n{self}")


class Inspector:
    """Runs the Inspector CLI over Streamable HTTP against a world's /mcp, as one agent key or another."""

    def __init__(self, binary: Path, url: str, home: Path):
        self.binary, self.url, self.home = binary, url, home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "INSPECTOR_"))}
        self.env.update(HOME=str(home), USERPROFILE=str(home), NO_COLOR="1")

    def run(self, key: str, method: str, *args: str) -> Outcome:
        argv = [str(self.binary), "--cli", self.url, "--transport", "http", "--stored-auth-only", "--format", "json"]
        argv += ["--header", f"Authorization: Bearer {key}", "--method", method, *args]
        # No stdin: the CLI must never wait for a person (an OAuth login, a prompt).
        options = {"env": self.env, "cwd": self.home, "stdin": subprocess.DEVNULL, "timeout": TIMEOUT}
        done = subprocess.run(argv, capture_output=True, text=True, check=False, **options)
        return Outcome([a.replace(key, "<key>") for a in argv], done.returncode, done.stdout, done.stderr)

    def call(self, key: str, tool: str, *pairs: str) -> Outcome:
        """tools/call with --tool-arg key=value pairs (the CLI JSON-parses each value, then coerces it to the
        type of the tool's schema)."""
        return self.run(key, "tools/call", "--tool-name", tool, *(("--tool-arg", *pairs) if pairs else ()))

    def read(self, key: str, uri: str) -> dict:
        return ok(self.run(key, "resources/read", "--uri", uri))

    def prompt(self, key: str, name: str, *pairs: str) -> dict:
        return ok(self.run(key, "prompts/get", "--prompt-name", name, "--prompt-args", *pairs))


@pytest.fixture(scope="module")
def cli(inspector, world, tmp_path_factory) -> Inspector:
    return Inspector(inspector, f"{world.url}/mcp", tmp_path_factory.mktemp("inspector-home"))


def ok(outcome: Outcome) -> dict:
    assert outcome.returncode == 0, str(outcome)
    return outcome.result


def article_count(world: World, **filters) -> int:
    return world.run(f"from articles.models import Article\nresult = Article.objects.filter(**{filters!r}).count()")


def test_tools_list_shows_exactly_our_twelve_tools(world, cli):
    tools = ok(cli.run(world.keys["writer"], "tools/list"))["tools"]
    names = [tool["name"] for tool in tools]
    assert len(names) == 12 and set(names) == TOOLS, names
    for tool in tools:
        assert tool["description"] and tool["inputSchema"]["type"] == "object", tool
    submit = next(tool for tool in tools if tool["name"] == "submit_article")
    assert set(submit["inputSchema"]["required"]) == {"title", "content_markdown"}

    # --strict: exit 6 when a tool's schema has an error-severity portability problem for other clients.
    strict = cli.run(world.keys["writer"], "tools/list", "--strict")
    assert strict.returncode == 0, str(strict)


def test_submit_article_then_follow_it(world, cli):
    key = world.keys["writer"]
    title, markdown = "Written with the Inspector", "# Hello\n\nFrom the *CLI*."
    result = ok(cli.call(key, "submit_article", f"title={title}", f"content_markdown={markdown}", "tags=inspector,cli"))
    assert result["isError"] is False
    article = result["structuredContent"]
    assert isinstance(article["id"], int) and article["status"] == "pending_review"
    assert article["submitting_agent"] == "writer" and article["title"] == title
    assert article["tags"] == ["inspector", "cli"] and article["target_site"] == "site-a"
    assert json.loads(result["content"][0]["text"])["id"] == article["id"]

    status = ok(cli.call(key, "get_article_status", f"article_id={article['id']}"))
    assert status["isError"] is False
    assert status["structuredContent"]["id"] == article["id"]
    assert status["structuredContent"]["status"] == "pending_review"

    full = ok(cli.call(key, "get_article", f"article_id={article['id']}"))["structuredContent"]
    assert full["content_markdown"] == markdown
    listed = ok(cli.call(world.keys["editor"], "list_articles"))["structuredContent"]["articles"]
    assert article["id"] in [a["id"] for a in listed]


def test_a_tool_error_surfaces_with_its_code(world, cli):
    # --tool-arg cannot send an empty value ("title=" is refused by the CLI itself); --tool-args-json can.
    arguments = json.dumps({"title": "", "content_markdown": "Never stored"})
    refused = cli.run(
        world.keys["writer"], "tools/call", "--tool-name", "submit_article", "--tool-args-json", arguments
    )
    assert refused.returncode == EXIT_TOOL_ERROR, str(refused)
    assert refused.result["isError"] is True
    assert "VALIDATION_ERROR: title must be 1 to 200 characters" in refused.result["content"][0]["text"]
    assert refused.error["code"] == "tool_is_error"
    assert article_count(world, content_markdown="Never stored") == 0

    mine = ok(cli.call(world.keys["writer"], "submit_article", "title=Mine", "content_markdown=x"))
    forbidden = cli.call(
        world.keys["writer"], "approve_article", f"article_id={mine['structuredContent']['id']}", "expected_revision=1"
    )
    assert forbidden.returncode == EXIT_TOOL_ERROR, str(forbidden)
    assert "FORBIDDEN: agent writer lacks the scope article:review" in forbidden.result["content"][0]["text"]


def test_resources_list_and_read(world, cli):
    key = world.keys["editor"]
    listed = ok(cli.run(key, "resources/list"))["resources"]
    assert {"agent://list", "site://list", "system://metrics", "config://agents"} <= {r["uri"] for r in listed}
    templates = ok(cli.run(key, "resources/templates/list"))["resourceTemplates"]
    assert "article://{article_id}" in {t["uriTemplate"] for t in templates}

    content = cli.read(key, "agent://list")["contents"][0]
    assert content["uri"] == "agent://list" and content["mimeType"] == "application/json"
    agents = {a["id"]: a for a in json.loads(content["text"])}
    assert set(agents) == {"writer", "editor"}
    assert agents["editor"]["role"] == "editor" and "article:review" in agents["editor"]["scopes"]
    assert not any(secret in content["text"] for secret in world.keys.values())

    sites = json.loads(cli.read(key, "site://list")["contents"][0]["text"])
    assert {s["id"] for s in sites} == {"site-a", "site-b", "site-c"}


def test_prompts_list_and_get(world, cli):
    key = world.keys["editor"]
    prompts = {p["name"]: p for p in ok(cli.run(key, "prompts/list"))["prompts"]}
    assert set(prompts) == {"multi_agent_workflow", "agent_specialization_guide"}
    arguments = {a["name"]: a["required"] for a in prompts["agent_specialization_guide"]["arguments"]}
    assert arguments == {"agent_role": True, "content_domain": False}

    guide = cli.prompt(key, "agent_specialization_guide", "agent_role=editor")
    assert guide["messages"][0]["role"] == "user"
    text = guide["messages"][0]["content"]["text"]
    assert text.startswith("Guide for the editor role") and "Agents with this role here: editor." in text
    assert "article:review: approve_article and reject_article" in text

    in_domain = cli.prompt(key, "agent_specialization_guide", "agent_role=editor", "content_domain=tech")
    assert in_domain["messages"][0]["content"]["text"].startswith("Guide for the editor role in tech")


def test_a_wrong_key_fails_and_creates_nothing(world, cli):
    writer = world.keys["writer"]
    for key in ["wpk_wrong_notakey", writer[:-4] + ("AAAA" if not writer.endswith("AAAA") else "BBBB")]:
        refused = cli.call(key, "submit_article", "title=Sneaky", "content_markdown=x")
        # 3: the CLI's "auth_required"; without --stored-auth-only it would try an interactive OAuth login.
        assert refused.returncode == EXIT_AUTH_REQUIRED, str(refused)
        assert not refused.stdout.strip(), str(refused)
        assert refused.error["code"] == "auth_required"
        assert "invalid, expired or revoked API key" in refused.error["message"]
    assert article_count(world, title="Sneaky") == 0


def test_the_auto_protocol_era_negotiates_or_falls_back(world, cli):
    tools = ok(cli.run(world.keys["writer"], "tools/list", "--protocol-era", "auto"))["tools"]
    assert {tool["name"] for tool in tools} == TOOLS
