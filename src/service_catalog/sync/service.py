"""Sync scheduling, leases and run records: the only place that changes them.

Every authorized integration instance has a :class:`SyncState` (created lazily). A
worker *claims* a due instance by taking its lease (``lease_owner`` /
``lease_renewed_at``), records a :class:`SyncRun`, renews the lease while it works (a
heartbeat, which also stores the run's counters so far) and *finishes* the run, which
releases the lease and schedules the next run. On PostgreSQL the claim uses
``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite a single ``UPDATE ... WHERE lease is
free`` (SQLite serialises writers) does the same job.

A lease is free when nobody holds it, when its last heartbeat is older than the lease
timeout *of the worker looking* (no expiry is stamped, so a worker started with a shorter
timeout does not wait out a longer one), or at once when its holder is a process of this
host that is gone (worker names carry host and pid: :func:`worker_name`).

Nothing here commits: each function is one step of the caller's unit of work (a request's
``Ctx``; for the worker, one short ``Database.session()`` per claim, heartbeat and finish).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import psutil
from sqlalchemy import and_, exists, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session

from service_catalog.auth.access import INTEGRATION_ADMIN, Rights
from service_catalog.auth.guard import INTEGRATION_READERS, require_any
from service_catalog.auth.service import Actor
from service_catalog.core import query as q
from service_catalog.core.db import UTCDateTime, utcnow
from service_catalog.core.errors import Problem
from service_catalog.core.render import attrs, ts
from service_catalog.events.service import record_action
from service_catalog.integrations import registry
from service_catalog.integrations.instances import find_instance, get_instance
from service_catalog.integrations.models import AuthCredential, IntegrationInstance
from service_catalog.settings import Settings
from service_catalog.sync.models import SyncRun, SyncState

#: First wait before retrying an instance whose last run failed (doubles per failure).
BACKOFF_BASE_SECONDS = 30.0

NOT_AUTHORIZED_REASON = "The integration instance is not authorized, so it does not sync."


def not_authorized_remediation(instance_id: uuid.UUID, *, has_credential: bool = False) -> str:
    """What a user does to let an unauthorized instance sync: add a credential, or, when
    it has one (stored while the upstream was unreachable, or rejected), verify it again
    (POSTing another would be a 409)."""
    path = f"/v1/integration-instances/{instance_id}/auth-credential"
    if has_credential:
        return (
            f"Its auth credential is stored but the upstream has not accepted it yet; "
            f"verify it again (POST {path}/verify) once the upstream is reachable, or "
            f"replace it (DELETE then POST {path}); syncing resumes once the upstream "
            "accepts it."
        )
    return (
        f"Add a valid auth credential (POST {path}); syncing resumes once the upstream accepts it."
    )


def has_credential(session: Session | None, instance: IntegrationInstance) -> bool:
    """Whether ``instance`` has an auth credential (False without a session to ask)."""
    if session is None:
        return False
    return (
        session.scalar(select(exists().where(AuthCredential.instance_id == instance.id))) or False
    )


# --- instances and states ------------------------------------------------------------


def ensure_state(session: Session, instance: IntegrationInstance) -> SyncState:
    """The instance's sync state, created (due now) when it has none yet."""
    state = session.get(SyncState, instance.id)
    if state is None:
        state = SyncState(instance_id=instance.id, next_run_at=utcnow(), status="ok")
        session.add(state)
        session.flush()
    return state


def interval_of(
    state: SyncState, settings: Settings, instance: IntegrationInstance | None = None
) -> int:
    """Seconds between two scheduled syncs of the instance: its state's interval, else its
    config's ``sync_interval``, else the server's default."""
    if state.interval_seconds:
        return state.interval_seconds
    configured = (instance.config or {}).get("sync_interval") if instance is not None else None
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return configured
    return settings.sync_interval_seconds


