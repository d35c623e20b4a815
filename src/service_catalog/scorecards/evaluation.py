"""Evaluating scorecards: each targeted service's criteria, its score and level.

A pass reads its services in chunks (their documents, mapped resources and the instances'
authorization), runs the criteria's evaluators (:mod:`service_catalog.scorecards.criteria`)
in Python, and writes a :class:`ScorecardResult` row only when something in it changed
(the time of the attempt is one set-based UPDATE per chunk). A full pass covers every
targeted service and drops the rows of services no longer targeted; an incremental pass
covers the services whose inputs changed since the last one: the audit trail names the
services whose fields, mappings or documents changed, and ``service_input_changes`` those
whose mapped resources a sync rewrote.

The worker (``sync.worker``) takes a scorecard's lease before a pass (:func:`claim`), as a
sync takes an instance's: two workers never evaluate one scorecard at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from service_catalog.catalog_services.models import CatalogService, ServiceDocument
from service_catalog.core import jsonio
from service_catalog.core.db import utcnow
from service_catalog.core.render import ts
from service_catalog.events.models import Event, is_audit
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.scorecards.criteria import BY_NAME, Evaluator, Inputs, Outcome, Res, error
from service_catalog.scorecards.models import (
    Encoded,
    Scorecard,
    ScorecardCriterion,
    ScorecardResult,
    ScorecardState,
    ServiceInputChange,
)
from service_catalog.scorecards.selectors import selector_clause

CHUNK = 500
#: Changes are read from this long before the last pass, so that one committed late (its
#: time stamped before a pass began, its commit after) is still seen.
OVERLAP = dt.timedelta(seconds=10)


@dataclass
class PassStats:
    """What a pass did."""

    services: int = 0
    written: int = 0
    removed: int = 0


def score_of(passed: int, enabled: int) -> tuple[float | None, str | None]:
    """A service's score: the share of enabled criteria passed, as a raw value rounded to
    3 places and a percentage string (None without enabled criteria)."""
    if enabled == 0:
        return None, None
    raw = round(100 * passed / enabled, 3)
    return raw, f"{round(raw)}%"


def level_of(
    levels: Sequence[dict[str, Any]] | None,
    criteria: Sequence[ScorecardCriterion],
    passing: Collection[str],
) -> tuple[str | None, dict[str, Any] | None]:
    """The highest level reached (each needs its sections' enabled criteria passing and
    every lower level reached) and what the next one needs: ``{name, missing: [...]}``."""
    reached: str | None = None
    for lv in levels or []:
        sections = set(lv["sections"])
        missing = [
            {
                "id": str(c.id),
                "name": c.name or BY_NAME[c.template_name].render(c.template_parameters)
                if c.template_name in BY_NAME
                else c.template_name,
                "section_name": c.section_name,
            }
            for c in criteria
            if c.enabled and c.section_name in sections and str(c.id) not in passing
        ]
        if missing:
            return reached, {"name": lv["name"], "missing": missing}
        reached = lv["name"]
    return reached, None


def input_statements(ids: list[uuid.UUID]) -> tuple[Any, Any]:
    """What a pass reads of the services ``ids``: their documents' count, and their mapped
    resources (service id, id, name, type, integration, instance, data) in service order."""
    docs = (
        select(ServiceDocument.service_id, func.count())
        .where(ServiceDocument.service_id.in_(ids))
        .group_by(ServiceDocument.service_id)
    )
    resources = (
        select(
            ResourceMapping.service_id,
            Resource.id,
            Resource.name,
            Resource.type,
            Resource.integration_name,
            Resource.instance_id,
            Resource.integration_data,
        )
        .join(Resource, Resource.id == ResourceMapping.resource_id)
        .where(ResourceMapping.service_id.in_(ids))
        .order_by(ResourceMapping.service_id, Resource.id)
    )
    return docs, resources


def _inputs(
    session: Session, ids: list[uuid.UUID], authorized: dict[uuid.UUID, bool], now: dt.datetime
) -> dict[uuid.UUID, Inputs]:
    docs_stmt, resources_stmt = input_statements(ids)
    docs = dict(session.execute(docs_stmt).all())
    resources: dict[uuid.UUID, list[Res]] = defaultdict(list)
    rows = session.execute(resources_stmt)
    for sid, rid, name, rtype, integ, iid, data in rows:
        resources[sid].append(Res(rid, name, rtype, integ, iid, data))
    return {
        sid: Inputs(sid, int(docs.get(sid, 0)), resources.get(sid, []), authorized, now)
        for sid in ids
    }


def _entry(
    out: Outcome, old: dict[str, Any] | None, prev_ok: str | None, now: str
) -> dict[str, Any]:
    """A criterion's stored result; ``c`` (first evaluated) and ``ok`` (the last success
    while in error) carry over from ``old`` so an unchanged result stores the same."""
    first = (old.get("c") if old else None) or now
    if out.error is None:
        return {"p": out.passing, "v": out.raw, "t": out.text, "e": None, "ok": None, "c": first}
    kind, details = out.error
    return {
        "p": out.passing,
        "v": out.raw,
        "t": out.text,
        "e": {"type": kind, "details": details},
        # Still in error: keep the last success; newly in error: it was the last attempt.
        "ok": old.get("ok") if old and old.get("e") else prev_ok,
        "c": first,
    }


def _digest(raw: float | None, level: str | None, body: bytes) -> str:
    """The digest of a result row: md5 of ``[raw, level, results]`` as orjson writes it
    (``body``: the results encoded once, for the digest and the row)."""
    head = b"[" + orjson.dumps(raw) + b"," + orjson.dumps(level) + b","
    return hashlib.md5(head + body + b"]", usedforsecurity=False).hexdigest()


def targets(
    session: Session, scorecard_id: uuid.UUID, service_ids: Iterable[uuid.UUID] | None
) -> list[uuid.UUID]:
    """The services a pass covers: ``service_ids`` still targeted by the scorecard (the
    rows of the others are dropped now), or every targeted service when None."""
    card = session.get(Scorecard, scorecard_id)
    if card is None:
        return []
    where = selector_clause(card.entity_selector)
    if service_ids is None:
        return list(
            session.scalars(select(CatalogService.id).where(where).order_by(CatalogService.id))
        )
    asked = list(dict.fromkeys(service_ids))
    found: list[uuid.UUID] = []
    for i in range(0, len(asked), CHUNK):
        part = asked[i : i + CHUNK]
        found += session.scalars(
            select(CatalogService.id).where(CatalogService.id.in_(part), where)
        )
    gone = set(asked) - set(found)
    if gone:
        # Their rows (or those a deleted service's cascade took) leave the counts, which
        # incremental passes otherwise keep by difference: count again.
        _remove(session, scorecard_id, list(gone))
        refresh_aggregates(session, card, _criteria(session, scorecard_id))
    return found


def evaluate_ids(
    session: Session, scorecard_id: uuid.UUID, ids: list[uuid.UUID], now: dt.datetime
) -> int:
    """Evaluate the scorecard for ``ids`` (targeted services, at most a chunk); store what
    changed. Returns how many result rows were written."""
    card = session.get(Scorecard, scorecard_id)
    if card is None or not ids:
        return 0
    criteria = _criteria(session, scorecard_id)
    checks = [
        (str(c.id), _evaluator(c.template_name), c.template_parameters or {})
        for c in criteria
        if c.enabled
    ]
    authorized = dict(
        session.execute(select(IntegrationInstance.id, IntegrationInstance.authorized)).all()
    )
    written = 0
    for i in range(0, len(ids), CHUNK):
        written += _evaluate_chunk(
            session,
            card,
            checks,
            criteria,
            ids[i : i + CHUNK],
            authorized,
            now,
        )
    return written


def _evaluator(template_name: str) -> Evaluator:
    template = BY_NAME.get(template_name)
    if template is not None:
        return template.evaluate
    unknown = error("unknown_criteria", f"No criteria template {template_name}")
    return lambda inputs, params: unknown


def finish(session: Session, scorecard_id: uuid.UUID, *, full: bool) -> int:
    """End a pass: after a full one, drop the rows of services no longer targeted; then
    refresh the scorecard's score, and its criteria counts after a full pass (incremental
    ones keep them by difference, see :func:`_evaluate_chunk`). Returns how many rows were
    dropped."""
    card = session.get(Scorecard, scorecard_id)
    if card is None:
        return 0
    removed = 0
    if full:
        stale = select(ScorecardResult.service_id).where(
            ScorecardResult.scorecard_id == scorecard_id,
            ScorecardResult.service_id.not_in(
                select(CatalogService.id).where(selector_clause(card.entity_selector))
            ),
        )
        removed = _remove(session, scorecard_id, list(session.scalars(stale)))
    refresh_aggregates(session, card, _criteria(session, scorecard_id), counts=full)
    return removed


def _criteria(session: Session, scorecard_id: uuid.UUID) -> list[ScorecardCriterion]:
    return list(
        session.scalars(
            select(ScorecardCriterion)
            .where(ScorecardCriterion.scorecard_id == scorecard_id)
            .order_by(ScorecardCriterion.position)
            # The counts move in SQL (_evaluate_chunk): never the session's stale copy.
            .execution_options(populate_existing=True)
        )
    )


def evaluate(
    session: Session,
    scorecard_id: uuid.UUID,
    *,
    service_ids: Iterable[uuid.UUID] | None = None,
    now: dt.datetime | None = None,
) -> PassStats:
    """One pass in one transaction: :func:`targets`, :func:`evaluate_ids`, :func:`finish`
    (the worker runs the same steps in a transaction per chunk, see ``sync.scorecards``)."""
    now = now or utcnow()
    ids = targets(session, scorecard_id, service_ids)
    written = evaluate_ids(session, scorecard_id, ids, now)
    removed = finish(session, scorecard_id, full=service_ids is None)
    return PassStats(services=len(ids), written=written, removed=removed)


def _evaluate_chunk(
    session: Session,
    card: Scorecard,
    checks: Sequence[tuple[str, Evaluator, Mapping[str, Any]]],
    criteria: list[ScorecardCriterion],
    ids: list[uuid.UUID],
    authorized: dict[uuid.UUID, bool],
    now: dt.datetime,
) -> int:
    """Evaluate ``ids``, write the rows that changed (one statement for the new ones, one
    for the changed ones) and the time of the attempt of the others, and move the
    criteria's counts of passing services by the difference (SQL: a count not computed yet
    stays NULL)."""
    stamp = ts(now) or ""
    inputs = _inputs(session, ids, authorized, now)
    old = {
        r.service_id: r
        for r in session.execute(
            select(
                ScorecardResult.service_id,
                ScorecardResult.results,
                ScorecardResult.digest,
                ScorecardResult.attempted_at,
                ScorecardResult.passed,
            ).where(ScorecardResult.scorecard_id == card.id, ScorecardResult.service_id.in_(ids))
        )
    }
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: list[uuid.UUID] = []
    moved: Counter[str] = Counter()
    for sid in ids:
        before = old.get(sid)
        prev_results: dict[str, Any] = (before.results if before is not None else None) or {}
        prev_ok = ts(before.attempted_at) if before is not None else None
        service = inputs[sid]
        results: dict[str, Any] = {}
        passing: list[str] = []
        for key, evaluate, params in checks:
            try:
                out = evaluate(service, params)
            except Exception as exc:  # a malformed upstream record must not stop the pass
                out = error("evaluation_failed", f"{type(exc).__name__}: {exc}")
            results[key] = _entry(out, prev_results.get(key), prev_ok, stamp)
            if out.passing:
                passing.append(key)
        raw, value = score_of(len(passing), len(checks))
        level, _ = level_of(card.levels, criteria, passing)
        body = Encoded(jsonio.dumps(results))
        row = {
            "scorecard_id": card.id,
            "service_id": sid,
            "score_raw": raw,
            "score_value": value,
            "level": level,
            "passed": " ".join(passing),
            "results": body,
            "digest": _digest(raw, level, body),
            "attempted_at": now,
        }
        if before is None:
            row["created_at"] = now
            new_rows.append(row)
            moved.update(passing)
        elif before.digest == row["digest"]:
            unchanged.append(sid)
        else:
            changed.append(row)
            was, now_passing = set(before.passed.split()), set(passing)
            moved.update(now_passing - was)
            moved.subtract(was - now_passing)
    if new_rows:
        session.execute(insert(ScorecardResult), new_rows)
    if changed:
        session.execute(update(ScorecardResult), changed)  # by primary key, executemany
    if unchanged:
        session.execute(
            update(ScorecardResult)
            .where(
                ScorecardResult.scorecard_id == card.id,
                ScorecardResult.service_id.in_(unchanged),
            )
            .values(attempted_at=now)
        )
    deltas = [{"cid": uuid.UUID(k), "d": d} for k, d in moved.items() if d]
    if deltas:
        count = ScorecardCriterion.passing_services_count
        session.connection().execute(
            update(cast(Table, ScorecardCriterion.__table__))
            .where(ScorecardCriterion.id == bindparam("cid"), count.is_not(None))
            .values(passing_services_count=count + bindparam("d")),
            deltas,
        )
    return len(new_rows) + len(changed)


def _remove(session: Session, scorecard_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    removed = 0
    for i in range(0, len(ids), CHUNK):
        removed += session.execute(
            delete(ScorecardResult).where(
                ScorecardResult.scorecard_id == scorecard_id,
                ScorecardResult.service_id.in_(ids[i : i + CHUNK]),
            )
        ).rowcount  # type: ignore[attr-defined]
    return removed


def passing_expr(criterion_id: uuid.UUID | str) -> Any:
    """SQL: the result row's service passes the criterion."""
    return ScorecardResult.passed.like(f"%{criterion_id}%")


