"""The console's Integrations pages: the integrations we ship as cards, installing an
instance through a form generated from the integration's ``config_schema``, an instance's
page (its connection, authorize through a form generated from its credential type, verify
again or replace the credential, Sync now with live progress, the run history with errors
and what to do), and uninstall with a confirmation that says what goes with it.

Everything goes through the integrations and sync service functions with the request's
unit of work and actor; authorizing uses the deferred unit of work the API route uses (the
upstream is asked holding no transaction).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service_catalog.auth.access import Rights
from service_catalog.auth.deps import CtxDep, DeferredWriteCtxDep
from service_catalog.core.errors import Problem, invalid_parameters_from
from service_catalog.core.secrets import get_box
from service_catalog.integrations import registry
from service_catalog.integrations import service as integrations
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.integrations.schemas import IntegrationInstanceCreate
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.sync import service as sync
from service_catalog.sync.models import SyncRun, SyncState
from service_catalog.sync.worker import notify
from service_catalog.web import forms
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import form_page, render

router = page_router()

RUNS_SHOWN = 10


def _instance_rows(session: Session, rights: Rights) -> list[dict[str, Any]]:
    rows, _ = integrations.list_instances(session, query=[("page[size]", "100")], rights=rights)
    return [{"instance": integrations.to_dict(i), **sync.instance_health(session, i)} for i in rows]


@router.get("/integrations")
def integrations_page(request: Request, ctx: CtxDep) -> Response:
    """The integrations we ship (cards) and the installed instances with their health."""
    cards = [registry.get_descriptor(i.name) for i in registry.list_integrations()]
    return render(
        request,
        "integrations/list.html",
        actor=ctx.actor,
        section="integrations",
        cards=sorted((c for c in cards if c), key=lambda c: str(c["display_name"])),
        instances=_instance_rows(ctx.session, ctx.actor.rights),
        params=dict(request.query_params),
    )


# --- install --------------------------------------------------------------------------


def _descriptor(name: str) -> dict[str, Any]:
    descriptor = registry.get_descriptor(name)
    if descriptor is None:
        raise Problem(404, f"There is no integration named [{name}]")
    return descriptor


def _instance(ctx: Any, instance_id: str) -> IntegrationInstance:
    """The integration instance a page is about: a 404 page unless the actor reads it."""
    return integrations.get_instance(ctx.session, instance_id=instance_id, rights=ctx.actor.rights)


def _install_page(
    request: Request,
    ctx: Any,
    descriptor: dict[str, Any],
    *,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    fields = forms.config_fields(descriptor.get("config_schema") or {})
    return form_page(
        request,
        "integrations/install.html",
        actor=ctx.actor,
        section="integrations",
        values=values,
        errors=errors,
        integration=descriptor,
        fields=fields,
    )


@router.get("/integrations/{name}/install")
def install_form(name: str, request: Request, ctx: CtxDep) -> Response:
    """The install form of an integration, generated from its ``config_schema``."""
    descriptor = _descriptor(name)
    return _install_page(
        request,
        ctx,
        descriptor,
        values={"name": name, "display_name": str(descriptor["display_name"])},
        errors={},
    )


@router.post("/integrations/{name}/install")
def install(name: str, request: Request, ctx: CtxDep) -> Response:
    """Install an instance from the form; the form again, with errors next to their
    fields, when the API's validation refuses it."""
    descriptor = _descriptor(name)
    form = form_of(request)
    fields = forms.config_fields(descriptor.get("config_schema") or {})
    values = {k: form.get(k, "") for k in ("name", "display_name", "description")}
    values.update(forms.submitted(fields, form))
    body = {
        "integration_name": name,
        "name": values["name"].strip(),
        "display_name": values["display_name"].strip(),
        "description": values["description"].strip() or None,
        "config": forms.config_from_form(fields, form),
    }
    errors: dict[str, str] = {}
    try:
        data = IntegrationInstanceCreate.model_validate(body)
        with ctx.session.begin_nested():
            inst = integrations.create_instance(ctx.session, data=data, actor=ctx.actor)
        return RedirectResponse(f"/integrations/instances/{inst.id}?installed=1", status_code=303)
    except ValidationError as exc:
        problems = invalid_parameters_from(list(exc.errors()))
    except Problem as exc:
        if exc.status not in (400, 409):
            raise
        problems = exc.invalid_parameters or [{"field": "name", "reason": exc.detail}]
    for p in problems:
        errors.setdefault(forms.error_field(str(p.get("field", "")), fields), str(p["reason"]))
    return _install_page(request, ctx, descriptor, values=values, errors=errors)