def state_to_dict(
    state: SyncState, instance: IntegrationInstance, *, polled: bool = True
) -> dict[str, Any]:
    """The contract's resource-ingestion state: when syncs ran and run next, and their health.

    An unauthorized instance is shown halted (it does not sync) with what to do; a
    halted state whose instance was authorized again is shown ok (it syncs next). A
    push-only instance (not ``polled``) is ok and never scheduled.
    """
    sched: dict[str, Any]
    if not polled:
        sched, next_at = {"status": "ok"}, None
    elif not instance.authorized:
        reason = (
            state.reason if state.status == "halted" and state.reason else NOT_AUTHORIZED_REASON
        )
        remediation = (
            state.remediation
            if state.status == "halted" and state.remediation
            else not_authorized_remediation(
                instance.id, has_credential=has_credential(object_session(instance), instance)
            )
        )
        sched = {"status": "halted", "reason": reason, "remediation": remediation}
        next_at = None
    else:
        if state.status == "delayed":
            sched = {
                "status": "delayed",
                "reason": state.reason or "The last sync failed.",
                "remediation": state.remediation or "The next sync retries.",
            }
        else:
            sched = {"status": "ok"}
        next_at = state.next_run_at or utcnow()
    return {
        "last_scheduled": ts(state.last_scheduled_at),
        "next_scheduled_at": ts(next_at),
        "scheduler_state": sched,
    }


def instance_health(session: Session, instance: IntegrationInstance) -> dict[str, Any]:
    """How an instance is doing, as the console's dashboard shows it (a read: a missing
    sync state is not created): ``ingestion`` (its resource-ingestion state), ``last_run``
    (status, when, error) and ``attention``: what needs doing, each ``{kind, reason,
    remediation}`` with ``kind`` one of ``tainted`` (its credential stopped working),
    ``halted``/``delayed`` (its schedule's state) and ``failing`` (its last sync failed);
    empty when all is well."""
    state = session.get(SyncState, instance.id) or SyncState(
        instance_id=instance.id, status="ok", consecutive_failures=0
    )
    polled = instance.integration_name in polled_integrations()
    ingestion = state_to_dict(state, instance, polled=polled)
    credential = session.scalar(
        select(AuthCredential).where(AuthCredential.instance_id == instance.id)
    )
    run = session.scalar(
        select(SyncRun)
        .where(SyncRun.instance_id == instance.id)
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    )
    path = f"/v1/integration-instances/{instance.id}/auth-credential"
    attention: list[dict[str, str]] = []
    if credential is not None and credential.tainted:
        attention.append(
            {
                "kind": "tainted",
                "reason": credential.tainted_reason or "Its credential stopped working.",
                "remediation": f"Replace the credential (DELETE then POST {path}).",
            }
        )
    sched = ingestion["scheduler_state"]
    if sched["status"] != "ok":
        attention.append(
            {
                "kind": sched["status"],
                "reason": sched.get("reason") or "",
                "remediation": sched.get("remediation") or "",
            }
        )
    if run is not None and run.status == "failed" and sched["status"] == "ok":
        attention.append(
            {
                "kind": "failing",
                "reason": f"The last sync failed: {run.error or 'no reason recorded'}",
                "remediation": "The next sync retries; look at the run history for the cause.",
            }
        )
    return {
        "ingestion": ingestion,
        "last_run": None
        if run is None
        else {"status": run.status, "started_at": run.started_at, "error": run.error},
        "attention": attention,
    }


def get_ingestion(session: Session, *, instance_id: str, rights: Rights) -> dict[str, Any]:
    """``GET .../resource-ingestion``: the instance's schedule and its health."""
    require_any(rights, *INTEGRATION_READERS)
    inst = get_instance(session, instance_id=instance_id)
    state = ensure_state(session, inst)
    return state_to_dict(state, inst, polled=inst.integration_name in polled_integrations())


