"""Cost rows from OpenCost's allocation API (``GET /allocation/compute``), streamed.

The response is ``{"code": 200, "data": [ {"<name>": {allocation}, ...}, ... ]}``: one
object per time window (``step``), each allocation with ``name``, ``properties``
(``cluster``, ``namespace``, ``labels``, ...), ``window {start, end}`` and costs
(``cpuCost``, ``ramCost``, ..., ``totalCost``). One allocation becomes one cost entry:

* date: the window's start day; amount: ``totalCost``, in the currency OpenCost was
  configured with (the response does not say it; ``--currency``, default USD);
* vendor: the cluster; category ``kubernetes``; resource label: the namespace (else the
  allocation's name), which attribution rules match;
* service: the label ``hubgraph_service`` (OpenCost writes ``hubgraph.io/service`` as
  ``hubgraph_io_service``; both are read) on the allocation or its namespace.

OpenCost computes in floating point, so its amounts carry binary noise beyond the sixth
decimal place (``3.0520840000000003``): they are rounded half-even to the six places
amounts are stored with. Idle and unallocated allocations (``__idle__``) are spend too,
and are kept (unattributed unless a rule says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TextIO

from subgraphs.fin.importers.jsonstream import JsonFormatError, JsonStream
from subgraphs.fin.importers.rows import CostRow, Problem
from subgraphs.fin.importers.values import Memo, amount_of, check_currency, parse_day

SERVICE_LABELS = ("hubgraph_service", "hubgraph_io_service")
CATEGORY = "kubernetes"
_SIX_PLACES = Decimal("0.000001")


def read_opencost(handle: TextIO, currency: str = "USD") -> Iterator[CostRow | Problem]:
    """One CostRow or Problem per allocation, numbered from 1 in file order."""
    code = check_currency(currency)
    stream = JsonStream(handle)
    days = Memo(parse_day)
    number = 0
    for key in stream.members():
        if key != "data":
            value = stream.value()
            if key == "code" and value not in (200, Decimal(200)):
                raise JsonFormatError(f"OpenCost answered code {value}, not 200")
            continue
        if stream.peek() != "[":
            stream.fail('"data" must be a list of windows')
        for _ in stream.items():
            if stream.peek() == "n":  # a window without allocations is null
                stream.value()
                continue
            for name in stream.members():
                number += 1
                yield _allocation(number, name, stream.value(), code, days)


def _allocation(
    number: int, name: str, data: Any, currency: str, days: Memo[date]
) -> CostRow | Problem:
    if not isinstance(data, dict):
        return Problem(number, f"allocation {name!r} is not an object")
    problems: list[str] = []
    day = amount = None
    window = data.get("window") or {}
    try:
        day = days(str(window.get("start") or ""))
    except ValueError as exc:
        problems.append(f"window start: {exc}")
    total = data.get("totalCost")
    try:
        if isinstance(total, Decimal) and total.is_finite():
            total = total.quantize(_SIX_PLACES, rounding=ROUND_HALF_EVEN)
        amount = amount_of(total)
    except ValueError as exc:
        problems.append(f"totalCost: {exc}")
    properties = data.get("properties") or {}
    if not isinstance(properties, dict):
        properties = {}
    if problems or day is None or amount is None:
        return Problem(number, f"allocation {name!r}: " + "; ".join(problems))
    resource = str(properties.get("namespace") or data.get("name") or name)
    return CostRow(
        row=number,
        day=day,
        amount=amount,
        currency=currency,
        vendor=str(properties.get("cluster") or "kubernetes"),
        category=CATEGORY,
        service=_service_label(properties),
        resource=resource,
        identity=(str(data.get("name") or name), str(window.get("end") or "")),
    )


def _service_label(properties: dict[str, Any]) -> str | None:
    for labels in (properties.get("labels"), properties.get("namespaceLabels")):
        if isinstance(labels, dict):
            for key in SERVICE_LABELS:
                if labels.get(key):
                    return str(labels[key])
    return None
