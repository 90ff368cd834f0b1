"""The compiled fast paths of execution against their exact counterparts: shaping
(gateway/execution/fast_shaping.py against shaping.Shaper), collecting the objects of
an entity fetch (objects_along against objects_at) and telling representations apart.

The whole suite also runs with HUBGRAPH_CHECK_SHAPING=1 (tests/conftest.py): every
response any test gets is shaped both ways and compared."""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson
import pytest

from gateway.engine import Gateway
from gateway.execution.executor import _identity, objects_along, objects_at
from gateway.execution.fast_shaping import shape_clean
from gateway.execution.shaping import Shaper
from tests.gateway.failing_subgraphs import SUPERGRAPH

QUERY = """query Q($skip: Boolean!) {
  top: topProducts { kind: __typename upc name reviews { body } count: reviewCount @skip(if: $skip) }
  reviewPing
}"""


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway(SUPERGRAPH.read_text())


def _merged(gateway: Gateway) -> tuple[Any, dict[str, Any]]:
    """The prepared operation and a merged tree as the executor leaves it (data keys)."""
    operation = gateway.prepare(QUERY, None).operation
    top = operation.selection.by_type["Query"][0]
    product = {item.name: item.data_key for item in top.selection.by_type["Product"]}
    products = [
        {
            "__typename": "Product",
            product["upc"]: f"p{i}",
            product["name"]: f"Product {i}",
            product["reviews"]: [{"body": "good"}, {"body": "great"}] if i else None,
            product["reviewCount"]: 2 * i,
        }
        for i in range(3)
    ]
    return operation, {top.data_key: products, "reviewPing": True}


def _exact(gateway: Gateway, operation: Any, data: dict[str, Any], variables: dict[str, Any]):
    return Shaper(operation, variables, [], gateway.abstract_types, gateway.visible_types).shape(
        data
    )


@pytest.mark.parametrize("skip", [True, False])
def test_a_clean_tree_is_shaped_exactly_as_the_exact_shaper_does(gateway: Gateway, skip: bool):
    operation, data = _merged(gateway)
    variables = {"skip": skip}
    before = copy.deepcopy(data)
    fast = shape_clean(operation, data, variables, gateway.abstract_types, gateway.visible_types)
    exact, errors = _exact(gateway, operation, data, variables)
    assert errors == [] and fast is not None
    assert orjson.dumps(fast) == orjson.dumps(exact)  # the same keys in the same order
    assert list(fast["top"][1]) == (
        ["kind", "upc", "name", "reviews"] + ([] if skip else ["count"])
    )
    assert data == before  # the merged tree is left as it was


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda p, keys: p.__setitem__(keys["name"], None), id="null-non-null-leaf"),
        pytest.param(lambda p, keys: p.pop(keys["name"]), id="missing-non-null-leaf"),
        pytest.param(
            lambda p, keys: p.__setitem__(keys["reviews"], {"body": "x"}), id="not-a-list"
        ),
        pytest.param(lambda p, keys: p.__setitem__(keys["reviews"], [None]), id="null-element"),
        pytest.param(lambda p, keys: p.__setitem__(keys["reviews"], ["text"]), id="not-an-object"),
    ],
)
def test_whatever_needs_an_error_is_left_to_the_exact_shaper(gateway: Gateway, spoil) -> None:
    operation, data = _merged(gateway)
    top = operation.selection.by_type["Query"][0]
    keys = {item.name: item.data_key for item in top.selection.by_type["Product"]}
    spoil(data[top.data_key][1], keys)
    variables = {"skip": False}
    assert shape_clean(operation, data, variables, gateway.abstract_types, None) is None
    _, errors = _exact(gateway, operation, data, variables)
    assert errors  # the exact shaper reports it


def _random_tree(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([None, 1, "x", {"id": rng.randrange(5)}, []])
    if rng.random() < 0.5:
        return [_random_tree(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {key: _random_tree(rng, depth - 1) for key in rng.sample("abc", rng.randrange(1, 4))}


def test_objects_along_finds_what_objects_at_finds_in_the_same_order() -> None:
    rng = random.Random(20)
    paths = [(), ("a",), ("a", "@"), ("a", "@", "b"), ("@", "a"), ("a", "b", "@", "c"), ("b", "@")]
    for _ in range(2000):
        tree = _random_tree(rng, 5)
        for path in paths:
            expected = [obj for obj, _ in objects_at(tree, path)]
            found = objects_along(tree, path)
            assert len(found) == len(expected)
            assert all(a is b for a, b in zip(found, expected, strict=True))


def test_representations_are_told_apart_as_their_json_is() -> None:
    reps = [
        {"__typename": "T", "id": "1"},
        {"__typename": "T", "id": 1},
        {"__typename": "T", "id": 1.0},
        {"__typename": "T", "id": True},
        {"__typename": "U", "id": "1"},
        {"__typename": "T", "id": "1", "v": "2"},
        {"__typename": "T", "id": {"a": 1, "b": 2}},
    ]
    assert len({_identity(rep) for rep in reps}) == len(reps)
    assert _identity({"__typename": "T", "id": "1"}) == _identity({"__typename": "T", "id": "1"})
    assert _identity({"__typename": "T", "id": {"a": 1, "b": 2}}) == _identity(
        {"__typename": "T", "id": {"b": 2, "a": 1}}
    )
