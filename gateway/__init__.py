"""The gateway: composition, query planning, execution, HTTP server, MCP.

It imports no hub and not the kit: it knows hubs by URL and SDL (docs/architecture.md §6).
"""