# --- an instance ----------------------------------------------------------------------


def _credential(
    session: Session, inst: IntegrationInstance, rights: Rights
) -> dict[str, Any] | None:
    try:
        cred, _ = integrations.get_credential(session, instance_id=str(inst.id), rights=rights)
    except Problem:
        return None
    return integrations.credential_to_dict(cred, inst)


def progress(session: Session, inst: IntegrationInstance) -> dict[str, Any]:
    """Where the instance's sync is: ``waiting`` (requested, no worker took it yet),
    ``running`` (with its counts so far), or the last run's summary (``done``); ``live``
    says whether the page should keep asking."""
    state = session.get(SyncState, inst.id)
    run = session.scalar(
        select(SyncRun)
        .where(SyncRun.instance_id == inst.id)
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    )
    waiting = state is not None and state.requested_at is not None
    current = sync.run_to_dict(run) if run is not None else None
    phase = "waiting" if waiting else ("running" if run and run.status == "running" else "done")
    return {"phase": phase, "live": phase != "done", "run": current}


def _counts(session: Session, inst: IntegrationInstance) -> dict[str, int]:
    resources = session.scalar(
        select(func.count()).select_from(Resource).where(Resource.instance_id == inst.id)
    )
    mappings = session.scalar(
        select(func.count())
        .select_from(ResourceMapping)
        .join(Resource, Resource.id == ResourceMapping.resource_id)
        .where(Resource.instance_id == inst.id)
    )
    return {"resources": int(resources or 0), "mappings": int(mappings or 0)}


