"""Composition-error corpus: subgraph sets that a correct composer must reject.

Each :class:`ErrorCase` is a small set of hand-written federation-2 subgraph SDLs with one
mistake in it, plus where the mistake is: the subgraph and the schema coordinate
(``Type``, ``Type.field``, ``Type.field(arg:)``) an error must name, and the error code
the reference composer (``@theguild/federation-composition``, run by
``tests/gateway/compose/compose.mjs``) reports for it.

``reference.json`` holds what the reference composer actually says about every case;
regenerate it with ``uv run python -m tests.gateway.composition_errors.record`` after
changing a case (the recorder refuses cases the reference accepts, or whose recorded
errors do not carry the case's code, subgraph and coordinate).

When an error concerns several subgraphs (e.g. a non-shareable field resolved by two of
them), ``subgraph`` is one of those the reference message names; our composer may then
name it either in ``CompositionError.subgraph`` or in the message.

The comment above each case quotes the gist of the reference composer's message.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
from dataclasses import dataclass
from typing import Any

CORPUS_DIR = pathlib.Path(__file__).resolve().parent
REFERENCE_PATH = CORPUS_DIR / "reference.json"

LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", '
    '"@shareable", "@external", "@requires", "@provides", "@override", "@inaccessible", '
    '"@interfaceObject"])\n'
)


def subgraph_url(subgraph_name: str) -> str:
    """Placeholder URL given to the composers for a subgraph (never contacted)."""
    return f"http://{subgraph_name}.invalid/graphql"


@dataclass(frozen=True)
class ErrorCase:
    """A subgraph set the composer must reject, and what the error must point at."""

    name: str
    subgraphs: list[tuple[str, str]]  # (subgraph name, federation-2 SDL)
    subgraph: str  # the subgraph an error must name
    coordinate: str  # what an error must name: "Type", "Type.field" or "Type.field(arg:)"
    code: str  # the reference composer's error code
    # False only where the reference composer's message names no subgraph at all (its
    # supergraph-level checks); ``subgraph`` is then where the mistake is, which our
    # composer must still name. The recorder checks the reference names none of the set.
    reference_names_subgraph: bool = True

    def payload(self) -> dict[str, list[dict[str, str]]]:
        """The compose.mjs input for this case."""
        return {
            "subgraphs": [
                {"name": name, "url": subgraph_url(name), "sdl": sdl}
                for name, sdl in self.subgraphs
            ]
        }


def fingerprint(case: ErrorCase) -> str:
    """A digest of the case's subgraphs (names and SDLs): changes when the case does."""
    text = json.dumps(case.subgraphs, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _sdl(body: str) -> str:
    return LINK + "\n" + body.strip() + "\n"


# The authorization cases' link: the directives above plus @authenticated / @requiresScopes.
AUTH_LINK = LINK.replace(
    '"@interfaceObject"]', '"@interfaceObject", "@authenticated", "@requiresScopes"]'
)


def _auth_sdl(body: str) -> str:
    return AUTH_LINK + "\n" + body.strip() + "\n"


ERROR_CASES: list[ErrorCase] = [
    # Reference: Non-shareable field "Product.name" is resolved from multiple subgraphs: it is
    # resolved from subgraphs "products" and "reviews" and defined as non-shareable in all of them
    ErrorCase(
        name="entity_field_not_shareable",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  name: String
}
"""
                ),
            ),
            (
                "reviews",
                _sdl(
                    """
type Query {
  topReviews: [Review!]!
}

type Review {
  body: String!
  product: Product!
}

type Product @key(fields: "id") {
  id: ID!
  name: String
}
"""
                ),
            ),
        ],
        subgraph="reviews",
        coordinate="Product.name",
        code="INVALID_FIELD_SHARING",
    ),
    # Reference: Non-shareable field "Money.amount" is resolved from multiple subgraphs: it is
    # resolved from subgraphs "billing" and "products" and defined as non-shareable in all of
    # them (and the same for "Money.currency")
    ErrorCase(
        name="value_type_field_not_shareable",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  cheapest: Money
}

type Money {
  amount: Int!
  currency: String!
}
"""
                ),
            ),
            (
                "billing",
                _sdl(
                    """
type Query {
  balance: Money
}

type Money {
  amount: Int!
  currency: String!
}
"""
                ),
            ),
        ],
        subgraph="billing",
        coordinate="Money.amount",
        code="INVALID_FIELD_SHARING",
    ),
    # Reference: Type of field "Product.weight" is incompatible across subgraphs: it has type
    # "String" in subgraph "products" but type "Int" in subgraph "shipping"
    ErrorCase(
        name="field_type_mismatch",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  weight: String @shareable
}
"""
                ),
            ),
            (
                "shipping",
                _sdl(
                    """
