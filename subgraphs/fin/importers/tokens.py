"""Token-spend rows from Anthropic's and OpenAI's usage exports, CSV or JSON, streamed.

JSON is each provider's usage report as its Admin API returns it (one page, or a list
of pages saved one after the other), one row per bucket result:

* Anthropic, ``GET /v1/organizations/usage_report/messages`` (grouped by model): input
  tokens are uncached + cache reads + cache writes (``cache_creation``'s 5 m and 1 h);
  the report has no cost, so the price table gives it.
* OpenAI, ``GET /v1/organization/usage/completions`` (``group_by=model``): ``start_time``
  in Unix seconds, ``input_tokens`` (cached ones included), ``output_tokens``; no cost.

CSV is the consoles' export of the same data, read by column name (``CSV_COLUMNS``):
Anthropic's usage export (``usage_date_utc``, ``model_version``, the
``usage_input_tokens_*`` columns, ``usage_output_tokens``; with ``cost_usd`` when the
export has costs), OpenAI's activity export (the API's columns, ``start_time_iso``; with
``amount_value`` / ``amount_currency`` when it has costs). A cost in the export is used
as is; otherwise the row's cost comes from the price table (``ingest.py``).

Rows name no service: attribution rules match the provider (as vendor) and the row's
api key, workspace or project (as resource label).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, TextIO

from subgraphs.fin.importers.jsonstream import JsonStream
from subgraphs.fin.importers.rows import Problem, TokenRow
from subgraphs.fin.importers.values import (
    Memo,
    amount_of,
    check_currency,
    parse_count,
    parse_instant,
)

PROVIDERS = {"anthropic": "Anthropic", "openai": "OpenAI"}


class TokenFormatError(ValueError):
    """The file is not a usage export this reader knows (a column or key is missing)."""


def read_tokens(handle: TextIO, provider: str) -> Iterator[TokenRow | Problem]:
    """CSV or JSON, told apart by the first character (``{`` or ``[``: JSON)."""
    if provider not in PROVIDERS:
        raise TokenFormatError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    first = handle.read(1)
    while first.isspace() or first == "\ufeff":
        first = handle.read(1)
    handle.seek(0)
    if first in "{[" and first:
        return _read_json(handle, provider)
    return _read_csv(handle, provider)


# --- JSON -------------------------------------------------------------------------------


def _read_json(handle: TextIO, provider: str) -> Iterator[TokenRow | Problem]:
    stream = JsonStream(handle)
    counter = [0]
    instants = Memo(parse_instant)
    if stream.peek() == "[":  # pages saved one after the other
        for _ in stream.items():
            yield from _page(stream, provider, counter, instants)
    else:
        yield from _page(stream, provider, counter, instants)


def _page(
    stream: JsonStream, provider: str, counter: list[int], instants: Memo[datetime]
) -> Iterator[TokenRow | Problem]:
    for key in stream.members():
        if key != "data":
            stream.value()
            continue
        for _ in stream.items():
            bucket_start: Any = None
            bucket_end: Any = None
            for bucket_key in stream.members():
                if bucket_key in ("starting_at", "start_time"):
                    bucket_start = stream.value()
                elif bucket_key in ("ending_at", "end_time"):
                    bucket_end = stream.value()
                elif bucket_key == "results":
                    # The bucket's times come before its results in both providers' output.
                    for _ in stream.items():
                        counter[0] += 1
                        yield _result(
                            counter[0], provider, bucket_start, bucket_end, stream.value(), instants
                        )
                else:
                    stream.value()


def _result(
    number: int, provider: str, start: Any, end: Any, result: Any, instants: Memo[datetime]
) -> TokenRow | Problem:
    if not isinstance(result, dict):
        return Problem(number, "a result that is not an object")
    problems: list[str] = []
    at = None
    try:
        at = instants(str(start if start is not None else ""))
    except ValueError as exc:
        problems.append(f"bucket start: {exc}")
    model = result.get("model")
    if not model:
        problems.append("no model (export the report grouped by model)")
    tokens_in = tokens_out = 0
    try:
        if provider == "anthropic":
            cache = result.get("cache_creation") or {}
            parts = [result.get("uncached_input_tokens"), result.get("cache_read_input_tokens")]
            parts += list(cache.values()) if isinstance(cache, dict) else []
            parts += [
                result.get(k)
                for k in ("cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens")
            ]
            tokens_in = sum(parse_count(_count(p), "input tokens") for p in parts)
        else:
            tokens_in = parse_count(_count(result.get("input_tokens")), "input_tokens")
        tokens_out = parse_count(_count(result.get("output_tokens")), "output_tokens")
    except ValueError as exc:
        problems.append(str(exc))
    if problems or at is None:
        return Problem(number, "; ".join(problems))
    keys = (
        "workspace_id",
        "api_key_id",
        "project_id",
        "user_id",
        "service_tier",
        "context_window",
        "batch",
    )
    resource = result.get("api_key_id") or result.get("project_id") or result.get("workspace_id")
    return TokenRow(
        row=number,
        at=at,
        provider=PROVIDERS[provider],
        model=str(model),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=None,
        currency=None,
        resource=str(resource) if resource else None,
        identity=(str(end), *(str(result.get(k) or "") for k in keys)),
    )


def _count(value: Any) -> Any:
    # JSON numbers arrive as int (or Decimal for 1.0-style counts): a count must be whole.
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"a token count is a whole number, not {value}")
        return int(value)
    return value


# --- CSV --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvColumns:
    at: tuple[str, ...]  # the first present one is used
    model: tuple[str, ...]
    inputs: tuple[tuple[str, ...], ...]  # the first group with a present column, summed
    outputs: tuple[str, ...]
    cost: tuple[str, ...]
    currency: tuple[str, ...]
    default_currency: str
    resource: tuple[str, ...]
    session: tuple[str, ...]
    identity: tuple[str, ...]


CSV_COLUMNS = {
    "anthropic": CsvColumns(
        at=("usage_date_utc", "starting_at", "date"),
        model=("model_version", "model"),
        inputs=(
            (
                "usage_input_tokens_no_cache",
                "usage_input_tokens_cache_write_5m",
                "usage_input_tokens_cache_write_1h",
                "usage_input_tokens_cache_read",
            ),
            ("input_tokens",),
        ),
        outputs=("usage_output_tokens", "output_tokens"),
        cost=("cost_usd",),
        currency=(),
        default_currency="USD",
        resource=("api_key", "api_key_id", "workspace", "workspace_id"),
        session=("session_id",),
        identity=("workspace", "api_key", "usage_type", "context_window", "service_tier"),
    ),
    "openai": CsvColumns(
        at=("start_time_iso", "start_time"),
        model=("model",),
        inputs=(("input_tokens",),),
        outputs=("output_tokens",),
        cost=("amount_value",),
        currency=("amount_currency",),
        default_currency="USD",
        resource=("project_id", "api_key_id"),
        session=("session_id",),
        identity=("end_time", "project_id", "api_key_id", "user_id", "batch", "service_tier"),
    ),
}


def _read_csv(handle: TextIO, provider: str) -> Iterator[TokenRow | Problem]:
    columns = CSV_COLUMNS[provider]
    reader = csv.reader(handle)
    header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
    where = {name: index for index, name in enumerate(header)}

    def first(names: tuple[str, ...]) -> int | None:
        return next((where[n] for n in names if n in where), None)

    at, model, outputs = first(columns.at), first(columns.model), first(columns.outputs)
    inputs = next(
        (
            [where[n] for n in group if n in where]
            for group in columns.inputs
            if any(n in where for n in group)
        ),
        [],
    )
    if at is None or model is None or outputs is None or not inputs:
        raise TokenFormatError(
            f"not a {PROVIDERS[provider]} usage export: it needs a time column "
            f"({' or '.join(columns.at)}), a model, input and output token columns; "
            f"found {', '.join(header) or 'no header'}"
        )
    cost, currency = first(columns.cost), first(columns.currency)
    resource, session = first(columns.resource), first(columns.session)
    identity = _picker([where[n] for n in columns.identity if n in where])
    width = len(header)
    provider_name = PROVIDERS[provider]
    instants, currencies = Memo(parse_instant), Memo(check_currency)
    default_currency = columns.default_currency
    for number, record in enumerate(reader, start=2):
        if not "".join(record).strip():
            continue
        if len(record) < width:
            record = record + [""] * (width - len(record))
        cell = [value.strip() for value in record]
        problems: list[str] = []
        when = None
        try:
            when = instants(cell[at])
        except ValueError as exc:
            problems.append(f"{header[at]}: {exc}")
        tokens_in = tokens_out = 0
        try:
            for i in inputs:
                tokens_in += parse_count(cell[i], header[i])
            tokens_out = parse_count(cell[outputs], header[outputs])
        except ValueError as exc:
            problems.append(str(exc))
        amount = code = None
        if cost is not None and cell[cost]:
            try:
                amount = amount_of(cell[cost])
            except ValueError as exc:
                problems.append(f"{header[cost]}: {exc}")
            try:
                given = cell[currency] if currency is not None else ""
                code = currencies(given or default_currency)
            except ValueError as exc:
                problems.append(f"currency: {exc}")
        if not cell[model]:
            problems.append(f"{header[model]}: empty")
        if problems or when is None:
            yield Problem(number, "; ".join(problems))
            continue
        yield TokenRow(
            number,
            when,
            provider_name,
            cell[model],
            tokens_in,
            tokens_out,
            amount,
            code,
            (cell[session] or None) if session is not None else None,
            (cell[resource] or None) if resource is not None else None,
            identity(cell),
        )


def _picker(positions: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """The cells at ``positions``, as a tuple (``itemgetter`` gives a single one bare)."""
    if len(positions) > 1:
        return itemgetter(*positions)
    return lambda cells: tuple(cells[i] for i in positions)