def request_sync(
    session: Session, *, instance_id: str, ingest_from: dt.datetime | None, actor: Actor
) -> dict[str, Any]:
    """``PUT .../resource-ingestion``: schedule a sync of an authorized instance now.

    An unauthorized instance is a 400 that says to authorize it first.
    """
    require_any(actor.rights, INTEGRATION_ADMIN)
    inst = get_instance(session, instance_id=instance_id)
    if not inst.authorized:
        cred = f"/v1/integration-instances/{inst.id}/auth-credential"
        todo = (
            f"verify its auth credential again (POST {cred}/verify)"
            if has_credential(session, inst)
            else f"authorize it first (POST {cred})"
        )
        raise Problem(
            400,
            f"Integration instance [{inst.name}] is not authorized; {todo}, then schedule a sync",
            invalid_parameters=[
                {
                    "field": "id",
                    "rule": "invalid",
                    "source": "path",
                    "reason": "the integration instance is not authorized",
                }
            ],
        )
    if inst.integration_name not in polled_integrations():
        raise Problem(
            400,
            f"Integration instance [{inst.name}] is push-based: its resources arrive by "
            f"PUT /v1/integration-instances/{inst.id}/resources, so there is nothing to sync",
            invalid_parameters=[
                {
                    "field": "id",
                    "rule": "invalid",
                    "source": "path",
                    "reason": "the integration instance is push-based",
                }
            ],
        )
    state = ensure_state(session, inst)
    now = utcnow()
    state.requested_at = now
    state.ingest_from = ingest_from
    state.next_run_at = now
    if state.status == "halted":
        state.status, state.reason, state.remediation = "ok", None, None
    record_action(
        session,
        actor=actor,
        type="integration_instance.sync_requested",
        detail=f"Sync of integration instance {inst.name} requested by {actor.name}",
        attributes={"instance_id": str(inst.id), "instance_name": inst.name},
    )
    session.flush()
    return state_to_dict(state, inst)


# --- run records ---------------------------------------------------------------------


#: A run's counters, in the order runs show them; stored while it runs and when it ends.
RUN_COUNTS = ("pages", "created", "updated", "unchanged", "vanished", "events")


def run_counts(run: SyncRun) -> dict[str, int]:
    """A run's counters by name (:data:`RUN_COUNTS`)."""
    return attrs(run, *RUN_COUNTS)


def run_to_dict(run: SyncRun) -> dict[str, Any]:
    """A sync run as ``GET .../sync-runs`` lists it."""
    return {
        "id": str(run.id),
        **attrs(run, "trigger", "worker", "status"),
        "started_at": ts(run.started_at),
        "finished_at": ts(run.finished_at),
        **run_counts(run),
        "error": run.error,
    }


RUN_FILTERS = q.FilterSpec(
    fields={
        "status": q.FilterField("enum", SyncRun.status, choices=("running", "succeeded", "failed")),
        "trigger": q.FilterField("enum", SyncRun.trigger, choices=("schedule", "manual", "cli")),
        "started_at": q.FilterField("datetime", SyncRun.started_at),
    }
)


def list_runs(
    session: Session, *, instance_id: str, query: list[tuple[str, str]], rights: Rights
) -> tuple[list[SyncRun], dict[str, Any]]:
    """A cursor page of the instance's sync runs, newest first."""
    require_any(rights, *INTEGRATION_READERS)
    inst = get_instance(session, instance_id=instance_id)
    qd: Mapping[str, str] = dict(query)
    req = q.cursor_request(qd)
    stmt = select(SyncRun).where(SyncRun.instance_id == inst.id)
    clauses = q.filter_clauses(RUN_FILTERS, query, session.get_bind().dialect.name)
    if clauses:
        stmt = stmt.where(*clauses)
    cols = [
        q.CursorColumn(SyncRun.started_at, "datetime", "started_at", desc=True),
        q.CursorColumn(SyncRun.id, "uuid", "id", desc=True),
    ]
    return q.cursor_page(
        session, stmt, cols, req, path=f"/v1/integration-instances/{inst.id}/sync-runs", query=qd
    )


# --- leases --------------------------------------------------------------------------


_HOST = socket.gethostname()
#: Worker names this process handed out (by pid, so a forked child does not inherit them).
_issued: set[tuple[int, str]] = set()
_issued_lock = threading.Lock()