type Query {
  heaviest: Product
}

type Product @key(fields: "id") {
  id: ID!
  weight: Int @shareable
}
"""
                ),
            ),
        ],
        subgraph="shipping",
        coordinate="Product.weight",
        code="FIELD_TYPE_MISMATCH",
    ),
    # Reference: Type "Media" has mismatched kind: it is defined as Interface Type in subgraph
    # "library" but Object Type in subgraph "media"
    ErrorCase(
        name="type_kind_mismatch",
        subgraphs=[
            (
                "media",
                _sdl(
                    """
type Query {
  media: [Media!]!
}

type Media @shareable {
  id: ID!
  title: String
}
"""
                ),
            ),
            (
                "library",
                _sdl(
                    """
type Query {
  shelf: [Media!]!
}

interface Media {
  id: ID!
  title: String
}

type Book implements Media @shareable {
  id: ID!
  title: String
}
"""
                ),
            ),
        ],
        subgraph="library",
        coordinate="Media",
        code="TYPE_KIND_MISMATCH",
    ),
    # Reference: [products] On type "Product", for @key(fields: "sku"): Cannot query field "sku"
    # on type "Product" (the field should either be added to this subgraph or, ...)
    ErrorCase(
        name="key_field_missing",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "sku") {
  id: ID!
  name: String
}
"""
                ),
            ),
            (
                "reviews",
                _sdl(
                    """
type Query {
  topReviews: [Review!]!
}

type Review {
  body: String!
}
"""
                ),
            ),
        ],
        subgraph="products",
        coordinate="Product",
        code="KEY_INVALID_FIELDS",
    ),
    # Reference: [shipping] On field "Product.shippingEstimate", for @requires(fields: "size"):
    # Cannot query field "size" on type "Product" (if the field is defined in another
    # subgraph, you need to add it to this subgraph with @external).
    ErrorCase(
        name="requires_field_missing",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  weight: Int
}
"""
                ),
            ),
            (
                "shipping",
                _sdl(
                    """
type Product @key(fields: "id") {
  id: ID!
  shippingEstimate: Int @requires(fields: "size")
}
"""
                ),
            ),
        ],
        subgraph="shipping",
        coordinate="Product.shippingEstimate",
        code="REQUIRES_INVALID_FIELDS",
    ),
    # Reference: [reviews] On field "Review.product", for @provides(fields: "title"): Cannot
    # query field "title" on type "Product" (if the field is defined in another subgraph, you
    # need to add it to this subgraph with @external).
    ErrorCase(
        name="provides_field_missing",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  name: String @shareable
}
"""
                ),
            ),
            (
                "reviews",
                _sdl(
                    """
type Query {
  topReviews: [Review!]!
}

type Review {
  body: String!
  product: Product! @provides(fields: "title")
}

type Product @key(fields: "id") {
  id: ID!
}
"""
                ),
            ),
        ],
        subgraph="reviews",
        coordinate="Review.product",
        code="PROVIDES_INVALID_FIELDS",
    ),
    # Reference: Field "Product.weight" is marked @external on all the subgraphs in which it is
    # listed (subgraph "shipping").
    ErrorCase(
        name="external_not_resolved_elsewhere",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  name: String
}
"""
                ),
            ),
            (
                "shipping",
                _sdl(
                    """
