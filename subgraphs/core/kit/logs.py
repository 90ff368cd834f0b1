"""Structured logging: one JSON object per line in production, readable lines in a terminal.

The request id and operation name of the request being served travel in context
variables so every log line of a request carries them without passing them around.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

_request_id: ContextVar[str | None] = ContextVar("hubgraph_request_id", default=None)
_operation: ContextVar[str | None] = ContextVar("hubgraph_operation", default=None)

# Attributes every LogRecord has; anything else passed via ``extra=`` is a field of ours.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> Any:
    return _request_id.set(value)


def reset_request_id(token: Any) -> None:
    _request_id.reset(token)


def set_operation_name(name: str | None) -> None:
    _operation.set(name)


def current_operation_name() -> str | None:
    return _operation.get()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    if (rid := _request_id.get()) and "request_id" not in fields:
        fields["request_id"] = rid
    return fields


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(log_format: str = "console", level: str = "info") -> None:
    """Install one handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours.
    logging.getLogger("uvicorn.access").disabled = True
    # Strawberry logs every resolver error itself; ours (errors.py) says more, once.
    logging.getLogger("strawberry.execution").disabled = True
    # Alembic narrates every context it opens; kit.migrations logs what changed instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
