"""From a tool call to the GraphQL document it runs: arguments checked, ``fields`` parsed
and validated, documents cached per call shape; ``execute_graphql``'s own checks."""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    OperationType,
    get_operation_ast,
    parse,
    print_ast,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode, TokenKind
from graphql.language.parser import Parser

from gateway.bounded_cache import BoundedCache, digest
from gateway.mcp.json_schema import (
    is_required,
)
from gateway.mcp.spec import ToolInputError, ToolSpec

# -- operations ------------------------------------------------------------------------


def operation_for(
    schema: GraphQLSchema, tool: ToolSpec, arguments: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The GraphQL document a query or mutation tool runs, and its variables.

    Every argument given becomes a variable typed as the field's argument; the
    selection argument (``fields``) replaces the default selection. Raises ToolInputError
    (with the GraphQL messages) for anything the schema would refuse."""
    root = _tool_field(schema, tool)
    given = dict(arguments)
    custom = given.pop(tool.selection_argument, None) if tool.selection_argument else None
    _check_arguments(tool, root, given)
    variables = {name: given[name] for name in root.args if name in given}
    # An agent calls the same tool with the same shape over and over: the document
    # depends only on the tool, which arguments are given and the selection text, so it
    # is parsed and validated once per shape (values are still checked every call).
    if custom is not None and not isinstance(custom, str):
        _selection_text(tool, custom)  # raises: the selection must be a string
    key = (tool.name, tuple(variables), None if custom is None else digest(custom))
    documents = _documents.get(schema)
    if documents is None:
        documents = _documents[schema] = BoundedCache(_BYTES_PER_SCHEMA, _DOCUMENTS_PER_SCHEMA)
    cached = documents.get(key)
    if cached is None:
        selection = _selection_text(tool, custom)
        document = _document_text(tool, root, variables, selection)
        parsed = parse(document)
        _validate(schema, parsed, f"The request of {tool.name} is not valid")
        cached = (document, parsed)
        # a parsed document weighs ~100-200 bytes per character (as a plan's does)
        documents.put(key, cached, 4096 + 256 * len(document))
    document, parsed = cached
    _check_values(schema, parsed, variables)
    return document, variables


# Valid tool documents by schema (a reload's new schema starts afresh, the old one's go
# with it) and call shape (the selection text by its digest), least recently used
# dropped first, bounded in count and in estimated bytes.
_documents: weakref.WeakKeyDictionary[
    GraphQLSchema,
    BoundedCache[tuple[str, tuple[str, ...], bytes | None], tuple[str, DocumentNode]],
] = weakref.WeakKeyDictionary()
_DOCUMENTS_PER_SCHEMA = 512
_BYTES_PER_SCHEMA = 32 * 1024 * 1024


def _tool_field(schema: GraphQLSchema, tool: ToolSpec) -> GraphQLField:
    root_type = {"query": schema.query_type, "mutation": schema.mutation_type}.get(tool.kind)
    if tool.field is None or root_type is None:
        raise ToolInputError(f"{tool.name} is not a query or mutation tool")
    definition = root_type.fields.get(tool.field)
    if definition is None:
        raise ToolInputError(
            f"{tool.name}: the field {tool.field} is no longer in the schema; list the tools again"
        )
    return definition


def _check_arguments(tool: ToolSpec, root: GraphQLField, given: Mapping[str, Any]) -> None:
    accepted = [*root.args, *([tool.selection_argument] if tool.selection_argument else [])]
    unknown = sorted(set(given) - set(root.args))
    if unknown:
        listed = ", ".join(accepted) or "none"
        raise ToolInputError(
            f"{tool.name} has no argument {', '.join(unknown)}; its arguments: {listed}"
        )
    missing = [
        f"{name} ({argument.type})"
        for name, argument in root.args.items()
        if is_required(argument) and name not in given
    ]
    if missing:
        raise ToolInputError(f"{tool.name} needs the argument(s) {', '.join(missing)}")


def _selection_text(tool: ToolSpec, custom: Any) -> str | None:
    """The selection set to ask: the caller's, parsed alone, or the default."""
    if custom is None or (isinstance(custom, str) and not custom.strip()):
        return tool.default_selection
    if not isinstance(custom, str):
        raise ToolInputError(f"`{tool.selection_argument}` is a string: a GraphQL selection set")
    text = custom.strip()
    if not text.startswith("{"):
        text = "{ " + text + " }"
    # parsed on its own up to its end: the text can only ever be one selection set,
    # never a second operation smuggled after a closing brace
    try:
        parser = Parser(text, no_location=True, max_tokens=10_000)
        parser.expect_token(TokenKind.SOF)
        node = parser.parse_selection_set()
        parser.expect_token(TokenKind.EOF)
    except GraphQLError as error:
        raise ToolInputError(
            f"`{tool.selection_argument}` is not a GraphQL selection set: {error.message}",
            [_input_error(error, "GRAPHQL_PARSE_FAILED")],
        ) from None
    return print_ast(node)


def _operation_name(tool_name: str) -> str:
    name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", tool_name))
    return name if name and not name[0].isdigit() else f"Tool{name}"


def _document_text(
    tool: ToolSpec, root: GraphQLField, variables: Mapping[str, Any], selection: str | None
) -> str:
    definitions = ", ".join(f"${name}: {root.args[name].type}" for name in variables)
    call = ", ".join(f"{name}: ${name}" for name in variables)
    head = f"{tool.kind} {_operation_name(tool.name)}" + (f"({definitions})" if definitions else "")
    body = f"{tool.field}" + (f"({call})" if call else "") + (f" {selection}" if selection else "")
    return f"{head} {{ {body} }}"


def _input_error(error: GraphQLError, code: str) -> dict[str, Any]:
    return {"message": error.message, "extensions": {"code": code}}


def _validate(schema: GraphQLSchema, document: DocumentNode, context: str) -> None:
    errors = validate(schema, document)
    if errors:
        messages = " ".join(e.message for e in errors)
        raise ToolInputError(
            f"{context}: {messages}", [_input_error(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]
        )


def _check_values(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
    """Coerce the values as the server will, so a bad value fails here, named."""
    operation = get_operation_ast(document)
    assert operation is not None  # the document was built with exactly one operation
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        messages = " ".join(e.message for e in coerced)
        raise ToolInputError(messages, [_input_error(e, "BAD_USER_INPUT") for e in coerced])


def check_executable(
    schema: GraphQLSchema,
    query: str,
    operation_name: str | None = None,
    allow_mutations: bool = False,
) -> None:
    """Raise ToolInputError unless execute_graphql may run this document: it must parse,
    validate, name an operation there, and be a query (or a mutation when allowed)."""
    try:
        document = parse(query, max_tokens=20_000)
    except GraphQLError as error:
        raise ToolInputError(
            f"The query does not parse: {error.message}",
            [_input_error(error, "GRAPHQL_PARSE_FAILED")],
        ) from None
    _validate(schema, document, "The query is not valid")
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise ToolInputError(_no_operation(document, operation_name))
    _check_operation_kind(operation, allow_mutations)


def _no_operation(document: DocumentNode, operation_name: str | None) -> str:
    names = [
        d.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    ]
    if operation_name:
        return f"No operation named {operation_name}; the document has: {', '.join(names) or 'none named'}"
    return f"The document has several operations: give operationName, one of {', '.join(names)}"


def _check_operation_kind(operation: OperationDefinitionNode, allow_mutations: bool) -> None:
    if operation.operation is OperationType.SUBSCRIPTION:
        raise ToolInputError("Subscriptions cannot run through execute_graphql")
    if operation.operation is OperationType.MUTATION and not allow_mutations:
        raise ToolInputError(
            "execute_graphql is read-only here: mutations are disabled. Use the mutation's "
            "own tool if there is one."
        )
