"""The MCP server: every tool (mcp_bridge.tools), resource (mcp_bridge.resources) and prompt
(mcp_bridge.prompt_handlers) of the design, as thin adapters over the services and selectors. The MCP SDK is
imported only inside mcp_bridge.

Tools are written as plain (sync) functions, since they use the Django ORM; mcp_bridge.calls makes each an
async tool for the SDK that runs on the MCP threads as the calling agent (mcp_bridge.identity). Arguments
are read strictly, unknown ones refused, and the SDK's own refusals start with their code too
(mcp_bridge.arguments.StrictMCPServer).
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl

from core.version import __version__
from mcp_bridge.arguments import StrictMCPServer
from mcp_bridge.identity import authenticated_request
from mcp_bridge.prompt_handlers import prompts_register
from mcp_bridge.resources import resources_register
from mcp_bridge.tools import tools_register

# The SDK's log level for ours (LOG_LEVEL); anything else logs at INFO.
SDK_LOG_LEVELS: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR"]] = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
}
INSTRUCTIONS = (
    "wpublisher is a review-gated gateway to WordPress sites. Submit Markdown articles with submit_article; "
    "a person (or an agent holding article:review) approves or rejects them, and approved articles are "
    "published by background workers. Poll get_article_status to follow an article. Errors start with a "
    "stable code such as VALIDATION_ERROR or FORBIDDEN."
)


class GatewayTokenVerifier:
    """The SDK's view of a bearer token. The gateway (mcp_bridge.asgi) has already authenticated the
    request, with the client IP for blocking and audit, and put the agent in a context variable."""

    async def verify_token(self, token: str) -> AccessToken | None:
        verified = authenticated_request.get()
        if verified is None or verified[0] != token:
            return None
        agent = verified[1]
        return AccessToken(token=token, client_id=agent.id, scopes=list(agent.scopes))


def build_server(*, with_auth: bool = True) -> MCPServer:
    """The MCP server with every tool, resource and prompt. `with_auth`: for HTTP (bearer tokens);
    stdio has no tokens."""
    server = StrictMCPServer(
        name="wpublisher",
        title="wpublisher",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level=SDK_LOG_LEVELS.get(settings.LOG_LEVEL, "INFO"),
        auth=AuthSettings(issuer_url=AnyHttpUrl(settings.MCP_ISSUER_URL), resource_server_url=None)
        if with_auth
        else None,
        token_verifier=GatewayTokenVerifier() if with_auth else None,
    )
    tools_register(server)
    resources_register(server)
    prompts_register(server)
    return server