type Product @key(fields: "id") {
  id: ID!
  weight: Int @external
  shippingEstimate: Int @requires(fields: "weight")
}
"""
                ),
            ),
        ],
        subgraph="shipping",
        coordinate="Product.weight",
        code="EXTERNAL_MISSING_ON_BASE",
    ),
    # Reference: [pricing] Source and destination subgraphs "pricing" are the same for
    # overridden field "Product.price"
    ErrorCase(
        name="override_from_self",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  name: String
}
"""
                ),
            ),
            (
                "pricing",
                _sdl(
                    """
type Product @key(fields: "id") {
  id: ID!
  price: Int @override(from: "pricing")
}
"""
                ),
            ),
        ],
        subgraph="pricing",
        coordinate="Product.price",
        code="OVERRIDE_FROM_SELF_ERROR",
    ),
    # Reference: Input object field "ProductFilter.category" is required in some subgraphs but
    # does not appear in all subgraphs: it is required in subgraph "products" but does not
    # appear in subgraph "search"
    ErrorCase(
        name="input_required_field_missing",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  products(filter: ProductFilter): [String!]!
}

input ProductFilter {
  category: String!
  maxPrice: Int
}
"""
                ),
            ),
            (
                "search",
                _sdl(
                    """
type Query {
  search(filter: ProductFilter): [String!]!
}

input ProductFilter {
  maxPrice: Int
}
"""
                ),
            ),
        ],
        subgraph="search",
        coordinate="ProductFilter.category",
        code="REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
    ),
    # Reference: Enum type "Status" is used as both input type (for example, as type of
    # "Query.stock(status:)") and output type (for example, as type of "Item.status"), but
    # value "DISCONTINUED" is not defined in all the subgraphs defining "Status":
    # "DISCONTINUED" is defined in subgraph "inventory" but not in subgraph "products"
    # (and the same for "ARCHIVED", defined in "products" only)
    ErrorCase(
        name="enum_in_and_out_values_differ",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  products(status: Status): [Product!]!
}

type Product {
  name: String!
  status: Status!
}

enum Status {
  ACTIVE
  ARCHIVED
}
"""
                ),
            ),
            (
                "inventory",
                _sdl(
                    """
type Query {
  stock(status: Status): [Item!]!
}

type Item {
  count: Int!
  status: Status!
}

enum Status {
  ACTIVE
  DISCONTINUED
}
"""
                ),
            ),
        ],
        subgraph="inventory",
        coordinate="Status",
        code="ENUM_VALUE_MISMATCH",
    ),
    # Reference: [catalog] Interface field Node.label expected but Product does not provide it.
    # (The coordinate is the implementing type, where the field must be added; the
    # reference message names both.)
    ErrorCase(
        name="interface_field_not_implemented",
        subgraphs=[
            (
                "catalog",
                _sdl(
                    """
type Query {
  nodes: [Node!]!
}

interface Node {
  id: ID!
  label: String!
}

type Product implements Node {
  id: ID!
}
"""
                ),
            ),
            (
                "reviews",
                _sdl(
                    """
type Query {
  reviews: [Review!]!
}

type Review {
  body: String!
}
"""
                ),
            ),
        ],
        subgraph="catalog",
        coordinate="Product",
        code="INVALID_GRAPHQL",
    ),
    # Reference: Non-shareable field "Query.products" is resolved from multiple subgraphs: it is
    # resolved from subgraphs "products" and "search" and defined as non-shareable in all of
    # them
    ErrorCase(
        name="root_field_not_shareable",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  products: [String!]!
}
"""
                ),
            ),
            (
                "search",
                _sdl(
                    """