def worker_name(suffix: str = "") -> str:
    """A worker name unique to this process (and thread slot): ``host:pid:tag[suffix]``.

    Host and pid let a restarted server on the same host see that a lease's holder is gone
    (:func:`owner_is_gone`) and take the lease over at once.
    """
    tag = uuid.uuid4().hex[:6]
    with _issued_lock:
        _issued.add((os.getpid(), tag))
    return f"{_HOST}:{os.getpid()}:{tag}{suffix}"


def owner_is_gone(owner: str, renewed_at: dt.datetime | None = None) -> bool:
    """Whether the worker named ``owner`` is known to be dead: a name of this host whose
    process no longer runs (or is a zombie, or started after the lease's last heartbeat, so
    its pid was reused), or a name with this very process's pid that this process never
    handed out (a previous process that had the same pid, as in a restarted container).
    Anything else (another host, a name not made by :func:`worker_name`) is not known gone:
    only its lease timeout frees it."""
    parts = owner.split(":", 2)
    if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
        return False
    pid, tag = int(parts[1]), parts[2].split("/", 1)[0]
    if pid == os.getpid():
        with _issued_lock:
            return (pid, tag) not in _issued
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        created = dt.datetime.fromtimestamp(proc.create_time(), dt.UTC)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # e.g. AccessDenied: it runs, as another user
        return False
    # A process started after the lease was last renewed cannot be its holder.
    return renewed_at is not None and created > renewed_at + dt.timedelta(seconds=1)


def lease_free(now: dt.datetime, settings: Settings) -> Any:
    """SQL: the instance's lease is free for a worker with ``settings``: not held, or not
    renewed for longer than this worker's lease timeout."""
    stale = now - dt.timedelta(seconds=settings.lease_timeout_seconds)
    return or_(
        SyncState.lease_owner.is_(None),
        SyncState.lease_renewed_at.is_(None),
        SyncState.lease_renewed_at < stale,
    )


