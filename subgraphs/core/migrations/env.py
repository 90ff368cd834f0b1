"""Alembic environment of the core hub (version table ``alembic_version_core``)."""

from subgraphs.core.kit.migrations import run_environment
from subgraphs.core.models import Base

run_environment(Base.metadata, hub="core")
