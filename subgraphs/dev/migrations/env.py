"""Alembic environment of the dev hub (version table ``alembic_version_dev``)."""

from subgraphs.core.kit.migrations import run_environment
from subgraphs.dev.models import Base

run_environment(Base.metadata, hub="dev")
