"""The console's service documents: the Documents section of a service's page
(:func:`service_section`), a document's page with its markdown rendered safely
(:func:`render_markdown`), and the forms creating, editing and deleting one.

Every read and change goes through ``catalog_services.documents`` with the signed-in
actor: a service's Service Viewers read its documents, its Service Admins change them
(README, "Access"); a service the actor may not see is a 404 page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.catalog_services import documents
from service_catalog.catalog_services import service as catalog
from service_catalog.catalog_services.models import CatalogService
from service_catalog.catalog_services.schemas import DocumentCreate, DocumentUpdate
from service_catalog.core.errors import Problem
from service_catalog.web.forms import refusal
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import form_page, render

router = page_router()

#: Documents listed on a service's page at most.
SERVICE_DOCS = 100
#: Link targets a document may have: the web, mail, and this site's own paths and anchors.
SAFE_SCHEMES = ("https:", "http:", "mailto:")
#: A document's page runs no script at all, whatever its markdown says.
DOCUMENT_CSP = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"


def _safe_link(url: str) -> bool:
    text = url.strip().lower()
    head = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" not in head or text.startswith(SAFE_SCHEMES)


#: CommonMark with tables and strikethrough, raw HTML off (a tag shows as text), links
#: only to :data:`SAFE_SCHEMES` or relative (a ``javascript:`` link stays plain text).
MARKDOWN = MarkdownIt("js-default", {"html": False, "linkify": False})
MARKDOWN.validateLink = _safe_link  # type: ignore[method-assign]


def render_markdown(text: str) -> Markup:
    """A document's markdown as HTML safe to put in a page: no raw HTML, no script link."""
    return Markup(MARKDOWN.render(text))  # markdown-it escapes all text: html is off


def service_section(session: Session, svc: CatalogService, actor: Actor) -> dict[str, Any]:
    """The Documents section of a service's page: ``{docs, total, note}`` (by title)."""
    try:
        rows, meta = documents.list_documents(
            session,
            service_ref=str(svc.id),
            query=[("sort", "title"), ("page[size]", str(SERVICE_DOCS))],
            actor=actor,
        )
    except Problem as exc:
        return {"docs": [], "total": 0, "note": exc.detail}
    return {"docs": rows, "total": int(meta["page"]["total"]), "note": ""}


def _changeable(ctx: Any, service_id: str) -> CatalogService:
    """The service whose documents the form changes: a 404 page unless the actor sees it,
    403 unless it is its Service Admin."""
    return catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )


def _form_page(
    request: Request,
    ctx: Any,
    svc: CatalogService,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    doc: dict[str, Any] | None = None,
) -> Response:
    return form_page(
        request,
        "documents/form.html",
        actor=ctx.actor,
        section="services",
        values=values,
        errors=errors,
        service=svc,
        doc=doc,
    )


def _errors(exc: ValidationError | Problem) -> dict[str, str]:
    errors: dict[str, str] = {}
    for p in refusal(exc):
        field = str(p.get("field", ""))
        errors.setdefault(field if field in ("title", "content") else "form", str(p["reason"]))
    return errors


def _values(request: Request) -> dict[str, str]:
    form = form_of(request)
    return {"title": form.get("title", "").strip(), "content": form.get("content", "")}


@router.get("/services/{service_id}/documents/new")
def new_document(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """The form of a new document (Service Admin of the service)."""
    svc = _changeable(ctx, service_id)
    return _form_page(request, ctx, svc, values={"title": "", "content": ""}, errors={})


@router.post("/services/{service_id}/documents/new")
def create_document(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Attach the form's document to the service; the form again with its errors."""
    svc = _changeable(ctx, service_id)
    values = _values(request)
    try:
        data = DocumentCreate.model_validate(values)
        with ctx.session.begin_nested():
            doc = documents.create_document(
                ctx.session, service_ref=str(svc.id), data=data, actor=ctx.actor
            )
    except (ValidationError, Problem) as exc:
        errors = _errors(exc)
        return _form_page(request, ctx, svc, values=values, errors=errors)
    return RedirectResponse(f"/services/{svc.id}/documents/{doc['id']}?created=1", 303)


@router.get("/services/{service_id}/documents/{document_id}")
def document_page(service_id: str, document_id: str, request: Request, ctx: CtxDep) -> Response:
    """A document: its markdown rendered safely (and a policy running no script)."""
    svc = catalog.get_service(ctx.session, service_id=service_id, rights=ctx.actor.rights)
    doc = documents.read_document(
        ctx.session, service_ref=str(svc.id), document_id=document_id, actor=ctx.actor
    )
    return render(
        request,
        "documents/show.html",
        actor=ctx.actor,
        section="services",
        headers={"Content-Security-Policy": DOCUMENT_CSP},
        service=svc,
        doc=doc,
        body=render_markdown(doc["content"]),
        params={k: v.strip() for k, v in request.query_params.items()},
    )


def _read(ctx: Any, service_id: str, document_id: str) -> tuple[CatalogService, dict[str, Any]]:
    svc = _changeable(ctx, service_id)
    doc = documents.read_document(
        ctx.session, service_ref=str(svc.id), document_id=document_id, actor=ctx.actor
    )
    return svc, doc


@router.get("/services/{service_id}/documents/{document_id}/edit")
def edit_document(service_id: str, document_id: str, request: Request, ctx: CtxDep) -> Response:
    """The form of a document's changes."""
    svc, doc = _read(ctx, service_id, document_id)
    values = {"title": doc["title"], "content": doc["content"]}
    return _form_page(request, ctx, svc, values=values, errors={}, doc=doc)


@router.post("/services/{service_id}/documents/{document_id}/edit")
def update_document(service_id: str, document_id: str, request: Request, ctx: CtxDep) -> Response:
    """Save the form's changes; the form again with its errors when invalid."""
    svc, doc = _read(ctx, service_id, document_id)
    values = _values(request)
    try:
        data = DocumentUpdate.model_validate(values)
        with ctx.session.begin_nested():
            documents.update_document(
                ctx.session,
                service_ref=str(svc.id),
                document_id=doc["id"],
                data=data,
                actor=ctx.actor,
            )
    except (ValidationError, Problem) as exc:
        errors = _errors(exc)
        return _form_page(request, ctx, svc, values=values, errors=errors, doc=doc)
    return RedirectResponse(f"/services/{svc.id}/documents/{doc['id']}?updated=1", 303)


@router.get("/services/{service_id}/documents/{document_id}/delete")
def confirm_delete(service_id: str, document_id: str, request: Request, ctx: CtxDep) -> Response:
    """Ask before deleting a document."""
    svc, doc = _read(ctx, service_id, document_id)
    return render(
        request,
        "documents/delete.html",
        actor=ctx.actor,
        section="services",
        service=svc,
        doc=doc,
    )


@router.post("/services/{service_id}/documents/{document_id}/delete")
def delete_document(service_id: str, document_id: str, request: Request, ctx: CtxDep) -> Response:
    """Delete the document."""
    svc, doc = _read(ctx, service_id, document_id)
    documents.delete_document(
        ctx.session, service_ref=str(svc.id), document_id=doc["id"], actor=ctx.actor
    )
    return RedirectResponse(
        f"/services/{svc.id}?document_deleted={quote(doc['title'])}#documents", 303
    )