def refresh_aggregates(
    session: Session,
    card: Scorecard,
    criteria: Sequence[ScorecardCriterion],
    *,
    counts: bool = True,
) -> None:
    """The scorecard's score (the mean of its services', read from an index) and, with
    ``counts`` or when one is not computed yet, each criterion's count of passing services
    (one aggregate query over every row), from the stored results."""
    mine = ScorecardResult.scorecard_id == card.id
    mean = session.scalar(select(func.avg(ScorecardResult.score_raw)).where(mine))
    card.score_raw = None if mean is None else round(float(mean), 3)
    card.score_value = None if mean is None else f"{round(float(mean))}%"
    if not counts:
        counts = any(c.enabled and c.passing_services_count is None for c in criteria)
    if criteria and counts:
        totals = session.execute(
            select(
                *[
                    func.coalesce(func.sum(case((passing_expr(c.id), 1), else_=0)), 0)
                    for c in criteria
                ],
                func.count(),
            ).where(mine)
        ).one()
        evaluated = int(totals[-1])
        for c, n in zip(criteria, totals[:-1], strict=False):
            c.passing_services_count = int(n) if (evaluated and c.enabled) else None
    session.flush()


# --- what changed, and the worker's lease ------------------------------------------


def changed_services(session: Session, since: dt.datetime) -> set[uuid.UUID]:
    """Services whose evaluation inputs changed after ``since``: named by an audit entry
    (their fields, mappings, documents) or noted by a sync (their resources' data)."""
    audited = session.scalars(
        select(Event.service_id).where(
            is_audit == 1, Event.ts > since, Event.service_id.is_not(None)
        )
    )
    noted = session.scalars(
        select(ServiceInputChange.service_id).where(ServiceInputChange.noted_at > since)
    )
    return {s for s in audited if s is not None} | set(noted)


