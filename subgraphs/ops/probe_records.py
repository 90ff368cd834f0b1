"""Probe results into the database, and what follows from them: each service's health,
one incident per outage, a timeline entry on recovery.

This is the ``record`` side of ``scheduler.ProbeScheduler`` (and of ``probeService``,
which runs a service's probes at once): the scheduler owns the timing, ``probes.py``
the network, ``health.py`` the rules; this module keeps the history and applies the
rules' verdicts.

* History: each result is stored; only the newest ``keep`` per probe are kept.
* Health: ``health.derive_health`` over the service's newest results (all its probes,
  in time order), as many as its thresholds need.
* Incidents: when ``should_open_incident`` says the failure streak just reached
  ``red_after``, one incident is opened — unless the service already has one open (a
  flapping service does not open one per streak). When ``recovered`` says the service
  just became healthy again, each open incident affecting it gets a timeline entry; it
  is not resolved automatically (a person decides that).
* Claims (``claim_run``): before a run, the scheduler of one replica of the hub claims
  the probe's current interval in ``probe_claims``; a replica that finds it claimed
  does not run the probe, and learns when its next interval starts.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.claims import database_now
from subgraphs.ops import models, service
from subgraphs.ops.health import Thresholds, derive_health, recovered, should_open_incident
from subgraphs.ops.probes import ProbeResult, ProbeSpec
from subgraphs.ops.scheduler import ScheduledProbe

DEFAULT_KEEP = 50  # results kept per probe
HUB_AUTHOR = "ops-hub"  # who the hub's own incidents and entries are by
AUTO_SEVERITY = "SEV3"  # a person re-grades it once they know more


def spec_of(probe: models.Probe) -> ProbeSpec:
    return ProbeSpec(
        kind=probe.kind,  # type: ignore[arg-type]
        target=probe.target,
        timeout_s=probe.timeout_s,
        expected_status=probe.expected_status,
        body_match=probe.body_match,
    )


def scheduled(probe: models.Probe) -> ScheduledProbe:
    return ScheduledProbe(
        probe_id=str(probe.id),
        service_id=str(probe.service_id),
        spec=spec_of(probe),
        interval_s=float(probe.interval_s),
    )


async def due_probes(session: AsyncSession) -> list[ScheduledProbe]:
    """Every enabled probe, for the scheduler (one query)."""
    rows = await session.scalars(select(models.Probe).where(models.Probe.enabled.is_(True)))
    return [scheduled(p) for p in rows.all()]


async def probes_of(session: AsyncSession, service_id: uuid.UUID) -> list[ScheduledProbe]:
    rows = await session.scalars(
        select(models.Probe)
        .where(models.Probe.service_id == service_id)
        .order_by(models.Probe.kind, models.Probe.target)
    )
    return [scheduled(p) for p in rows.all()]


async def claim_run(
    session: AsyncSession,
    probe_id: str,
    interval_s: float,
    claimant: str,
    *,
    busy_s: float = 0.0,
) -> float | None:
    """Claim the current interval's run of a probe for ``claimant``, in ``session``'s
    transaction (on SQLite, open it with the write lock: ``transaction(immediate=True)``).

    None: claimed, run it now. Otherwise how many seconds until its next interval
    starts (another replica has run it in this one), or ``math.inf`` when the probe is
    gone. Intervals follow each other: the next starts one ``interval_s`` after the
    one just claimed, or one after now when runs were missed (they are not made up), so
    two runs of a probe are never in one interval whichever replicas make them. And not
    before ``busy_s`` (the probe's timeout) from now: a run still under way on one
    replica is never overlapped by another's.
    """
    pid = uuid.UUID(probe_id)
    if await session.scalar(select(models.Probe.id).where(models.Probe.id == pid)) is None:
        return math.inf
    claims: Any = models.ProbeClaim.__table__
    step = timedelta(seconds=interval_s)
    # Locked (PostgreSQL): a second replica claiming waits, then reads the first's claim.
    due = await session.scalar(
        select(claims.c.next_due_at).where(claims.c.probe_id == pid).with_for_update()
    )
    # The time is read once the lock is held: read before, a replica that waited for
    # the first one's claim would judge it by a moment before it was made, find the
    # new interval beyond its window and claim the same interval again (seen under
    # load: two runs 1.5 ms apart).
    now = await database_now(session)
    if due is None:
        first = _insert_ignoring_conflict(session, claims).values(
            probe_id=pid,
            next_due_at=now + max(step, timedelta(seconds=busy_s)),
            claimed_by=claimant,
            claimed_at=now,
        )
        if (await session.execute(first.returning(claims.c.probe_id))).first() is not None:
            return None
        # another replica claimed its first run just now
        due = await session.scalar(select(claims.c.next_due_at).where(claims.c.probe_id == pid))
        assert due is not None
        return max(0.0, (due - now).total_seconds())
    busy = timedelta(seconds=busy_s)
    # (a next interval further off than that was set under a longer interval or timeout)
    if now < due <= now + max(step, busy):
        return (due - now).total_seconds()
    after = due + step if now < due + step <= now + step else now + step
    after = max(after, now + busy)
    await session.execute(
        update(claims)
        .where(claims.c.probe_id == pid)
        .values(next_due_at=after, claimed_by=claimant, claimed_at=now)
    )
    return None


def _insert_ignoring_conflict(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


@dataclass(frozen=True)
class Recorded:
    """What recording one result did."""

    health_before: str
    health_after: str
    opened_incident: uuid.UUID | None = None
    noted_recovery: int = 0  # incidents that got a recovery entry


async def record_result(
    session: AsyncSession, probe_id: str, result: ProbeResult, *, keep: int = DEFAULT_KEEP
) -> Recorded | None:
    """Store ``result`` and apply its consequences; None when the probe no longer exists
    (removed while it ran)."""
    probe = await session.get(models.Probe, uuid.UUID(probe_id))
    if probe is None:
        return None
    # Locked (PostgreSQL) for the read-modify-write of its health; SQLite has one writer.
    svc = await session.scalar(
        select(models.Service).where(models.Service.id == probe.service_id).with_for_update()
    )
    assert svc is not None  # probes go with their service (ON DELETE CASCADE)
    session.add(
        models.ProbeResult(
            probe_id=probe.id,
            service_id=svc.id,
            ok=result.ok,
            latency_ms=result.latency_ms,
            detail=result.detail[:2000],
            status_code=result.status_code,
            cert_days_left=result.cert_days_left,
            cert_issuer=_clip(result.cert_issuer),
            cert_subject=_clip(result.cert_subject),
            banner=_clip(result.banner),
            checked_at=result.checked_at,
        )
    )
    await session.flush()
    await _prune(session, probe.id, keep)
    thresholds = Thresholds(red_after=svc.red_after, green_after=svc.green_after)
    recent = await _recent_ok(session, svc.id, thresholds.window_size)
    before = svc.health
    after = derive_health(before, recent, thresholds)
    if result.ok:
        svc.last_seen = max(svc.last_seen or result.checked_at, result.checked_at)
    if after != before:
        svc.health = after
        svc.health_changed_at = result.checked_at
    opened = None
    if should_open_incident(recent, thresholds) and not await _open_incidents(session, svc.id):
        incident = await service.create_incident(
            session,
            title=f"{svc.namespace}/{svc.name} is down: {thresholds.red_after} failed probes "
            "in a row",
            severity=AUTO_SEVERITY,
            summary=f"Last probe ({probe.kind} {probe.target}): {result.detail}",
            service_ids=[str(svc.id)],
            opened_by=HUB_AUTHOR,
            opened_at=result.checked_at,
        )
        opened = incident.id
    noted = 0
    if recovered(recent, thresholds):
        for incident in await _open_incidents(session, svc.id):
            service.note(
                session,
                incident,
                HUB_AUTHOR,
                f"{svc.name} recovered: {thresholds.green_after} probes in a row succeeded "
                "(the incident stays open until someone resolves it)",
                result.checked_at,
            )
            noted += 1
    await session.flush()
    return Recorded(before, after, opened, noted)


def _clip(text: str | None, limit: int = 500) -> str | None:
    # What a remote server sends is stored, but never more than its column holds.
    return text[:limit] if text else None


async def _prune(session: AsyncSession, probe_id: uuid.UUID, keep: int) -> None:
    newest = (
        select(models.ProbeResult.id)
        .where(models.ProbeResult.probe_id == probe_id)
        .order_by(models.ProbeResult.checked_at.desc(), models.ProbeResult.id.desc())
        .limit(keep)
    )
    await session.execute(
        delete(models.ProbeResult)
        .where(models.ProbeResult.probe_id == probe_id, models.ProbeResult.id.not_in(newest))
        .execution_options(synchronize_session=False)
    )


async def _recent_ok(session: AsyncSession, service_id: uuid.UUID, window: int) -> list[bool]:
    """The service's newest ``window`` results, oldest first."""
    rows = await session.execute(
        select(models.ProbeResult.ok)
        .where(models.ProbeResult.service_id == service_id)
        .order_by(models.ProbeResult.checked_at.desc(), models.ProbeResult.id.desc())
        .limit(window)
    )
    return [bool(ok) for (ok,) in rows.all()][::-1]


async def _open_incidents(session: AsyncSession, service_id: uuid.UUID) -> list[models.Incident]:
    found = await service.open_incidents_of_services(session, [service_id])
    return found.get(service_id, [])
