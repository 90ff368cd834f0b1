"""The gateway engine: a supergraph, a plan cache, subgraph clients; requests in, responses out.

``Gateway.execute`` is the whole request path: look the document up in the plan cache
(parse, validate against the API schema, normalise and plan only on a miss), coerce the
variables, run the plan, shape the response. Introspection is answered from the API
schema by graphql-core; everything else by the subgraphs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_ast_schema,
    execute,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from starlette.types import ASGIApp

from gateway import tracing
from gateway.api_schema import build_api_schema
from gateway.authorization import MAX_VARIANTS, Guard, Requirements, cut, guards_of, refusals
from gateway.execution.executor import Execution
from gateway.execution.shaping import Shaper
from gateway.execution.subgraphs import SubgraphPool, SubgraphSettings
from gateway.limits import (
    LimitExceeded,
    OperationLimits,
    Verdict,
    document_too_large,
    selections_exceeded,
)
from gateway.limits import check as check_limits
from gateway.operation import (
    Operation,
    OperationError,
    TooManySelections,
    normalize,
    select_operation,
)
from gateway.planning.display import plan_json, plan_text
from gateway.planning.nodes import QueryPlan
from gateway.planning.planner import Planner, PlanningError
from gateway.supergraph import Supergraph, read_supergraph
from identity.validation import Identity

DEFAULT_FORWARDED_HEADERS = ("authorization", "traceparent", "tracestate", "x-request-id")


@dataclass(frozen=True)
class GatewaySettings:
    plan_cache_size: int = 1000
    forwarded_headers: tuple[str, ...] = DEFAULT_FORWARDED_HEADERS
    propagated_headers: tuple[str, ...] = ()  # subgraph response headers passed to the client
    subgraph: SubgraphSettings = field(default_factory=SubgraphSettings)
    per_subgraph: Mapping[str, SubgraphSettings] = field(default_factory=dict)
    introspection: bool = True
    limits: OperationLimits = field(default_factory=OperationLimits)


class RequestError(Exception):
    """The request cannot be executed at all (parse, validation, variables)."""

    def __init__(self, errors: list[dict[str, Any]], status: int = 400) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors
        self.status = status


@dataclass(eq=False)
class Prepared:
    document: DocumentNode
    operation: Operation
    plan: QueryPlan
    definition: OperationDefinitionNode
    # the cost limit depends on list sizes given by variables: checked per request
    cost_per_request: bool = False
    # protected fields (@authenticated / @requiresScopes), checked per request
    guards: tuple[Guard, ...] = ()
    # refusals -> (operation to shape, plan of what may be fetched)
    variants: OrderedDict[tuple[tuple[int, str], ...], tuple[Operation, QueryPlan]] = field(
        default_factory=OrderedDict
    )


def _limit_error(exceeded: LimitExceeded) -> RequestError:
    return RequestError([{"message": exceeded.message, "extensions": {"code": exceeded.code}}])


def _error(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted = error.formatted
    formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": code}
    return dict(formatted)


class Gateway:
    def __init__(
        self,
        supergraph_sdl: str,
        *,
        subgraph_urls: Mapping[str, str] | None = None,
        subgraph_apps: Mapping[str, ASGIApp] | None = None,
        settings: GatewaySettings | None = None,
        document: DocumentNode | None = None,
    ) -> None:
        """``document`` is the supergraph's AST when the caller has already parsed it
        (composition does), saving a parse of a possibly large SDL."""
        self.settings = settings or GatewaySettings()
        tracing.configure_from_environment()
        self.supergraph: Supergraph = read_supergraph(supergraph_sdl, document)
        self.api_schema: GraphQLSchema = build_api_schema(self.supergraph)
        self.supergraph_schema = build_ast_schema(self.supergraph.document, assume_valid_sdl=True)
        self.planner = Planner(self.supergraph, self.api_schema, self.supergraph_schema)
        self.requirements = Requirements(self.supergraph)
        self.abstract_types = frozenset(
            t.name for t in self.supergraph.types.values() if t.kind in ("interface", "union")
        )
        urls = {name: s.url for name, s in self.supergraph.subgraphs.items()}
        urls.update(subgraph_urls or {})
        self.pool = SubgraphPool(
            urls, subgraph_apps, self.settings.per_subgraph, self.settings.subgraph
        )
        self.cache: OrderedDict[tuple[str, str | None], Prepared | RequestError] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    async def close(self) -> None:
        await self.pool.close()

    # -- preparing ------------------------------------------------------------------

    def prepare(self, query: str, operation_name: str | None) -> Prepared:
        """The parsed, validated and planned operation (cached; failures too)."""
        key = (query, operation_name)
        cached = self.cache.get(key)
        if cached is not None:
            self.cache.move_to_end(key)
            self.cache_hits += 1
            if isinstance(cached, RequestError):
                raise cached
            return cached
        self.cache_misses += 1
        try:
            result: Prepared | RequestError = self._prepare(query, operation_name)
        except RequestError as error:
            result = error
        self.cache[key] = result
        if len(self.cache) > self.settings.plan_cache_size:
            self.cache.popitem(last=False)
        if isinstance(result, RequestError):
            raise result
        return result

    def _prepare(self, query: str, operation_name: str | None) -> Prepared:
        # Cheapest refusals first, and everything whose work grows with how often
        # fragments are spread only after the limits, which are computed without
        # expanding them: size before parsing, tokens while parsing, the limits on the
        # parsed document, then validation, then normalisation within its budget.
        limits = self.settings.limits
        too_large = document_too_large(query, limits)
        if too_large is not None:
            raise _limit_error(too_large)
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLError as error:
            code = (
                "MAX_TOKENS_EXCEEDED"
                if "tokens" in error.message and limits.max_tokens
                else "GRAPHQL_PARSE_FAILED"
            )
            raise RequestError([_error(error, code)]) from None
        verdict = self._check_limits(document, operation_name)
        if verdict.exceeded is not None:
            raise _limit_error(verdict.exceeded)
        errors = validate(self.api_schema, document)
        if errors:
            raise RequestError([_error(e, "GRAPHQL_VALIDATION_FAILED") for e in errors])
        try:
            operation = normalize(self.api_schema, document, operation_name, limits.max_selections)
        except TooManySelections as error:
            raise _limit_error(selections_exceeded(error.budget)) from None
        except OperationError as error:
            raise RequestError(
                [{"message": str(error), "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"}}]
            ) from None
        if operation.introspection and not self.settings.introspection:
            raise RequestError(
                [
                    {
                        "message": "introspection is disabled on this gateway",
                        "extensions": {"code": "INTROSPECTION_DISABLED"},
                    }
                ]
            )
        try:
            plan = self.planner.plan(operation)
        except PlanningError as error:
            raise RequestError(
                [
                    {
                        "message": f"cannot plan this operation: {error}",
                        "extensions": {"code": "QUERY_PLANNING_FAILED"},
                    }
                ],
                status=500,
            ) from None
        return Prepared(
            document,
            operation,
            plan,
            operation.definition,
            verdict.depends_on_variables,
            guards_of(self.requirements, operation),
        )

    def _check_limits(self, document: DocumentNode, operation_name: str | None) -> Verdict:
        """The limits of the operation to run; of every operation when which one runs is
        not clear yet (that error is reported after validation)."""
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        try:
            operations = [select_operation(document, operation_name)]
        except OperationError:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        verdicts = [
            check_limits(self.api_schema, operation, fragments, self.settings.limits)
            for operation in operations
        ]
        refused = next((v for v in verdicts if v.exceeded is not None), None)
        return refused or (verdicts[0] if len(verdicts) == 1 else Verdict(None, False))

    def authorized(
        self, prepared: Prepared, identity: Identity | None
    ) -> tuple[Operation, QueryPlan]:
        """The operation to answer and the plan to run for this caller: the prepared ones
        unless some protected field is refused, else a cut variant (cached per refusals)."""
        if not prepared.guards:
            return prepared.operation, prepared.plan
        refused = refusals(prepared.guards, identity)
        if not refused:
            return prepared.operation, prepared.plan
        key = tuple(sorted((field_id, r.code) for field_id, r in refused.items()))
        variant = prepared.variants.get(key)
        if variant is None:
            cut_operation = cut(prepared.operation, refused)
            plan = (
                QueryPlan(None, 0)
                if cut_operation.empty
                else self.planner.plan(cut_operation.planned)
            )
            variant = (cut_operation.shaped, plan)
            prepared.variants[key] = variant
            if len(prepared.variants) > MAX_VARIANTS:
                prepared.variants.popitem(last=False)
        return variant

    def plan_text(self, query: str, operation_name: str | None = None) -> str:
        return plan_text(self.prepare(query, operation_name).plan)

    # -- executing ------------------------------------------------------------------

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        include_plan: bool = False,
        identity: Identity | None = None,
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The GraphQL response for one request, and response headers to pass on.

        ``identity`` is the authenticated caller (None: anonymous); fields the schema
        protects from them come back null with an UNAUTHORIZED/FORBIDDEN error. Raises
        RequestError when the request cannot be executed at all.
        """
        with tracing.span(
            "graphql.request", "server", **{"graphql.operation.name": operation_name}
        ) as current:
            try:
                result = await self._execute(
                    query, variables, operation_name, headers, include_plan, identity
                )
            except RequestError as error:
                tracing.mark_error(
                    current, error.errors[0]["extensions"]["code"] if error.errors else ""
                )
                raise
            if current is not None and result[0].get("errors"):
                current.set_attribute("graphql.errors", len(result[0]["errors"]))
            return result

    async def _execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        headers: Mapping[str, str] | None,
        include_plan: bool,
        identity: Identity | None,
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        prepared = self.prepare(query, operation_name)
        values = get_variable_values(
            self.api_schema, prepared.definition.variable_definitions or (), dict(variables or {})
        )
        if isinstance(values, list):
            raise RequestError([_error(e, "BAD_USER_INPUT") for e in values])
        coerced: dict[str, Any] = values.coerced
        if prepared.cost_per_request:
            operation = prepared.operation
            verdict = check_limits(
                self.api_schema,
                operation.definition,
                operation.fragments,
                self.settings.limits,
                coerced,
            )
            if verdict.exceeded is not None:
                raise _limit_error(verdict.exceeded)
        forwarded = {
            k: v for k, v in (headers or {}).items() if k.lower() in self.settings.forwarded_headers
        }
        operation, plan = self.authorized(prepared, identity)
        run = Execution(
            self.pool,
            coerced,
            forwarded,
            frozenset(h.lower() for h in self.settings.propagated_headers),
            self.abstract_types,
        )
        await run.run(plan.node)
        data, errors = Shaper(operation, coerced, run.errors, self.abstract_types).shape(run.data)
        if prepared.operation.introspection and data is not None:
            data = self._with_introspection(prepared, data, coerced)
        response: dict[str, Any] = {"data": data}
        if errors:
            response["errors"] = errors
        if include_plan:
            response["extensions"] = {
                "queryPlan": plan_json(plan.node),
                "queryPlanText": plan_text(plan),
            }
        return response, run.response_headers

    def _with_introspection(
        self, prepared: Prepared, data: dict[str, Any], variables: Mapping[str, Any]
    ) -> dict[str, Any]:
        definition = OperationDefinitionNode(
            operation=OperationType.QUERY,
            variable_definitions=prepared.definition.variable_definitions,
            selection_set=SelectionSetNode(selections=tuple(prepared.operation.introspection)),
        )
        document = DocumentNode(definitions=(definition, *prepared.operation.fragments.values()))
        result = execute(self.api_schema, document, variable_values=dict(variables))
        extra = result.data or {}  # type: ignore[union-attr]
        order = [
            s.alias.value if s.alias else s.name.value
            for s in prepared.definition.selection_set.selections
            if isinstance(s, FieldNode)
        ]
        merged = {**data, **extra}
        ordered = {key: merged[key] for key in order if key in merged}
        ordered.update({k: v for k, v in merged.items() if k not in ordered})
        return ordered