def note_resources_changed(session: Session, instance_id: uuid.UUID, since: dt.datetime) -> int:
    """Note (for the next incremental pass) the services mapped to resources of
    ``instance_id`` written since ``since`` (a sync's start). Returns how many."""
    ids = list(
        session.scalars(
            select(ResourceMapping.service_id)
            .join(Resource, Resource.id == ResourceMapping.resource_id)
            .where(Resource.instance_id == instance_id, Resource.updated_at >= since)
            .distinct()
        )
    )
    now = utcnow()
    if ids:
        session.execute(
            insert(ServiceInputChange), [{"service_id": s, "noted_at": now} for s in ids]
        )
    # Notes older than a day have been seen by every pass (passes run every poll).
    session.execute(
        delete(ServiceInputChange).where(ServiceInputChange.noted_at < now - dt.timedelta(days=1))
    )
    return len(ids)


def _lease_free(now: dt.datetime, timeout_seconds: float) -> Any:
    stale = now - dt.timedelta(seconds=timeout_seconds)
    return or_(
        ScorecardState.lease_owner.is_(None),
        ScorecardState.lease_renewed_at.is_(None),
        ScorecardState.lease_renewed_at < stale,
    )


def ensure_states(session: Session) -> None:
    """A state row for every scorecard that has none (created by another process)."""
    missing = select(Scorecard.id).where(Scorecard.id.not_in(select(ScorecardState.scorecard_id)))
    ids = list(session.scalars(missing))
    if ids:
        session.execute(
            insert(ScorecardState), [{"scorecard_id": i, "full_due": True} for i in ids]
        )