type Query {
  products: [String!]!
  search(term: String!): [String!]!
}
"""
                ),
            ),
        ],
        subgraph="search",
        coordinate="Query.products",
        code="INVALID_FIELD_SHARING",
    ),
    # Reference: Type "Media" is declared with @interfaceObject in all the subgraphs in which is
    # is defined
    # (A supergraph-level check: the reference names no subgraph. "media" defines Media as
    # an object type, not an interface with @key; the mistake is "ratings"' @interfaceObject.)
    ErrorCase(
        name="interface_object_without_interface",
        subgraphs=[
            (
                "media",
                _sdl(
                    """
type Query {
  media(id: ID!): Media
}

type Media @key(fields: "id") {
  id: ID!
  title: String
}
"""
                ),
            ),
            (
                "ratings",
                _sdl(
                    """
type Media @key(fields: "id") @interfaceObject {
  id: ID!
  rating: Int
}
"""
                ),
            ),
        ],
        subgraph="ratings",
        coordinate="Media",
        code="INTERFACE_OBJECT_USAGE_ERROR",
        reference_names_subgraph=False,
    ),
    # Reference: [ratings] The @interfaceObject directive can only be applied to entity types
    # but type "Media" has no @key in this subgraph.
    ErrorCase(
        name="interface_object_without_key",
        subgraphs=[
            (
                "media",
                _sdl(
                    """
type Query {
  media(id: ID!): Media
}

interface Media @key(fields: "id") {
  id: ID!
  title: String
}

type Book implements Media @key(fields: "id") {
  id: ID!
  title: String
}
"""
                ),
            ),
            (
                "ratings",
                _sdl(
                    """
