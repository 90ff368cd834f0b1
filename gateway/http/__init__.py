"""The gateway's HTTP layer: GraphQL over HTTP, persisted operations, CORS, metrics,
readiness, access logs, GraphiQL, and the app factory used by worker processes.

:func:`gateway.server.create_gateway_app` assembles these around a Gateway.
"""
