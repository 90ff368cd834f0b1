"""What every data loader of the dashboards shares: one query to the Hubgraph gateway.

The loaders (``*.json.py`` next to this file) are run by Observable Framework with
``python3`` at build time. They use the standard library alone, so any python3 runs them.

- ``HUBGRAPH_GATEWAY_URL``: the gateway's GraphQL endpoint (default
  http://127.0.0.1:4000/graphql, where ``hubgraph up`` serves it).
- ``HUBGRAPH_TOKEN``: a bearer token (required), e.g. the one ``hubgraph up`` prints.

A GraphQL error, an HTTP error or an unreachable gateway is printed to stderr and ends
the loader with a non-zero status, which fails the Framework build with the message.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any, NoReturn

DEFAULT_GATEWAY_URL = "http://127.0.0.1:4000/graphql"
TIMEOUT_S = 60.0

# A loader's answer, as decoded from JSON.
Data = dict[str, Any]


class GraphError(Exception):
    """The gateway could not be asked, or answered with errors."""


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr (for the build log) and exit non-zero."""
    print(f"hubgraph dashboards: {message}", file=sys.stderr)
    sys.exit(1)


def gateway_url() -> str:
    return os.environ.get("HUBGRAPH_GATEWAY_URL") or DEFAULT_GATEWAY_URL


def token() -> str:
    value = os.environ.get("HUBGRAPH_TOKEN", "").strip()
    if not value:
        fail(
            "HUBGRAPH_TOKEN is not set: the dashboards need a bearer token for the gateway "
            f"at {gateway_url()} (hubgraph up prints one: export HUBGRAPH_TOKEN=...)"
        )
    return value


def describe(error: dict[str, Any]) -> str:
    """One GraphQL error as a line: message, path and code."""
    message = str(error.get("message", "(no message)"))
    path = error.get("path")
    code = (error.get("extensions") or {}).get("code")
    where = f" at {'.'.join(str(part) for part in path)}" if path else ""
    return f"{message}{where}" + (f" [{code}]" if code else "")


def code_of(error: dict[str, Any]) -> str | None:
    code = (error.get("extensions") or {}).get("code")
    return str(code) if code is not None else None


def post(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The gateway's whole answer (``data`` and ``errors``) to one query.

    Raises GraphError for what is not a GraphQL answer: no connection, an HTTP error
    without GraphQL errors, a body that is not JSON.
    """
    url = gateway_url()
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {token()}",
        },
    )
    # Never through a proxy: the gateway is usually on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("errors"):
            return answer
        text = raw.decode(errors="replace").strip()[:500]
        raise GraphError(
            f"the gateway at {url} answered HTTP {error.code} {error.reason}"
            + (f": {text}" if text else "")
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise GraphError(
            f"cannot reach the gateway at {url}: {reason} (is hubgraph up running? "
            "set HUBGRAPH_GATEWAY_URL to its /graphql)"
        ) from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise GraphError(f"the gateway at {url} did not answer JSON: {raw[:200]!r}") from None
    if not isinstance(answer, dict):
        raise GraphError(f"the gateway at {url} answered something else than GraphQL")
    return answer


def query(
    document: str,
    variables: dict[str, Any] | None = None,
    *,
    tolerate: Iterable[str] = (),
) -> Data:
    """``data`` of one query; exits with the errors printed when there are any.

    ``tolerate``: error codes (e.g. NOT_CONFIGURED) that are no failure; the answer is
    then returned with them under ``errors`` for the page to show.
    """
    try:
        answer = post(document, variables)
    except GraphError as error:
        fail(str(error))
    errors = [e for e in answer.get("errors") or [] if isinstance(e, dict)]
    allowed = set(tolerate)
    fatal = [e for e in errors if code_of(e) not in allowed]
    if fatal:
        lines = "\n".join(f"  - {describe(e)}" for e in errors)
        fail(f"the gateway at {gateway_url()} answered with errors:\n{lines}")
    data = answer.get("data")
    result: Data = dict(data) if isinstance(data, dict) else {}
    if errors:
        result["errors"] = [
            {"message": e.get("message"), "path": e.get("path"), "code": code_of(e)} for e in errors
        ]
    return result


def emit(data: Any) -> None:
    """Write the loader's JSON to stdout."""
    json.dump(data, sys.stdout, indent=1)
    sys.stdout.write("\n")
