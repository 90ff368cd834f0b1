"""Alembic environment of the fin hub (version table ``alembic_version_fin``)."""

from subgraphs.core.kit.migrations import run_environment
from subgraphs.fin.models import Base

run_environment(Base.metadata, hub="fin")
