"""Alembic environment of the ops hub (version table ``alembic_version_ops``)."""

from subgraphs.core.kit.migrations import run_environment
from subgraphs.ops.models import Base

run_environment(Base.metadata, hub="ops")
