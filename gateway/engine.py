"""The gateway engine: a supergraph, a plan cache, subgraph clients; requests in, responses out.

``Gateway.execute`` is the whole request path: look the document up in the plan cache
(parse, validate against the API schema, normalise and plan only on a miss), coerce the
variables, run the plan, shape the response. Introspection is answered from the API
schema by graphql-core; everything else by the subgraphs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
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

from gateway import defaults, tracing
from gateway.api_schema import build_api_schema
from gateway.authorization import MAX_VARIANTS, Guard, Requirements, cut, guards_of, refusals
from gateway.bounded_cache import BoundedCache, digest
from gateway.execution.executor import Execution
from gateway.execution.fast_shaping import shape_clean
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
from gateway.planning.checker import check_plan
from gateway.planning.display import plan_json, plan_text
from gateway.planning.nodes import QueryPlan
from gateway.planning.planner import Planner, PlanningError
from gateway.supergraph import Supergraph, read_supergraph
from identity.validation import Identity

log = logging.getLogger("hubgraph.gateway.planning")
# Debugging a plan: every new plan checked (gateway/planning/checker.py), problems logged.
CHECK_PLANS_ENV = "HUBGRAPH_CHECK_PLANS"
CHECK_SHAPING_ENV = "HUBGRAPH_CHECK_SHAPING"

DEFAULT_FORWARDED_HEADERS = defaults.FORWARDED_HEADERS


# What a cached plan weighs, estimated from its document's length: measured with
# tracemalloc on this project's supergraph, a prepared operation holds 35-45 KiB for a
# one-line query and 120-400 bytes per character of larger ones (AST, normalised
# operation, plan); the estimate errs high.
PLAN_BASE_BYTES = 48 * 1024
PLAN_BYTES_PER_CHAR = 400
ERROR_BASE_BYTES = 1024

PlanKey = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class GatewaySettings:
    plan_cache_size: int = defaults.PLAN_CACHE_SIZE
    plan_cache_bytes: int = defaults.PLAN_CACHE_BYTES
    forwarded_headers: tuple[str, ...] = DEFAULT_FORWARDED_HEADERS
    propagated_headers: tuple[str, ...] = ()  # subgraph response headers passed to the client
    subgraph: SubgraphSettings = field(default_factory=SubgraphSettings)
    per_subgraph: Mapping[str, SubgraphSettings] = field(default_factory=dict)
    introspection: bool = True
    limits: OperationLimits = field(default_factory=OperationLimits)
    # seconds a request waits for its operation to be parsed, validated and planned
    # (on a plan cache miss) before it is answered 503 PREPARE_TIMEOUT
    prepare_timeout_s: float = defaults.PREPARE_TIMEOUT_S


# Plan-cache misses are prepared here, off the event loop, so that a heavy document
# (its work is bounded by the limits, but can still take a noticeable time) never
# stalls /healthz or the requests whose plans are cached. One thread: the work is
# CPU-bound (threads would only share one core's worth under the GIL), and the planner's
# memo tables then never see two writers.
_PREPARING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubgraph-prepare")


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


def plan_key(query: str, operation_name: str | None) -> PlanKey:
    return (digest(query), None if operation_name is None else digest(operation_name))


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
        self.visible_types = frozenset(self.api_schema.type_map)
        urls = {name: s.url for name, s in self.supergraph.subgraphs.items()}
        urls.update(subgraph_urls or {})
        self.pool = SubgraphPool(
            urls, subgraph_apps, self.settings.per_subgraph, self.settings.subgraph
        )
        # keyed by digests: the cache must not keep every client's text to find its plans
        self.cache: BoundedCache[PlanKey, Prepared | RequestError] = BoundedCache(
            self.settings.plan_cache_bytes, self.settings.plan_cache_size
        )
        # every response shaped both ways and compared (gateway/execution/fast_shaping.py)
        self.check_shaping = os.environ.get(CHECK_SHAPING_ENV) == "1"
        self.cache_hits = 0
        self.cache_misses = 0
        self._preparing: dict[PlanKey, asyncio.Future[Prepared | RequestError]] = {}

    async def close(self) -> None:
        await self.pool.close()

    # -- preparing ------------------------------------------------------------------

    def prepare(self, query: str, operation_name: str | None) -> Prepared:
        """The parsed, validated and planned operation (cached; failures too)."""
        key = plan_key(query, operation_name)
        cached = self.cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            if isinstance(cached, RequestError):
                raise cached
            return cached
        self.cache_misses += 1
        try:
            result: Prepared | RequestError = self._prepare(query, operation_name)
        except RequestError as error:
            result = error
        self.remember(key, query, result)
        if isinstance(result, RequestError):
            raise result
        return result

    async def prepare_async(self, query: str, operation_name: str | None) -> Prepared:
        """``prepare``, with a miss prepared on the worker thread within the deadline
        (concurrent misses of one operation share the work). The result is cached when
        it is ready, even if the request that asked stopped waiting for it."""
        key = plan_key(query, operation_name)
        cached = self.cache.get(key)
        if cached is None:
            cached = await self._prepared_off_loop(key, query, operation_name)
        else:
            self.cache_hits += 1
        if isinstance(cached, RequestError):
            raise cached
        return cached

    async def _prepared_off_loop(
        self, key: PlanKey, query: str, operation_name: str | None
    ) -> Prepared | RequestError:
        future = self._preparing.get(key)
        if future is None:
            self.cache_misses += 1
            future = asyncio.get_running_loop().run_in_executor(
                _PREPARING, self._prepare_result, query, operation_name
            )
            self._preparing[key] = future

            def done(finished: asyncio.Future[Prepared | RequestError]) -> None:
                del self._preparing[key]
                if not finished.cancelled() and finished.exception() is None:
                    self.remember(key, query, finished.result())

            future.add_done_callback(done)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.prepare_timeout_s)
        except TimeoutError:
            raise RequestError(
                [
                    {
                        "message": "preparing this operation took longer than "
                        f"{self.settings.prepare_timeout_s:g} s; try again, or send a "
                        "smaller operation",
                        "extensions": {"code": "PREPARE_TIMEOUT"},
                    }
                ],
                status=503,
            ) from None

    def _prepare_result(self, query: str, operation_name: str | None) -> Prepared | RequestError:
        try:
            return self._prepare(query, operation_name)
        except RequestError as error:
            return error

    def cached(self, query: str, operation_name: str | None) -> Prepared | RequestError | None:
        """What the plan cache holds for this operation (the LRU order unchanged)."""
        return self.cache.peek(plan_key(query, operation_name))

    def forget(self, query: str, operation_name: str | None) -> None:
        self.cache.pop(plan_key(query, operation_name))

    def remember(self, key: PlanKey, query: str, result: Prepared | RequestError) -> None:
        if isinstance(result, RequestError):
            size = ERROR_BASE_BYTES + 2 * sum(len(str(e.get("message", ""))) for e in result.errors)
        else:
            size = PLAN_BASE_BYTES + PLAN_BYTES_PER_CHAR * len(query)
        self.cache.put(key, result, size)

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
            if os.environ.get(CHECK_PLANS_ENV) == "1":
                for problem in check_plan(plan, operation):
                    log.warning("plan problem (%s): %s", operation.name or "anonymous", problem)
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
        prepared = await self.prepare_async(query, operation_name)
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
        data, errors = self._shape(operation, coerced, run)
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

    def _shape(
        self, operation: Operation, variables: Mapping[str, Any], run: Execution
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The client's data and errors: compiled when the run recorded no error and
        nothing needs one (gateway/execution/fast_shaping.py), else field by field."""
        if not run.errors:
            data = shape_clean(
                operation, run.data, variables, self.abstract_types, self.visible_types
            )
            if data is not None:
                if self.check_shaping:
                    self._check_shaping(operation, variables, run, data)
                return data, []
        return Shaper(
            operation, variables, run.errors, self.abstract_types, self.visible_types
        ).shape(run.data)

    def _check_shaping(
        self,
        operation: Operation,
        variables: Mapping[str, Any],
        run: Execution,
        data: dict[str, Any],
    ) -> None:
        exact, errors = Shaper(
            operation, variables, run.errors, self.abstract_types, self.visible_types
        ).shape(run.data)
        if errors or orjson.dumps(exact) != orjson.dumps(data):
            raise AssertionError(
                f"the compiled shaper answered {orjson.dumps(data)[:500]!r}, the exact one "
                f"{orjson.dumps(exact)[:500]!r} with {len(errors)} errors"
            )

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
