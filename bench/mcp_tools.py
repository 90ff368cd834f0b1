"""What MCP costs over plain GraphQL: tool generation, and a tool call against the query.

Prints medians of:

* generation: ``generate_tools`` on the core+dev API schema and on a generated
  1,000-type supergraph (the planner benchmark's), i.e. what a ``tools/list`` after a
  reload costs once (it is cached per supergraph);
* per call, in-process: building the document of a tool call (``operation_for``:
  arguments checked, ``fields`` parsed and validated) and shaping the answer
  (``format_result``), against the gateway executing the same document;
* over loopback HTTP, the whole round trip with the SDK's own client at ``/mcp``
  (``tools/call list_domains``) against ``POST /graphql`` of the same document with
  httpx, through the same gateway over the same in-process hubs (SQLite, demo data).

    python3 -m uv run python bench/mcp_tools.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import httpx2  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from bench.timing import timed, timed_sync  # noqa: E402
from gateway.engine import Gateway  # noqa: E402
from gateway.mcp.http import McpSettings  # noqa: E402
from gateway.mcp.server import tool_config  # noqa: E402
from gateway.mcp.tools import ToolConfig, format_result, generate_tools, operation_for  # noqa: E402
from gateway.server import create_gateway_app  # noqa: E402
from subgraphs import available_hubs, load_hub  # noqa: E402
from subgraphs.core.kit.app import create_hub_app  # noqa: E402
from subgraphs.core.kit.cli import load_demo  # noqa: E402
from subgraphs.core.kit.settings import load_settings  # noqa: E402
from tests.support import LiveServer  # noqa: E402

SUPERGRAPH = ROOT / "schema" / "supergraph.graphql"
ARGUMENTS = {"first": 20, "fields": "{ nodes { slug name parent { slug } } }"}


def generation_figures() -> None:
    from planner import generated_supergraph  # bench/planner.py's generator

    schemas = {
        "core+dev": Gateway(SUPERGRAPH.read_text()).api_schema,
        "1,000 types": Gateway(generated_supergraph(1000, 10)).api_schema,
    }
    print("generate_tools, cold (median ms)")
    for label, schema in schemas.items():
        count = len(generate_tools(schema, ToolConfig()))
        ms = timed_sync(5, lambda s=schema: generate_tools(s, ToolConfig())) / 1000
        print(f"  {label:<12} {ms:8.2f} ms   {count} tools")


async def call_figures(rounds: int, home: Path) -> None:
    apps = {}
    for name in available_hubs():
        settings = load_settings(name, env={"HUBGRAPH_HOME": str(home)})
        await load_demo(load_hub(name), settings)
        apps[name] = create_hub_app(load_hub(name), settings)
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps)
    spec = next(
        t for t in generate_tools(gateway.api_schema, ToolConfig()) if t.name == "list_domains"
    )
    document, variables = operation_for(gateway.api_schema, spec, ARGUMENTS)
    response, _ = await gateway.execute(document, variables)
    build = timed_sync(rounds, lambda: operation_for(gateway.api_schema, spec, ARGUMENTS))
    shape = timed_sync(rounds, lambda: format_result(response))
    execute = await timed(rounds, lambda: gateway.execute(document, variables))
    print("one call in-process (median µs)")
    print(f"  gateway.execute          {execute:9.1f}")
    print(f"  + operation_for          {build:9.1f}   ({build / execute:.1%} of execute)")
    print(f"  + format_result          {shape:9.1f}   ({shape / execute:.1%} of execute)")

    app = create_gateway_app(gateway, mcp=McpSettings(tools=tool_config("none")))
    server = LiveServer(app).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:

            async def graphql() -> Any:
                answer = await http.post(
                    "/graphql", json={"query": document, "variables": variables}
                )
                return answer.json()

            direct = await timed(rounds, graphql)
        async with (
            httpx2.AsyncClient(timeout=30, trust_env=False) as http2,
            streamable_http_client(f"{server.url}/mcp", http_client=http2) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tool = await timed(rounds, lambda: session.call_tool("list_domains", ARGUMENTS))
        print("round trip over loopback HTTP (median µs)")
        print(f"  POST /graphql            {direct:9.1f}")
        print(f"  MCP tools/call at /mcp   {tool:9.1f}   ({tool / direct:.2f}x)")
    finally:
        server.stop()
        for hub_app in apps.values():
            await hub_app.state.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    generation_figures()
    with tempfile.TemporaryDirectory() as home:
        asyncio.run(call_figures(args.rounds, Path(home)))


if __name__ == "__main__":
    main()
