"""The MCP bridge is an adapter and owns no table: the sessions it records are agents.models.McpSession."""
