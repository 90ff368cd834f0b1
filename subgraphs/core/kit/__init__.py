"""The hub-core kit: what every hub is built on.

One module per concept: ``settings`` (configuration), ``database`` (engine and
sessions), ``orm`` (declarative base, column types), ``migrations`` (Alembic per hub),
``errors`` (domain errors -> GraphQL error codes), ``loaders`` (request-scoped
DataLoaders), ``pagination`` (cursor connections), ``federation`` (schema helpers),
``app`` (the Starlette app factory), ``auth`` (who is calling; the schema's access
rules enforced), ``logs`` (structured logging), ``hub`` (what a hub declares about
itself), ``event_types`` (the canonical event registry).
"""
