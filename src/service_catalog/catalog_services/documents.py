"""Service documents: markdown attached to a catalog service (an extension of Konnect's
API, which counts documents in ``has_service_docs`` and ``has_docs``). They follow their
service's rights: its Service Viewers read them, its Service Admins change them; a
service the actor may not see is a 404."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService, ServiceDocument
from service_catalog.catalog_services.schemas import DocumentCreate, DocumentUpdate
from service_catalog.catalog_services.service import get_service
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import Problem
from service_catalog.core.render import ts
from service_catalog.events.service import record_action

SORTS = {
    "title": ServiceDocument.title,
    "created_at": ServiceDocument.created_at,
    "updated_at": ServiceDocument.updated_at,
}
FILTERS = q.FilterSpec(fields=q.model_fields(ServiceDocument, "title created_at updated_at"))


def to_dict(doc: ServiceDocument) -> dict[str, Any]:
    """A document as the API returns it."""
    return {
        "id": str(doc.id),
        "service_id": str(doc.service_id),
        "title": doc.title,
        "content": doc.content,
        "created_at": ts(doc.created_at),
        "updated_at": ts(doc.updated_at),
    }


def _service(session: Session, actor: Actor, ref: str, *, change: bool) -> CatalogService:
    """The service ``ref`` names: a 404 unless the actor reads it, a 403 naming Service
    Admin when ``change`` and it only reads it."""
    return get_service(session, service_id=ref, rights=actor.rights, change=change)


def _document(session: Session, svc: CatalogService, document_id: str) -> ServiceDocument:
    try:
        doc = session.get(ServiceDocument, uuid.UUID(document_id))
    except ValueError:
        doc = None
    if doc is None or doc.service_id != svc.id:
        raise Problem(404, f"Document [{document_id}] of service [{svc.name}] not found")
    return doc


def _audit(
    session: Session, actor: Actor, svc: CatalogService, doc: ServiceDocument, verb: str
) -> None:
    record_action(
        session,
        actor=actor,
        type=f"service_document.{verb}",
        service_id=svc.id,
        detail=f"Document {doc.title!r} of {svc.name} {verb} by {actor.name}",
        attributes={"document_id": str(doc.id), "title": doc.title},
    )


def create_document(
    session: Session, *, service_ref: str, data: DocumentCreate, actor: Actor
) -> dict[str, Any]:
    """Attach a document to a service (Service Admin of it)."""
    svc = _service(session, actor, service_ref, change=True)
    now = utcnow()
    doc = ServiceDocument(
        service_id=svc.id, title=data.title, content=data.content, created_at=now, updated_at=now
    )
    session.add(doc)
    session.flush()
    _audit(session, actor, svc, doc, "created")
    return to_dict(doc)


def list_documents(
    session: Session, *, service_ref: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of a service's documents (filters title, created_at, updated_at; same sorts)."""
    svc = _service(session, actor, service_ref, change=False)
    clauses = q.filter_clauses(FILTERS, query, session.get_bind().dialect.name)
    sort = q.parse_sort(dict(query).get("sort"), SORTS, "created_at")
    page = q.page_request(dict(query))
    rows, total = q.numbered_page(
        session,
        select(ServiceDocument).where(ServiceDocument.service_id == svc.id, *clauses),
        q.order_by(sort, SORTS, ServiceDocument.id),
        page,
    )
    return [to_dict(d) for d in rows], q.page_meta(page, total)


def read_document(
    session: Session, *, service_ref: str, document_id: str, actor: Actor
) -> dict[str, Any]:
    """One document of a service."""
    svc = _service(session, actor, service_ref, change=False)
    return to_dict(_document(session, svc, document_id))


def update_document(
    session: Session, *, service_ref: str, document_id: str, data: DocumentUpdate, actor: Actor
) -> dict[str, Any]:
    """Change a document's title or content (Service Admin of its service)."""
    svc = _service(session, actor, service_ref, change=True)
    doc = _document(session, svc, document_id)
    changed = False
    for field in ("title", "content"):
        value = getattr(data, field)
        if field in data.model_fields_set and value is not None and getattr(doc, field) != value:
            setattr(doc, field, value)
            changed = True
    if changed:
        doc.updated_at = utcnow()
        _audit(session, actor, svc, doc, "updated")
    return to_dict(doc)


def delete_document(session: Session, *, service_ref: str, document_id: str, actor: Actor) -> None:
    """Delete a document (Service Admin of its service)."""
    svc = _service(session, actor, service_ref, change=True)
    doc = _document(session, svc, document_id)
    _audit(session, actor, svc, doc, "deleted")
    session.execute(delete(ServiceDocument).where(ServiceDocument.id == doc.id))