def _instance_page(
    request: Request,
    ctx: Any,
    inst: IntegrationInstance,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    descriptor = registry.get_descriptor(inst.integration_name) or {}
    return render(
        request,
        "integrations/instance.html",
        status=status,
        actor=ctx.actor,
        section="integrations",
        instance=integrations.to_dict(inst),
        integration=descriptor,
        polled=inst.integration_name in sync.polled_integrations(),
        health=sync.instance_health(ctx.session, inst),
        credential=_credential(ctx.session, inst, ctx.actor.rights),
        auth_fields=forms.credential_fields(descriptor.get("authorization")),
        progress=progress(ctx.session, inst),
        runs=_runs(ctx.session, inst, ctx.actor.rights),
        counts=_counts(ctx.session, inst),
        errors=errors or {},
        params=dict(request.query_params),
    )


@router.get("/integrations/instances/{instance_id}")
def instance_page(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """An instance: its connection, authorize, Sync now, runs, uninstall."""
    inst = _instance(ctx, instance_id)
    return _instance_page(request, ctx, inst)


@router.get("/integrations/instances/{instance_id}/progress")
def progress_fragment(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """The sync progress fragment (htmx polls it while a sync is waiting or running); once
    the run is over it tells the page (``sync-done``) to refresh the run history."""
    inst = _instance(ctx, instance_id)
    now = progress(ctx.session, inst)
    return render(
        request,
        "integrations/_progress.html",
        actor=ctx.actor,
        instance=integrations.to_dict(inst),
        progress=now,
        headers=None if now["live"] else {"HX-Trigger": "sync-done"},
    )


def _runs(session: Session, inst: IntegrationInstance, rights: Rights) -> list[dict[str, Any]]:
    runs, _ = sync.list_runs(
        session, instance_id=str(inst.id), query=[("page[size]", str(RUNS_SHOWN))], rights=rights
    )
    return [sync.run_to_dict(r) for r in runs]


@router.get("/integrations/instances/{instance_id}/runs")
def runs_fragment(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """The run history fragment (refreshed when a sync the page watched is over)."""
    inst = _instance(ctx, instance_id)
    return render(
        request,
        "integrations/_runs.html",
        actor=ctx.actor,
        instance=integrations.to_dict(inst),
        health=sync.instance_health(ctx.session, inst),
        runs=_runs(ctx.session, inst, ctx.actor.rights),
    )


@router.post("/integrations/instances/{instance_id}/authorize")
def authorize(instance_id: str, request: Request, ctx: DeferredWriteCtxDep) -> Response:
    """Store the instance's credential from the authorize form (the upstream verifies it
    first); the page again with the refusal next to the field when it is refused."""
    inst = _instance(ctx, instance_id)
    descriptor = registry.get_descriptor(inst.integration_name) or {}
    authorization = descriptor.get("authorization") or {}
    fields = forms.credential_fields(authorization)
    body = forms.credential_body(authorization, fields, form_of(request))
    try:
        integrations.create_credential(
            ctx,
            instance_id=str(inst.id),
            body=body,
            actor=ctx.actor,
            box=get_box(request.app.state.settings),
        )
    except Problem as exc:
        if exc.status not in (400, 409):
            raise
        errors: dict[str, str] = {}
        for p in exc.invalid_parameters or [{"field": "form", "reason": exc.detail}]:
            errors.setdefault(
                forms.error_field(str(p.get("field", "")), fields), str(p.get("reason"))
            )
        errors.setdefault("form", exc.detail)
        if ctx.writing:  # refused after the write phase began: keep nothing of it
            ctx.session.rollback()
        else:
            ctx.release()
        inst = integrations.get_instance(
            ctx.session, instance_id=instance_id, rights=ctx.actor.rights
        )
        return _instance_page(request, ctx, inst, errors=errors, status=400)
    return RedirectResponse(f"/integrations/instances/{inst.id}?authorized=1", status_code=303)


@router.post("/integrations/instances/{instance_id}/verify")
def verify(instance_id: str, request: Request, ctx: DeferredWriteCtxDep) -> Response:
    """Ask the upstream again whether the stored credential works."""
    integrations.reverify_credential(
        ctx, instance_id=instance_id, actor=ctx.actor, settings=request.app.state.settings
    )
    return RedirectResponse(f"/integrations/instances/{instance_id}?verified=1", status_code=303)


@router.post("/integrations/instances/{instance_id}/credential/delete")
def delete_credential(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """Remove the stored credential (the instance becomes unauthorized), to replace it."""
    inst = _instance(ctx, instance_id)
    integrations.delete_credential(ctx.session, instance_id=str(inst.id), actor=ctx.actor)
    return RedirectResponse(f"/integrations/instances/{inst.id}?removed=1", status_code=303)


@router.post("/integrations/instances/{instance_id}/sync")
def sync_now(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """Schedule a sync now and wake the workers; the page then shows its progress."""
    inst = _instance(ctx, instance_id)
    sync.request_sync(ctx.session, instance_id=str(inst.id), ingest_from=None, actor=ctx.actor)
    ctx.after_commit(notify)
    return RedirectResponse(f"/integrations/instances/{inst.id}?synced=1#sync", status_code=303)


@router.get("/integrations/instances/{instance_id}/uninstall")
def confirm_uninstall(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """Ask before uninstalling, saying what goes with the instance."""
    inst = _instance(ctx, instance_id)
    return render(
        request,
        "integrations/uninstall.html",
        actor=ctx.actor,
        section="integrations",
        instance=integrations.to_dict(inst),
        counts=_counts(ctx.session, inst),
        credential=_credential(ctx.session, inst, ctx.actor.rights),
    )


@router.post("/integrations/instances/{instance_id}/uninstall")
def uninstall(instance_id: str, request: Request, ctx: CtxDep) -> Response:
    """Delete the instance with its credential, resources and their mappings."""
    inst = _instance(ctx, instance_id)
    name = inst.name
    integrations.delete_instance(ctx.session, instance_id=str(inst.id), actor=ctx.actor)
    return RedirectResponse(f"/integrations?uninstalled={name}", status_code=303)
