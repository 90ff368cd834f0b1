"""The gateway: composition, query planning, execution, HTTP server, MCP (issues 3-5, 8)."""
