"""What the MCP gateway counts in this process, exposed at /metrics (wpublisher.metrics) with the rest."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MCP_REQUESTS = Counter(
    "wpublisher_mcp_requests", "MCP HTTP requests by transport and HTTP status", ["transport", "status"]
)
MCP_REQUEST_DURATION = Histogram(
    "wpublisher_mcp_request_duration_seconds",
    "Time to answer an MCP HTTP request (SSE streams excluded)",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MCP_TOOL_CALLS = Counter("wpublisher_mcp_tool_calls", "MCP tool calls by tool and outcome", ["tool", "outcome"])
AUTH_FAILURES = Counter("wpublisher_auth_failures", "Failed agent authentications (this process)")
IPS_BLOCKED = Counter("wpublisher_ips_blocked", "Client IPs blocked after repeated failures (this process)")