def claim(session: Session, scorecard_id: uuid.UUID, owner: str, timeout_seconds: float) -> bool:
    """Take the scorecard's lease for ``owner`` when free (nobody holds it, or its holder
    stopped renewing it for ``timeout_seconds``): one UPDATE, so of two workers asking at
    once exactly one gets it (a row lock on PostgreSQL, the single writer on SQLite)."""
    now = utcnow()
    got = session.execute(
        update(ScorecardState)
        .where(ScorecardState.scorecard_id == scorecard_id, _lease_free(now, timeout_seconds))
        .values(lease_owner=owner, lease_renewed_at=now)
    ).rowcount  # type: ignore[attr-defined]
    return bool(got)


def renew(session: Session, scorecard_id: uuid.UUID, owner: str) -> bool:
    """Renew the lease; False when another worker took it."""
    return bool(
        session.execute(
            update(ScorecardState)
            .where(ScorecardState.scorecard_id == scorecard_id, ScorecardState.lease_owner == owner)
            .values(lease_renewed_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
    )


def release(
    session: Session,
    scorecard_id: uuid.UUID,
    owner: str,
    *,
    full_at: dt.datetime | None,
    seen_at: dt.datetime,
) -> None:
    """Release the lease, recording up to when changes were seen (and the full pass)."""
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_renewed_at": None,
        "changes_seen_at": seen_at,
    }
    if full_at is not None:
        values["last_full_at"] = full_at
    session.execute(
        update(ScorecardState)
        .where(ScorecardState.scorecard_id == scorecard_id, ScorecardState.lease_owner == owner)
        .values(values)
    )
    if full_at is not None:
        # A change of the scorecard made during the pass asked for another full pass.
        session.execute(
            update(ScorecardState)
            .where(
                ScorecardState.scorecard_id == scorecard_id,
                and_(ScorecardState.full_due.is_(True)),
                select(Scorecard.updated_at).where(Scorecard.id == scorecard_id).scalar_subquery()
                < full_at,
            )
            .values(full_due=False)
        )
