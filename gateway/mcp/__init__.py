"""MCP tools generated from a GraphQL schema (``tools``, ``json_schema``) and the servers
that offer them."""
