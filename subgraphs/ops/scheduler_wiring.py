"""The probe scheduler inside the ops hub: started with the app when configured, stopped
with it.

Off unless turned on — ``probe_scheduler = true`` in ``[hubs.ops.options]`` or
``HUBGRAPH_OPS_PROBE_SCHEDULER=1`` — because it makes real network calls to every
registered target (the demo's targets are example hosts that would all turn RED).
Options: ``probe_history`` (results kept per probe, default 50),
``probe_concurrency`` (default 64), ``probe_jitter_s`` (default 2).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from subgraphs.core.kit.claims import claimant_name
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.settings import HubSettings
from subgraphs.ops.probe_records import DEFAULT_KEEP, claim_run, due_probes, record_result
from subgraphs.ops.probes import ProbeResult
from subgraphs.ops.scheduler import ProbeScheduler, ScheduledProbe

log = logging.getLogger("hubgraph.ops.scheduler")
ENV_SWITCH = "HUBGRAPH_OPS_PROBE_SCHEDULER"
_TRUE = {"1", "true", "yes", "on"}


def enabled(settings: HubSettings, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if ENV_SWITCH in env:
        return env[ENV_SWITCH].strip().lower() in _TRUE
    return settings.options.get("probe_scheduler") is True


def history_size(settings: HubSettings) -> int:
    keep = int(settings.options.get("probe_history", DEFAULT_KEEP))
    if keep < 1:
        raise ValueError(f"probe_history must be at least 1, not {keep}")
    return keep


def build_scheduler(
    settings: HubSettings,
    db: Database,
    *,
    name: str | None = None,
    claims: bool = True,
    **overrides: float,
) -> ProbeScheduler:
    """The scheduler over this hub's probes: ``due`` reads them, ``claim`` takes a
    probe's interval for this process (so replicas of the hub on one database never run
    a probe twice in one interval), ``record`` stores each result in its own transaction
    (health, incidents: ``probe_records``). ``name``: who claims, in ``probe_claims``;
    ``claims=False``: no claims (one process only; for a test's injected clock, which
    claims judged by the database's clock would not follow)."""
    keep = history_size(settings)
    claimant = name or claimant_name("ops", "probes")

    async def claim(probe: ScheduledProbe) -> float | None:
        async with db.transaction(immediate=True) as session:
            return await claim_run(
                session,
                probe.probe_id,
                probe.interval_s,
                claimant,
                busy_s=probe.spec.timeout_s,  # no run overlaps one under way elsewhere
            )

    async def due() -> list[ScheduledProbe]:
        async with db.session() as session:
            return await due_probes(session)

    async def record(probe: ScheduledProbe, result: ProbeResult) -> None:
        async with db.transaction(immediate=True) as session:
            await record_result(session, probe.probe_id, result, keep=keep)

    options = {
        "concurrency": int(settings.options.get("probe_concurrency", 64)),
        "jitter_s": float(settings.options.get("probe_jitter_s", 2.0)),
        **overrides,
    }
    return ProbeScheduler(
        due,
        record,
        claim=claim if claims else None,
        **options,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def probe_scheduler(settings: HubSettings, db: Database) -> AsyncIterator[None]:
    if not enabled(settings):
        yield
        return
    scheduler = build_scheduler(settings, db)
    scheduler.start()
    log.info("probe scheduler started")
    try:
        yield
    finally:
        await scheduler.stop()