type Media @interfaceObject {
  id: ID!
  rating: Int
}
"""
                ),
            ),
        ],
        subgraph="ratings",
        coordinate="Media",
        code="INTERFACE_OBJECT_USAGE_ERROR",
    ),
    # Reference: [shipping] On field "Product.shippingEstimate", for @requires(fields: "weight"):
    # field "Product.weight" should not be part of a @requires since it is already provided by
    # this subgraph (it is not marked @external)
    ErrorCase(
        name="requires_field_not_external",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  weight: Int @shareable
}
"""
                ),
            ),
            (
                "shipping",
                _sdl(
                    """
type Product @key(fields: "id") {
  id: ID!
  weight: Int @shareable
  shippingEstimate: Int @requires(fields: "weight")
}
"""
                ),
            ),
        ],
        subgraph="shipping",
        coordinate="Product.shippingEstimate",
        code="REQUIRES_FIELDS_MISSING_EXTERNAL",
    ),
    # Reference: Type of field "Query.pick" is incompatible across subgraphs: it has type
    # "Article" in subgraph "articles" but type "Clip" in subgraph "media"
    # (Output types may differ when one is a subtype of the others, e.g. a member of a
    # union; two members of one union are not.)
    ErrorCase(
        name="output_types_not_subtypes",
        subgraphs=[
            (
                "articles",
                _sdl(
                    """
type Query {
  pick: Article @shareable
}

type Article @key(fields: "slug") {
  slug: ID!
  headline: String!
}

union Content = Article
"""
                ),
            ),
            (
                "media",
                _sdl(
                    """
type Query {
  pick: Clip @shareable
}

type Article @key(fields: "slug") {
  slug: ID!
}

type Clip @key(fields: "slug") {
  slug: ID!
  seconds: Int!
}

union Content = Article | Clip
"""
                ),
            ),
        ],
        subgraph="media",
        coordinate="Query.pick",
        code="FIELD_TYPE_MISMATCH",
    ),
    # Reference: Non-shareable field "TrackingCode.note" is resolved from multiple subgraphs:
    # it is resolved from subgraphs "carriers" and "warehouse" and defined as non-shareable
    # in all of them
    # (The fields a key selects are shareable, nested ones too; other fields of the nested
    # type are not.)
    ErrorCase(
        name="nested_key_type_field_not_shareable",
        subgraphs=[
            (
                "carriers",
                _sdl(
                    """
type Query {
  parcels: [Parcel!]!
}

type Parcel @key(fields: "tracking { carrier number }") {
  tracking: TrackingCode!
  status: String!
}

type TrackingCode {
  carrier: String!
  number: String!
  note: String
}
"""
                ),
            ),
            (
                "warehouse",
                _sdl(
                    """
type Query {
  shelf: [Parcel!]!
}

type Parcel @key(fields: "tracking { carrier number }") {
  tracking: TrackingCode!
  aisle: Int!
}

type TrackingCode {
  carrier: String!
  number: String!
  note: String
}
"""
                ),
            ),
        ],
        subgraph="warehouse",
        coordinate="TrackingCode.note",
        code="INVALID_FIELD_SHARING",
    ),
    # Reference: Enum type "TicketState" is used as both input type (...) and output type
    # (...), but value "ESCALATED" is not defined in all the subgraphs defining
    # "TicketState": "ESCALATED" is defined in subgraph "tickets" but not in subgraph
    # "reporting"
    # (TRIAGE_PENDING, @inaccessible, may be missing elsewhere; ESCALATED may not.)
    ErrorCase(
        name="enum_in_and_out_accessible_value_missing",
        subgraphs=[
            (
                "tickets",
                _sdl(
                    """
type Query {
  tickets(state: TicketState!): [Ticket!]!
}

type Ticket @key(fields: "number") {
  number: Int!
  state: TicketState! @shareable
}

enum TicketState {
  OPEN
  CLOSED
  TRIAGE_PENDING @inaccessible
  ESCALATED
}
"""
                ),
            ),
            (
                "reporting",
                _sdl(
                    """
type Query {
  oldest: Ticket
}

type Ticket @key(fields: "number") {
  number: Int!
  state: TicketState! @shareable
}

enum TicketState {
  OPEN
  CLOSED
}
"""
                ),
            ),
        ],
        subgraph="tickets",
        coordinate="TicketState",
        code="ENUM_VALUE_MISMATCH",
    ),
    # Reference: Field "Size.heightCm" is marked @external on all the subgraphs in which it
    # is listed (subgraph "freight").
    # (A type-level @external makes every field of the type external, so each must be
    # resolved by another subgraph.)
    ErrorCase(
        name="type_level_external_not_resolved_elsewhere",
        subgraphs=[
            (
                "catalog",
                _sdl(
                    """
type Query {
  items: [Item!]!
}

type Item @key(fields: "sku") {
  sku: ID!
  size: Size!
}

type Size {
  widthCm: Int!
}
"""
                ),
            ),
            (
                "freight",
                _sdl(
                    """
type Item @key(fields: "sku") {
  sku: ID!
  size: Size! @external
  crateCount: Int! @requires(fields: "size { widthCm heightCm }")
}

type Size @external {
  widthCm: Int!
  heightCm: Int!
}
"""
                ),
            ),
        ],
        subgraph="freight",
        coordinate="Size.heightCm",
        code="EXTERNAL_MISSING_ON_BASE",
    ),
    # Reference: Type of argument "Product.price(currency:)" is incompatible across subgraphs:
    # it has type "Int" in subgraph "pricing" but type "String" in subgraph "products"
    ErrorCase(
        name="field_argument_type_mismatch",
        subgraphs=[
            (
                "products",
                _sdl(
                    """
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  price(currency: String): Int @shareable
}
"""
                ),
            ),
            (
                "pricing",
                _sdl(
                    """
type Product @key(fields: "id") {
  id: ID!
  price(currency: Int): Int @shareable
}
"""
                ),
            ),
        ],
        subgraph="pricing",
        coordinate="Product.price(currency:)",
        code="FIELD_ARGUMENT_TYPE_MISMATCH",
    ),
    # Reference: [catalog] Invalid use of @authenticated on interface "Node": @authenticated
    # cannot be applied on interfaces, interface fields and interface objects
    ErrorCase(
        name="authenticated_on_interface",
        subgraphs=[
            (
                "catalog",
                _auth_sdl(
                    """
type Query {
  nodes: [Node!]!
}

interface Node @authenticated {
  id: ID!
}

type Domain implements Node @key(fields: "id") {
  id: ID!
  name: String!
}
"""
                ),
            ),
            (
                "finance",
                _auth_sdl(
                    """
type Domain @key(fields: "id") {
  id: ID!
  budget: Int @requiresScopes(scopes: [["fin:read"]])
}
"""
                ),
            ),
        ],
        subgraph="catalog",
        coordinate="Node",
        code="AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
    ),
    # Reference: [catalog] Invalid use of @requiresScopes on field "Node.owner":
    # @requiresScopes cannot be applied on interfaces, interface fields and interface objects
    ErrorCase(
        name="requires_scopes_on_interface_field",
        subgraphs=[
            (
                "catalog",
                _auth_sdl(
                    """
type Query {
  nodes: [Node!]!
}

interface Node {
  id: ID!
  owner: String @requiresScopes(scopes: [["hub:read"]])
}

type Domain implements Node @key(fields: "id") {
  id: ID!
  owner: String @requiresScopes(scopes: [["hub:read"]])
}
"""
                ),
            ),
            (
                "finance",
                _auth_sdl(
                    """
type Domain @key(fields: "id") {
  id: ID!
  budget: Int
}
"""
                ),
            ),
        ],
        subgraph="catalog",
        coordinate="Node.owner",
        code="AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
    ),
    # Reference: [finance] Invalid use of @authenticated on interface object "Node":
    # @authenticated cannot be applied on interfaces, interface fields and interface objects
    ErrorCase(
        name="authenticated_on_interface_object",
        subgraphs=[
            (
                "catalog",
                _auth_sdl(
                    """
type Query {
  nodes: [Node!]!
}

interface Node @key(fields: "id") {
  id: ID!
}

type Domain implements Node @key(fields: "id") {
  id: ID!
  name: String!
}
"""
                ),
            ),
            (
                "finance",
                _auth_sdl(
                    """
type Node @key(fields: "id") @interfaceObject @authenticated {
  id: ID!
  budget: Int
}
"""
                ),
            ),
        ],
        subgraph="finance",
        coordinate="Node",
        code="AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
    ),
    # Reference: [finance] Cannot import unknown element "@requiresScopes".
    # (Federation v2.4 has no @requiresScopes; it came with v2.5.)
    ErrorCase(
        name="requires_scopes_imported_from_federation_2_4",
        subgraphs=[
            (
                "catalog",
                _auth_sdl(
                    """
type Query {
  domains: [Domain!]!
}

type Domain @key(fields: "id") {
  id: ID!
}
"""
                ),
            ),
            (
                "finance",
                AUTH_LINK.replace("federation/v2.7", "federation/v2.4")
                + """
type Domain @key(fields: "id") {
  id: ID!
  budget: Int @requiresScopes(scopes: [["fin:read"]])
}
""",
            ),
        ],
        subgraph="finance",
        coordinate="@requiresScopes",
        code="INVALID_LINK_DIRECTIVE_USAGE",
    ),
    # Reference: The following supergraph API query: { product(id: "<any id>") { price } }
    # cannot be satisfied by the subgraphs because: from subgraph "products": cannot find
    # field "Product.price"; cannot move to subgraph "pricing", which has field
    # "Product.price", because type "Product" has no @key defined in subgraph "pricing"
    ErrorCase(
        name="satisfiability_no_resolvable_key",
        subgraphs=[
            (
                "products",
                _sdl("""
type Query {
  product(id: ID!): Product
}

type Product @key(fields: "id") {
  id: ID!
  name: String
}
"""),
            ),
            (
                "pricing",
                _sdl("""
type Query {
  discount: Int
}

type Product @key(fields: "id", resolvable: false) {
  id: ID!
  price: Int
}
"""),
            ),
        ],
        subgraph="pricing",
        coordinate="Product.price",
        code="SATISFIABILITY_ERROR",
    ),
    # Reference: { products { price } } cannot be satisfied: from subgraph "catalog": cannot
    # move to subgraph "pricing" using @key(fields: "upc") of "Product", the key field(s)
    # cannot be resolved from subgraph "catalog" (and the same for "Product.upc", and for
    # "Product.id" from "pricing")
    ErrorCase(
        name="satisfiability_key_fields_not_given",
        subgraphs=[
            (
                "catalog",
                _sdl("""
type Query {
  products: [Product!]!
}

type Product @key(fields: "id") {
  id: ID!
  name: String @shareable
}
"""),
            ),
            (
                "pricing",
                _sdl("""
type Query {
  bestseller: Product
}

type Product @key(fields: "upc") {
  upc: ID!
  name: String @shareable
  price: Int
}
"""),
            ),
        ],
        subgraph="pricing",
        coordinate="Product.price",
        code="SATISFIABILITY_ERROR",
    ),
    # Reference: { me { email } } cannot be satisfied: from subgraph "accounts": cannot find
    # field "User.email"; cannot move to subgraph "mail" ... because type "User" has no @key
    # defined in subgraph "mail"
    ErrorCase(
        name="satisfiability_value_type_field_elsewhere",
        subgraphs=[
            (
                "accounts",
                _sdl("""
type Query {
  me: User
}

type User {
  name: String @shareable
}
"""),
            ),
            (
                "mail",
                _sdl("""
type Query {
  postmaster: User
}

type User {
  name: String @shareable
  email: String
}
"""),
            ),
        ],
        subgraph="mail",
        coordinate="User.email",
        code="SATISFIABILITY_ERROR",
    ),
    # Reference: { product { cost } } cannot be satisfied: from subgraph "products": cannot
    # find field "Product.cost"; from subgraph "shipping": cannot satisfy @require conditions
    # on field "Product.cost" (Size.height is only in "warehouse", where Size has no key;
    # and the same for "Size.width" and "Size.height" themselves)
    ErrorCase(
        name="satisfiability_requires_unreachable",
        subgraphs=[
            (
                "products",
                _sdl("""
type Query {
  product: Product
}

type Product @key(fields: "id") {
  id: ID!
  size: Size
}

type Size {
  width: Int
}
"""),
            ),
            (
                "shipping",
                _sdl("""
type Product @key(fields: "id") {
  id: ID!
  size: Size @external
  cost: Int @requires(fields: "size { height }")
}

type Size {
  height: Int @external
}
"""),
            ),
            (
                "warehouse",
                _sdl("""
type Query {
  sizes: [Size!]!
}

type Size {
  height: Int
}
"""),
            ),
        ],
        subgraph="shipping",
        coordinate="Product.cost",
        code="SATISFIABILITY_ERROR",
    ),
]