def release_gone_owners(session: Session) -> int:
    """Free the leases held by workers of this host whose process is gone (a server killed
    and restarted) and mark their runs failed, saying why; how many."""
    held = session.execute(
        select(SyncState.instance_id, SyncState.lease_owner, SyncState.lease_renewed_at).where(
            SyncState.lease_owner.startswith(f"{_HOST}:", autoescape=True)
        )
    ).all()
    gone = [
        (iid, owner)
        for iid, owner, renewed in held
        if owner is not None and owner_is_gone(owner, renewed)
    ]
    released = 0
    for iid, owner in gone:
        now = utcnow()
        res = session.execute(
            update(SyncState)
            .where(SyncState.instance_id == iid, SyncState.lease_owner == owner)
            .values(lease_owner=None, lease_renewed_at=None)
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            continue  # someone else freed or took it meanwhile
        released += 1
        pid = owner.split(":", 2)[1]
        session.execute(
            update(SyncRun)
            .where(SyncRun.instance_id == iid, SyncRun.status == "running", SyncRun.worker == owner)
            .values(
                status="failed",
                finished_at=now,
                error=f"Abandoned: the worker process running this sync (pid {pid} on "
                f"{_HOST}) is gone (killed, crashed or restarted); a worker of this "
                "host took the instance over at once and syncs it again.",
            )
        )
    return released


@dataclass
class Claim:
    """A lease a worker holds on one instance, and the run it records."""

    instance_id: uuid.UUID
    run_id: uuid.UUID
    owner: str
    trigger: str
    ingest_from: dt.datetime | None


def polled_integrations() -> list[str]:
    """Names of the shipped integrations that are polled (have a connector)."""
    return sorted(i.name for i in registry.list_integrations() if not i.push_only)


def create_missing_states(session: Session) -> None:
    """Give every authorized, polled instance without one a sync state, due now."""
    dialect = session.get_bind().dialect.name
    now = utcnow()
    missing = select(IntegrationInstance.id, _literal_dt(now)).where(
        IntegrationInstance.authorized.is_(True),
        IntegrationInstance.integration_name.in_(polled_integrations()),
        ~exists().where(SyncState.instance_id == IntegrationInstance.id),
    )
    # Read first: an INSERT that adds nothing would still take SQLite's write lock.
    if session.scalar(missing.with_only_columns(IntegrationInstance.id).limit(1)) is None:
        return
    ins_mod: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = ins_mod.insert(SyncState).from_select(["instance_id", "next_run_at"], missing)
    session.execute(stmt.on_conflict_do_nothing())


def _literal_dt(value: dt.datetime) -> Any:
    return literal(value, UTCDateTime())


def _due(now: dt.datetime, settings: Settings) -> Any:
    return and_(
        SyncState.instance_id == IntegrationInstance.id,
        IntegrationInstance.authorized.is_(True),
        IntegrationInstance.integration_name.in_(polled_integrations()),
        or_(SyncState.next_run_at.is_(None), SyncState.next_run_at <= now),
        lease_free(now, settings),
    )


def claim_due(
    session: Session,
    *,
    owner: str,
    settings: Settings,
    instance_id: uuid.UUID | None = None,
    trigger: str | None = None,
    force: bool = False,
) -> Claim | None:
    """Take the lease of one due instance (or of ``instance_id``) and record a run.

    With ``force`` the instance need not be due (``service-catalog sync``), but its
    lease must still be free (per this worker's ``lease_timeout_seconds``): one instance
    syncs on one worker at a time. Leases of gone processes of this host are freed first.
    Returns None when there is nothing to take (the states created and leases freed on the
    way are the caller's to commit all the same).
    """
    create_missing_states(session)
    release_gone_owners(session)
    now = utcnow()
    if force:
        cond: Any = and_(SyncState.instance_id == IntegrationInstance.id, lease_free(now, settings))
    else:
        cond = _due(now, settings)
    pick = select(SyncState.instance_id).join(IntegrationInstance, cond)
    if instance_id is not None:
        pick = pick.where(SyncState.instance_id == instance_id)
    pick = pick.order_by(SyncState.next_run_at.asc()).limit(1)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        picked = session.scalar(pick.with_for_update(of=SyncState, skip_locked=True))
        if picked is None:
            return None
        session.execute(
            update(SyncState)
            .where(SyncState.instance_id == picked)
            .values(lease_owner=owner, lease_renewed_at=now)
        )
    else:
        # One statement: SQLite runs it under its single writer lock, so two workers can
        # never both see the lease free.
        picked = session.scalar(
            update(SyncState)
            .where(SyncState.instance_id == pick.scalar_subquery(), lease_free(now, settings))
            .values(lease_owner=owner, lease_renewed_at=now)
            .returning(SyncState.instance_id)
        )
        if picked is None:
            return None
    state = session.get(SyncState, picked, populate_existing=True)
    assert state is not None
    # Runs left "running" by a worker that stopped renewing its lease: they are over.
    session.execute(
        update(SyncRun)
        .where(SyncRun.instance_id == picked, SyncRun.status == "running")
        .values(
            status="failed",
            finished_at=now,
            error="Abandoned: the worker running this sync stopped responding (its lease "
            f"was not renewed for over {settings.lease_timeout_seconds} s); another "
            "worker took over.",
        )
    )
    run_trigger = trigger or ("manual" if state.requested_at is not None else "schedule")
    ingest_from = state.ingest_from
    state.requested_at = None
    state.ingest_from = None
    state.last_scheduled_at = now
    if state.status == "halted":
        state.status, state.reason, state.remediation = "ok", None, None
    run = SyncRun(
        instance_id=picked, trigger=run_trigger, worker=owner, status="running", started_at=now
    )
    session.add(run)
    session.flush()
    return Claim(
        instance_id=picked, run_id=run.id, owner=owner, trigger=run_trigger, ingest_from=ingest_from
    )


def renew_lease(
    session: Session, *, claim: Claim, counters: Mapping[str, int] | None = None
) -> bool:
    """Renew the lease (a heartbeat) and store the run's ``counters`` so far (``pages``,
    ``created``, ...), so a sync's progress shows in its run while it runs. False when the
    lease was lost to another worker."""
    res = session.execute(
        update(SyncState)
        .where(SyncState.instance_id == claim.instance_id, SyncState.lease_owner == claim.owner)
        .values(lease_renewed_at=utcnow())
    )
    held = bool(res.rowcount)  # type: ignore[attr-defined]
    if held and counters:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == claim.run_id, SyncRun.status == "running")
            .values(**{k: counters[k] for k in RUN_COUNTS if k in counters})
        )
    return held


