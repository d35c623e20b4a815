"""Scorecards, their criteria, the evaluation results per service and the worker's state."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from psycopg.types.json import Json
from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from service_catalog.core import jsonio
from service_catalog.core.db import Base, JSONType, new_uuid, utcnow


class Encoded(bytes):
    """A JSON document already encoded (by :func:`service_catalog.core.jsonio.dumps`), to
    store as it is in a :class:`FastJSON` column."""


def _encoded(value: Any) -> bytes:
    return value if isinstance(value, Encoded) else jsonio.dumps(value)


def _text(value: Any) -> str:
    return _encoded(value).decode()


class FastJSON(TypeDecorator[Any]):
    """A JSON column written through orjson (:func:`service_catalog.core.jsonio.dumps`:
    compact, several times faster than the ``json`` module the engine would use), or as
    given when the value is :class:`Encoded`; read as any JSON column."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "postgresql":  # psycopg: a json parameter, with our text
            return lambda value: None if value is None else Json(value, dumps=_encoded)
        return lambda value: None if value is None else _text(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "postgresql":  # psycopg decodes it (jsonio.loads)
            return self.impl_instance.result_processor(dialect, coltype)
        # orjson straight away, without jsonio's scan for integers beyond 64 bits (half
        # the time of reading a pass's old rows): the evaluators store texts, ids, floats
        # and counts of mapped things, never such an integer.
        return lambda value: None if value is None else orjson.loads(value)


class Scorecard(Base):
    """A scorecard: which services it targets (``entity_selector``), its ``levels`` (our
    extension) and its last computed score (the mean of its services' scores)."""

    __tablename__ = "scorecards"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    entity_selector: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    scorecard_template: Mapped[str | None] = mapped_column(String(64), default=None)
    levels: Mapped[list[Any] | None] = mapped_column(JSONType, default=None)
    score_raw: Mapped[float | None] = mapped_column(Float, default=None, index=True)
    score_value: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScorecardCriterion(Base):
    """One criterion of a scorecard: a criteria template with its parameters, in its
    section, enabled or not; ``passing_services_count`` as of the last evaluation."""

    __tablename__ = "scorecard_criteria"
    __table_args__ = (Index("ix_scorecard_criteria_scorecard", "scorecard_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    scorecard_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scorecards.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str | None] = mapped_column(String(2048), default=None)
    template_name: Mapped[str] = mapped_column(String(120))
    integration: Mapped[str | None] = mapped_column(String(120), default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    template_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    section_name: Mapped[str | None] = mapped_column(String(120), default=None)
    passing_services_count: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScorecardResult(Base):
    """A service's evaluation under one scorecard: its score, its level, and each
    criterion's result in ``results`` (criterion id -> ``{p, v, t, e, ok, c}``: is passing,
    raw value, display text, error, last success while in error, first evaluated).

    ``results`` changes only when a result does: the time of the last attempt is
    ``attempted_at`` (one set-based UPDATE per pass), and a criterion without an error
    was last evaluated successfully then."""

    __tablename__ = "scorecard_results"
    __table_args__ = (Index("ix_scorecard_results_score", "scorecard_id", "score_raw"),)

    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scorecards.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score_raw: Mapped[float | None] = mapped_column(Float, default=None)
    score_value: Mapped[str | None] = mapped_column(String(8), default=None)
    level: Mapped[str | None] = mapped_column(String(120), default=None)
    # The ids of the criteria passed, space-separated: counts and filters are SQL on it.
    passed: Mapped[str] = mapped_column(Text, default="")
    # JSON (not JSONB) on both databases: read whole, and its key order is kept.
    results: Mapped[dict[str, Any]] = mapped_column(FastJSON, default=dict)
    digest: Mapped[str] = mapped_column(String(32), default="")
    attempted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScorecardState(Base):
    """The evaluation worker's state of one scorecard: its lease (as a sync's, see
    ``sync.service``), whether it needs a full evaluation, and up to when the changes of
    services were taken into account."""

    __tablename__ = "scorecard_states"

    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scorecards.id", ondelete="CASCADE"), primary_key=True
    )
    full_due: Mapped[bool] = mapped_column(default=True)
    last_full_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    changes_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)
    lease_renewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ServiceInputChange(Base):
    """A service whose evaluation inputs changed without an audit event: its mapped
    resources' integration data, written by a sync. The evaluation worker reads these
    with the audit trail (``scorecards.evaluation.changed_services``)."""

    __tablename__ = "service_input_changes"
    __table_args__ = (Index("ix_service_input_changes_noted", "noted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column()
    noted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
