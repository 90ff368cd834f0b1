"""Domain errors and how they reach GraphQL clients.

Service code raises :class:`HubError` subclasses; they become GraphQL errors whose
``extensions.code`` is stable and machine-readable. Anything else is a bug or an outage:
the client sees a generic message plus the request id, and the traceback goes to the log
— never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import IntegrityError, OperationalError

from identity.access import FORBIDDEN, UNAUTHORIZED
from subgraphs.core.kit.logs import current_request_id

log = logging.getLogger("hubgraph.errors")


class HubError(Exception):
    """An expected failure the caller can act on. ``code`` goes to ``extensions.code``."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(HubError):
    code = "NOT_FOUND"


class BadUserInput(HubError):
    code = "BAD_USER_INPUT"


class Conflict(HubError):
    code = "CONFLICT"


class InvalidTransition(HubError):
    code = "INVALID_TRANSITION"


class Unavailable(HubError):
    code = "SERVICE_UNAVAILABLE"


class NotConfigured(HubError):
    """The hub is not set up for this (a setting it needs is missing or unusable)."""

    code = "NOT_CONFIGURED"


class Unauthorized(HubError):
    """A protected field asked of an anonymous caller: authenticate first."""

    code = UNAUTHORIZED


class Forbidden(HubError):
    """A protected field asked of a caller who lacks a scope it requires."""

    code = FORBIDDEN


def _classify(error: GraphQLError) -> GraphQLError:
    """Return the error the client should see, with ``extensions.code`` set."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, HubError):
        extensions.update(original.details)
        extensions["code"] = original.code
        return _with(error, original.message, extensions)
    if isinstance(original, IntegrityError):
        extensions["code"] = Conflict.code
        return _with(
            error,
            "the change conflicts with existing data (a unique or "
            "referential constraint was violated)",
            extensions,
        )
    if isinstance(original, OperationalError) and "locked" in str(original).lower():
        extensions["code"] = Unavailable.code
        return _with(error, "the hub's database is busy; retry the request", extensions)
    if original is None or isinstance(original, GraphQLError):
        # Parse, validation and argument-coercion errors: the client's fault, and safe
        # to show as they are.
        extensions.setdefault("code", _code_for_request_error(error))
        return _with(error, error.message, extensions)
    log.error("unexpected error in resolver at %s", error.path, exc_info=original)
    extensions["code"] = "INTERNAL_SERVER_ERROR"
    request_id = current_request_id()
    if request_id:
        extensions["requestId"] = request_id
    return _with(error, "internal error; the hub's log has the details", extensions)


def _code_for_request_error(error: GraphQLError) -> str:
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable") or "got invalid value" in message:
        return "BAD_USER_INPUT"
    if error.path:
        return "INTERNAL_SERVER_ERROR"
    return "GRAPHQL_VALIDATION_FAILED"


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    # Changed in place: Strawberry keeps references to pre-execution errors in more
    # than one list, and every one of them must show the classified error.
    error.message = message
    error.extensions = extensions
    error.original_error = None
    return error


def classify_errors(errors: Iterable[GraphQLError]) -> None:
    """Give every error a stable ``extensions.code``; mask and log unexpected ones.

    Called from the hub schema's ``process_errors``, which Strawberry runs for every
    error of every phase (parsing, validation, execution) before the response is built.
    """
    for error in errors:
        if not (error.extensions or {}).get("code"):
            _classify(error)