@dataclass(kw_only=True)
class Counts:
    """The counters a run in progress (``sync.engine.Progress``) and its :class:`Outcome`
    share: those of :data:`RUN_COUNTS` but ``vanished``, which only the run's end knows."""

    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    events: int = 0

    def counts(self) -> dict[str, int]:
        """These counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(Counts)}


@dataclass(kw_only=True)
class Outcome(Counts):
    """How a run ended, as the engine reports it to :func:`finish_run`."""

    status: str  # succeeded | failed
    vanished: int = 0
    error: str | None = None
    # ok | delayed | halted: what the schedule becomes; "retry": the run was interrupted
    # (worker stopped, lease lost), not the upstream's fault: due again now, health unchanged
    schedule: str = "ok"
    reason: str | None = None
    remediation: str | None = None
    retry_after: float | None = None


def backoff_seconds(failures: int, interval: int, retry_after: float | None) -> float:
    """Wait before the next try after ``failures`` failed runs in a row: exponential from
    30 s, never beyond the instance's interval, never sooner than the upstream's Retry-After."""
    exponent = min(max(0, failures - 1), 20)  # capped: a long outage must not overflow
    wait = min(float(interval), BACKOFF_BASE_SECONDS * float(2**exponent))
    if retry_after is not None:
        wait = max(wait, retry_after)
    return wait


def finish_run(
    session: Session, *, claim: Claim, outcome: Outcome, settings: Settings
) -> SyncRun | None:
    """Record the run's end, set the schedule's health, plan the next run and release the
    lease. A sync requested while this one ran is due at once. None when the instance
    (and so the run) was deleted meanwhile."""
    now = utcnow()
    run = session.get(SyncRun, claim.run_id, populate_existing=True)
    if run is None:
        return None
    for name in ("status", *RUN_COUNTS, "error"):
        setattr(run, name, getattr(outcome, name))
    run.finished_at = now
    state = session.get(SyncState, claim.instance_id, populate_existing=True)
    # A worker that lost its lease records its run but leaves the schedule to the new owner.
    if state is not None and state.lease_owner == claim.owner:
        interval = interval_of(state, settings, session.get(IntegrationInstance, claim.instance_id))
        if outcome.schedule == "retry":
            next_at = now
        elif outcome.status == "succeeded":
            state.consecutive_failures = 0
            state.status, state.reason, state.remediation = "ok", None, None
            next_at = now + dt.timedelta(seconds=interval)
        else:
            state.consecutive_failures += 1
            state.status = outcome.schedule if outcome.schedule != "ok" else "delayed"
            state.reason = outcome.reason or outcome.error
            state.remediation = outcome.remediation
            next_at = now + dt.timedelta(
                seconds=backoff_seconds(state.consecutive_failures, interval, outcome.retry_after)
            )
            if outcome.schedule == "halted":
                # Not claimed while unauthorized; due at once when authorized again.
                next_at = now
        if state.requested_at is not None:
            next_at = now
        state.next_run_at = next_at
        state.lease_owner = None
        state.lease_renewed_at = None
    session.flush()
    return run


__all__ = [
    "Claim",
    "Counts",
    "Outcome",
    "backoff_seconds",
    "claim_due",
    "create_missing_states",
    "ensure_state",
    "find_instance",
    "finish_run",
    "get_ingestion",
    "lease_free",
    "list_runs",
    "owner_is_gone",
    "release_gone_owners",
    "renew_lease",
    "request_sync",
    "run_to_dict",
    "state_to_dict",
    "worker_name",
]