def message_names_subgraph(message: str, subgraph: str) -> bool:
    """Whether a message names ``subgraph`` as a word (``"reviews"``, ``[reviews]``)."""
    return _names_word(message, subgraph)


def _names_word(message: str, word: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(word)}(?![\w])", message) is not None


def _names_coordinate(message: str, coordinate: str) -> bool:
    """A ``Type.field`` coordinate verbatim; a bare ``Type`` as a word not followed by ".".

    (``type "Product"`` and ``Product does`` name ``Product``; ``Product.name`` does not.)
    """
    if "." in coordinate:
        return re.search(rf"(?<![\w.]){re.escape(coordinate)}(?![\w])", message) is not None
    return re.search(rf"(?<![\w.]){re.escape(coordinate)}(?![\w.])", message) is not None


def matching_reference_errors(
    case: ErrorCase, errors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The reference composer's errors (``{"code", "message"}``) that pin ``case`` down.

    Such an error carries the case's code and names its coordinate and its subgraph -- or,
    for a case with ``reference_names_subgraph=False``, names none of the set's subgraphs.
    """
    found = []
    for error in errors:
        message = str(error.get("message", ""))
        if error.get("code") != case.code or not _names_coordinate(message, case.coordinate):
            continue
        if case.reference_names_subgraph:
            named = _names_word(message, case.subgraph)
        else:
            named = not any(_names_word(message, name) for name, _ in case.subgraphs)
        if named:
            found.append(error)
    return found
