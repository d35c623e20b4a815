"""The permission matrix: every route of the app's route table (its OpenAPI description,
built from the routes) x every kind of principal gets exactly the status its declared
permission (``service_catalog.auth.permissions``) implies; a route without a declared
permission fails. One server per database, principals made once; the requests of a route
that changes or deletes its target get a fresh target each."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer, PgProvider
from scorecard_support import criterion, scorecard_body
from service_catalog.auth.access import (
    INTEGRATION_ADMIN,
    INTEGRATION_VIEWER,
    ORGANIZATION_ADMIN,
    ROLE_NAMES,
    SERVICE_ADMIN,
    SERVICE_CREATOR,
    SERVICE_VIEWER,
)
from service_catalog.auth.models import User
from service_catalog.auth.permissions import PERMISSIONS, Permission
from service_catalog.auth.service import ensure_assignment, issue_token
from service_catalog.core.db import Database
from service_catalog.settings import Settings

CUSTOM = "custom_resource"
STAR_ROLES = [r for r in ROLE_NAMES if r != ORGANIZATION_ADMIN]
INVALID = ("wrong token", "revoked token", "expired token", "deactivated user")


@dataclass
class Who:
    """A principal of the matrix: its roles on ``*``, and on the target service
    (``this``) or another one (``other``)."""

    name: str
    star: tuple[str, ...] = ()
    this: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    token: str = ""
    user_id: uuid.UUID | None = None

    @property
    def org(self) -> bool:
        return ORGANIZATION_ADMIN in self.star

    def holds(self, role: str) -> bool:
        return self.org or role in self.star

    def reads_service(self) -> bool:
        return any(self.holds(r) or r in self.this for r in (SERVICE_VIEWER, SERVICE_ADMIN))

    def changes_service(self) -> bool:
        return self.holds(SERVICE_ADMIN) or SERVICE_ADMIN in self.this


PRINCIPALS = [
    Who("Organization Admin", star=(ORGANIZATION_ADMIN,)),
    *[Who(f"{role} on *", star=(role,)) for role in STAR_ROLES],
    Who("Service Admin of this service", this=(SERVICE_ADMIN,)),
    Who("Service Viewer of this service", this=(SERVICE_VIEWER,)),
    Who("Service Admin of another service", other=(SERVICE_ADMIN,)),
    Who("Service Viewer of another service", other=(SERVICE_VIEWER,)),
    Who("no role"),
]


def expected(perm: Permission, who: Who) -> str:
    """``ok``, ``403`` or ``404``: what ``who`` gets on a route declared ``perm``."""
    if perm.kind in ("any", "listed", "public"):
        return "ok"
    if perm.kind == "roles":
        return "ok" if any(who.holds(r) for r in perm.roles) else "403"
    if perm.kind == "self":  # the target is always another user
        return "ok" if who.org else "403"
    if perm.kind == "service_read":
        return "ok" if who.reads_service() else "404"
    if perm.kind == "service_change":
        if who.changes_service():
            return "ok"
        return "403" if who.reads_service() else "404"
    if perm.kind == "resource_read":
        readers = (SERVICE_CREATOR, INTEGRATION_ADMIN, INTEGRATION_VIEWER)
        return "ok" if any(who.holds(r) for r in readers) or who.reads_service() else "404"
    raise AssertionError(perm.kind)


@dataclass
class Env:
    """The catalog the matrix runs against: an admin client and the targets."""

    server: LiveServer
    admin: httpx.Client
    principals: list[Who]
    anon: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)
    n: int = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def post(self, path: str, body: Any, status: int = 201) -> dict[str, Any]:
        resp = self.admin.post(path, json=body)
        assert resp.status_code == status, (path, resp.text)
        out: dict[str, Any] = resp.json()
        return out

    def grant(self, who: Who, role: str, service_id: str) -> None:
        assert who.user_id is not None
        self.post(
            f"/v3/users/{who.user_id}/assigned-roles",
            {"role_name": role, "entity_id": service_id},
        )

    def service(self, *, one_service_roles: bool = True) -> str:
        """A new catalog service; the principals holding roles on "this service" get them on
        it too (so each request of a destructive route has its own target)."""
        sid = str(
            self.post(
                "/v1/catalog-services", {"name": (n := self.fresh("svc")), "display_name": n}
            )["id"]
        )
        if one_service_roles:
            for who in self.principals:
                for role in who.this:
                    self.grant(who, role, sid)
        return sid

    def resource(self) -> str:
        rows = self.admin.put(
            f"/v1/integration-instances/{self.ids['instance']}/resources",
            json={"data": [{"name": "r", "type": CUSTOM, "config": {"id": self.fresh("r")}}]},
        )
        assert rows.status_code == 200, rows.text
        return str(rows.json()["data"][0]["id"])

    def mapping(self, service_id: str, resource: str | None = None) -> str:
        body = {"service": service_id, "resource": resource or self.resource()}
        return str(self.post("/v1/resource-mappings", body)["id"])

    def scorecard(self) -> str:
        return str(self.post("/v1/scorecards", _card(self.fresh("card")))["id"])

    def document(self, service_id: str) -> str:
        body = {"title": self.fresh("doc"), "content": "# Runbook"}
        return str(self.post(f"/v1/catalog-services/{service_id}/documents", body)["id"])

    def instance(self) -> str:
        body = {"integration_name": "custom", "name": self.fresh("inst"), "display_name": "I"}
        return str(self.post("/v1/integration-instances", {**body, "config": {}})["id"])


Req = tuple[str, str, Any]  # method, path, json body (None: none)
Make = Callable[[Env, Who], Req]


def _same(method: str, path: str, body: Any = None) -> Make:
    """A request on the fixed targets (``{name}`` filled from ``env.ids``)."""
    return lambda env, who: (method, path.format(**env.ids), body)


def _oidc(login: str) -> dict[str, Any]:
    return {
        "type": "oidc",
        "login_path": login,
        "config": {
            "issuer_url": "https://idp.example.com/x",
            "client_id": "c",
            "client_secret": "s",
        },
    }


def _card(name: str) -> dict[str, Any]:
    return scorecard_body(name, [criterion("has_service_docs", "Docs", min_docs=1)])


INST = "/v1/integration-instances/{instance}"
DOCS = "/v1/catalog-services/{A}/documents"
CASES: dict[str, Make] = {
    "list-catalog-services": _same("GET", "/v1/catalog-services"),
    "list-catalog-service-facets": _same("GET", "/v1/catalog-services/facets?field=labels.team"),
    "create-catalog-service": lambda env, who: (
        "POST",
        "/v1/catalog-services",
        {"name": (n := env.fresh("new")), "display_name": n},
    ),
    "fetch-catalog-service": _same("GET", "/v1/catalog-services/{A}"),
    "update-catalog-service": _same("PATCH", "/v1/catalog-services/{A}", {"description": "d"}),
    "delete-catalog-service": lambda env, who: (
        "DELETE",
        f"/v1/catalog-services/{env.service()}",
        None,
    ),
    "list-catalog-service-resources": _same("GET", "/v1/catalog-services/{A}/resources"),
    "list-catalog-service-integration-events": _same(
        "GET", "/v1/catalog-services/{A}/integration-events"
    ),
    "list-catalog-service-documents": _same("GET", DOCS),
    "fetch-catalog-service-document": _same("GET", DOCS + "/{D}"),
    "create-catalog-service-document": lambda env, who: (
        "POST",
        DOCS.format(**env.ids),
        {"title": env.fresh("doc"), "content": "Some *markdown*"},
    ),
    "update-catalog-service-document": _same("PATCH", DOCS + "/{D}", {"content": "Changed"}),
    "delete-catalog-service-document": lambda env, who: (
        "DELETE",
        f"/v1/catalog-services/{(sid := env.service())}/documents/{env.document(sid)}",
        None,
    ),
    "list-criteria-templates": _same("GET", "/v1/criteria-templates"),
    "list-scorecard-templates": _same("GET", "/v1/scorecard-templates"),
    "list-scorecards": _same("GET", "/v1/scorecards"),
    "fetch-scorecard": _same("GET", "/v1/scorecards/{SC}"),
    "list-scorecard-criteria": _same("GET", "/v1/scorecards/{SC}/criteria"),
    "list-scorecard-services": _same("GET", "/v1/scorecards/{SC}/catalog-services"),
    "list-scorecard-criteria-services": _same(
        "GET", "/v1/scorecards/{SC}/criteria/{CR}/catalog-services"
    ),
    "create-scorecard": lambda env, who: ("POST", "/v1/scorecards", _card(env.fresh("card"))),
    # a fresh target each: a PUT replaces the criteria the result routes name
    "update-scorecard": lambda env, who: (
        "PUT",
        f"/v1/scorecards/{env.scorecard()}",
        _card(env.fresh("card")),
    ),
    "delete-scorecard": lambda env, who: ("DELETE", f"/v1/scorecards/{env.scorecard()}", None),
    "list-catalog-service-scorecards": _same("GET", "/v1/catalog-services/{A}/scorecards"),
    "fetch-catalog-service-scorecard": _same("GET", "/v1/catalog-services/{A}/scorecards/{SC}"),
    "list-resources": _same("GET", "/v1/resources"),
    "list-resource-facets": _same("GET", "/v1/resources/facets?field=type"),
    "fetch-resource": _same("GET", "/v1/resources/{R}"),
    "list-resource-children": _same("GET", "/v1/resources/{R}/children/endpoints"),
    "list-traceable-service-endpoints": _same("GET", "/v1/resources/{R}/endpoints"),
    "list-catalog-resource-services": _same("GET", "/v1/resources/{R}/catalog-services"),
    "initialize-resource": lambda env, who: (
        "POST",
        INST.format(**env.ids) + "/resources",
        {"type": CUSTOM, "config": {"id": env.fresh("init")}},
    ),
    "upsert-resources": lambda env, who: (
        "PUT",
        INST.format(**env.ids) + "/resources",
        {"data": [{"name": "p", "type": CUSTOM, "config": {"id": env.fresh("push")}}]},
    ),
    "update-resource": _same("PATCH", INST + "/resources/{R2}", {"archived": False}),
    "import-catalog-entity": _same(
        "POST",
        "/v2/catalog/entities",
        {"name": "x", "type": "traceable", "metadata": {"service_id": "svc-1"}},
    ),
    "list-resource-mappings": _same("GET", "/v1/resource-mappings"),
    "fetch-resource-mapping": _same("GET", "/v1/resource-mappings/{M}"),
    "create-resource-mapping": lambda env, who: (
        "POST",
        "/v1/resource-mappings",
        {"service": env.ids["A"], "resource": env.resource()},
    ),
    "map-catalog-entity": lambda env, who: (
        "POST",
        "/v2/catalog/entity-mappings",
        {"catalog_entity": env.ids["A"], "traceable_service_id": env.fresh("t")},
    ),
    "delete-resource-mapping": lambda env, who: (
        "DELETE",
        f"/v1/resource-mappings/{env.mapping(env.service())}",
        None,
    ),
    "list-catalog-integrations": _same("GET", "/v1/integrations"),
    "list-integration-instances": _same("GET", "/v1/integration-instances"),
    "fetch-integration-instance": _same("GET", INST),
    "get-integration-instance-auth-credential": _same("GET", INST + "/auth-credential"),
    "get-integration-instance-auth-config": _same("GET", INST + "/auth-config"),
    "get-resource-ingestion": _same("GET", INST + "/resource-ingestion"),
    "list-sync-runs": _same("GET", INST + "/sync-runs"),
    "create-integration-instance": lambda env, who: (
        "POST",
        "/v1/integration-instances",
        {
            "integration_name": "custom",
            "name": env.fresh("made"),
            "display_name": "M",
            "config": {},
        },
    ),
    "update-integration-instance": _same("PATCH", INST, {"display_name": "Renamed"}),
    "delete-integration-instance": lambda env, who: (
        "DELETE",
        f"/v1/integration-instances/{env.instance()}",
        None,
    ),
    "create-integration-instance-auth-credential": _same(
        "POST",
        INST + "/auth-credential",
        {"type": "multi_key_auth", "config": {"headers": [{"name": "a", "key": "k"}]}},
    ),
    "verify-integration-instance-auth-credential": _same("POST", INST + "/auth-credential/verify"),
    "delete-integration-instance-auth-credential": _same("DELETE", INST + "/auth-credential"),
    "upsert-integration-instance-auth-config": _same(
        "PUT",
        INST + "/auth-config",
        {
            "type": "oauth",
            "client_id": "cid",
            "client_secret": "sec",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
        },
    ),
    "delete-integration-instance-auth-config": _same("DELETE", INST + "/auth-config"),
    "schedule-resource-ingestion": _same("PUT", INST + "/resource-ingestion", {}),
    "create-integration-events": lambda env, who: (
        "POST",
        INST.format(**env.ids) + "/integration-events",
        {"data": [{"type": "t", "deduplication_id": env.fresh("e"), "detail": "d"}]},
    ),
    "list-integration-events": _same("GET", "/v1/integration-events"),
    "list-audit-log": _same("GET", "/v1/audit-log"),
    "get-users-me": _same("GET", "/v3/users/me"),
    "get-organizations-me": _same("GET", "/v3/organizations/me"),
    "get-predefined-roles": _same("GET", "/v3/roles"),
    "get-user": _same("GET", "/v3/users/{U}"),
    "list-user-teams": _same("GET", "/v3/users/{U}/teams"),
    "list-user-roles": _same("GET", "/v3/users/{U}/assigned-roles"),
    "get-user-role": _same("GET", "/v3/users/{U}/assigned-roles/{UR}"),
    "list-users-personal-access-tokens": _same("GET", "/v3/users/{U}/access-tokens"),
    "create-personal-access-token": lambda env, who: (
        "POST",
        f"/v3/users/{env.ids['U']}/access-tokens",
        {"name": env.fresh("pat"), "ttl_seconds": 86400},
    ),
    "get-personal-access-token-details": _same("GET", "/v3/users/{U}/access-tokens/{UT}"),
    "update-personal-access-token-details": _same(
        "PATCH", "/v3/users/{U}/access-tokens/{UT}", {"name": "renamed"}
    ),
    "delete-personal-access-token": _same("DELETE", "/v3/users/{U}/access-tokens/{UT}"),
    "revoke-personal-access-token": _same("PATCH", "/v3/users/{U}/access-tokens/{UT}/revoke"),
    "list-users": _same("GET", "/v3/users"),
    "update-user": _same("PATCH", "/v3/users/{U}", {"preferred_name": "U"}),
    "delete-user": _same("DELETE", "/v3/users/{U}"),
    "invite-user": lambda env, who: ("POST", "/v3/invites", {"email": env.fresh("i") + "@x.io"}),
    "list-teams": _same("GET", "/v3/teams"),
    "create-team": lambda env, who: ("POST", "/v3/teams", {"name": env.fresh("team")}),
    "get-team": _same("GET", "/v3/teams/{T}"),
    "update-team": _same("PATCH", "/v3/teams/{T}", {"description": "d"}),
    "delete-team": _same("DELETE", "/v3/teams/{T}"),
    "list-team-users": _same("GET", "/v3/teams/{T}/users"),
    "add-user-to-team": _same("POST", "/v3/teams/{T}/users", {"id": "{U}"}),
    "remove-user-from-team": _same("DELETE", "/v3/teams/{T}/users/{U}"),
    "get-teams-teamId-system-accounts": _same("GET", "/v3/teams/{T}/system-accounts"),
    "post-teams-teamId-system-accounts": _same(
        "POST", "/v3/teams/{T}/system-accounts", {"id": "{SA}"}
    ),
    "delete-teams-teamId-system-accounts-accountId": _same(
        "DELETE", "/v3/teams/{T}/system-accounts/{SA}"
    ),
    "get-system-accounts": _same("GET", "/v3/system-accounts"),
    "post-system-accounts": lambda env, who: (
        "POST",
        "/v3/system-accounts",
        {"name": env.fresh("sa"), "description": "d"},
    ),
    "get-system-accounts-id": _same("GET", "/v3/system-accounts/{SA}"),
    "patch-system-accounts-id": _same("PATCH", "/v3/system-accounts/{SA}", {"description": "e"}),
    "delete-system-accounts-id": _same("DELETE", "/v3/system-accounts/{SA}"),
    "get-system-accounts-accountId-teams": _same("GET", "/v3/system-accounts/{SA}/teams"),
    "get-system-account-id-access-tokens": _same("GET", "/v3/system-accounts/{SA}/access-tokens"),
    "post-system-accounts-id-access-tokens": lambda env, who: (
        "POST",
        f"/v3/system-accounts/{env.ids['SA']}/access-tokens",
        {"name": env.fresh("spat"), "expires_at": "2099-01-01T00:00:00Z"},
    ),
    "get-system-accounts-id-access-tokens-id": _same(
        "GET", "/v3/system-accounts/{SA}/access-tokens/{ST}"
    ),
    "patch-system-accounts-id-access-tokens-id": _same(
        "PATCH", "/v3/system-accounts/{SA}/access-tokens/{ST}", {"name": "n"}
    ),
    "delete-system-accounts-id-access-tokens-id": _same(
        "DELETE", "/v3/system-accounts/{SA}/access-tokens/{ST}"
    ),
    "users-assign-role": _same(
        "POST", "/v3/users/{U}/assigned-roles", {"role_name": "Service Viewer", "entity_id": "{B}"}
    ),
    "users-remove-role": _same("DELETE", "/v3/users/{U}/assigned-roles/{UR}"),
    "list-team-roles": _same("GET", "/v3/teams/{T}/assigned-roles"),
    "teams-assign-role": _same(
        "POST", "/v3/teams/{T}/assigned-roles", {"role_name": "Service Viewer", "entity_id": "{B}"}
    ),
    "get-team-role": _same("GET", "/v3/teams/{T}/assigned-roles/{TR}"),
    "teams-remove-role": _same("DELETE", "/v3/teams/{T}/assigned-roles/{TR}"),
    "get-system-accounts-accountId-assigned-roles": _same(
        "GET", "/v3/system-accounts/{SA}/assigned-roles"
    ),
    "post-system-accounts-accountId-assigned-roles": _same(
        "POST",
        "/v3/system-accounts/{SA}/assigned-roles",
        {"role_name": "Service Viewer", "entity_id": "{B}"},
    ),
    "get-system-account-role": _same("GET", "/v3/system-accounts/{SA}/assigned-roles/{SR}"),
    "delete-system-accounts-accountId-assigned-roles-roleId": _same(
        "DELETE", "/v3/system-accounts/{SA}/assigned-roles/{SR}"
    ),
    "get-identity-providers": _same("GET", "/v3/identity-providers"),
    "create-identity-provider": lambda env, who: (
        "POST",
        "/v3/identity-providers",
        _oidc(env.fresh("idp")),
    ),
    "get-identity-provider": _same("GET", "/v3/identity-providers/{IDP}"),
    "update-identity-provider": _same("PATCH", "/v3/identity-providers/{IDP}", {"enabled": False}),
    "delete-identity-provider": _same("DELETE", "/v3/identity-providers/{IDP}"),
    "list-idp-team-group-mappings": _same(
        "GET", "/v3/identity-providers/{IDP}/team-group-mappings"
    ),
    "create-idp-team-group-mapping": lambda env, who: (
        "POST",
        f"/v3/identity-providers/{env.ids['IDP']}/team-group-mappings",
        {"team_id": env.ids["T"], "group": env.fresh("g")},
    ),
    "get-idp-team-group-mapping": _same(
        "GET", "/v3/identity-providers/{IDP}/team-group-mappings/{GM}"
    ),
    "delete-idp-team-group-mapping": _same(
        "DELETE", "/v3/identity-providers/{IDP}/team-group-mappings/{GM}"
    ),
    # the older single-provider paths serve the enabled provider (none may be enabled)
    "get-idp-configuration": _same("GET", "/v3/identity-provider"),
    "update-idp-configuration": _same("PATCH", "/v3/identity-provider", {}),
    "get-idp-team-mappings": _same("GET", "/v3/identity-provider/team-mappings"),
    "update-idp-team-mappings": _same(
        "PUT", "/v3/identity-provider/team-mappings", {"mappings": []}
    ),
    "get-team-group-mappings": _same("GET", "/v3/identity-provider/team-group-mappings"),
    "patch-team-group-mappings": _same(
        "PATCH", "/v3/identity-provider/team-group-mappings", {"data": []}
    ),
    # catalog as code (issue 16): the route admits any principal; a dry run of a file with
    # no documents asks for no right (a change's own checks: tests/test_catalog_as_code.py)
    "apply-catalog": _same(
        "POST",
        "/v1/catalog-apply",
        {"source": "matrix", "dry_run": True, "files": [{"path": "none.yaml", "content": ""}]},
    ),
}
# --- dependencies, APIs and API mappings (issue 16) -----------------------------------
# A dependency's target must be visible to whoever passes on its source: fresh targets come
# from ``env.service()``, on which the principals of "this service" get their roles too.
#: (YAML: a body string in braces would be read as a ``{name}`` to fill)
SPEC = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\n"


def _api(env: Env) -> str:
    return str(env.post("/v3/apis", {"name": env.fresh("api")})["id"])


def _dependency(env: Env) -> str:
    return str(
        env.post(f"/v1/catalog-services/{env.ids['A']}/dependencies", {"target": env.service()})[
            "id"
        ]
    )


def _issue16_targets(env: Env) -> None:
    """A dependency ``DEP`` of A, an API with a specification ``SPEC``, its mapping ``AM``
    to A and A's consumption ``CM`` of it."""
    env.ids["DEP"] = _dependency(env)
    api = env.post("/v3/apis", {"name": "target api", "spec_content": SPEC})
    env.ids["API"], env.ids["SPEC"] = str(api["id"]), str(api["api_spec_ids"][0])
    body = {"api_id": env.ids["API"]}
    env.ids["AM"] = str(env.post(f"/v1/catalog-services/{env.ids['A']}/api-mappings", body)["id"])
    env.ids["CM"] = str(env.post(CONSUMED.format(**env.ids), body)["id"])


DEPS = "/v1/catalog-services/{A}/dependencies"
CONSUMED = "/v1/catalog-services/{A}/consumed-api-mappings"
APIS = "/v3/apis/{API}"
CASES.update(
    {
        "list-catalog-service-dependencies": _same("GET", DEPS + "?direction=upstream&depth=3"),
        "get-catalog-service-dependency": _same("GET", DEPS + "/{DEP}"),
        "create-catalog-service-dependency": lambda env, who: (
            "POST",
            DEPS.format(**env.ids),
            {"target": env.service(), "label": "calls"},
        ),
        "delete-catalog-service-dependency": lambda env, who: (
            "DELETE",
            DEPS.format(**env.ids) + f"/{_dependency(env)}",
            None,
        ),
        "confirm-catalog-service-dependency": _same("POST", DEPS + "/{DEP}/confirm"),
        "propose-dependencies": _same("POST", "/v1/dependency-proposals"),
        "list-apis": _same("GET", "/v3/apis"),
        "fetch-api": _same("GET", APIS),
        "list-api-specs": _same("GET", APIS + "/specifications"),
        "fetch-api-spec": _same("GET", APIS + "/specifications/{SPEC}"),
        "create-api": lambda env, who: ("POST", "/v3/apis", {"name": env.fresh("api")}),
        "update-api": _same("PATCH", APIS, {"description": "d"}),
        "delete-api": lambda env, who: ("DELETE", f"/v3/apis/{_api(env)}", None),
        "create-api-spec": _same("POST", APIS + "/specifications", {"content": SPEC}),
        "delete-api-spec": lambda env, who: (
            "DELETE",
            APIS.format(**env.ids)
            + "/specifications/"
            + str(env.post(APIS.format(**env.ids) + "/specifications", {"content": SPEC})["id"]),
            None,
        ),
        "list-catalog-service-api-mappings": _same("GET", "/v1/catalog-services/{A}/api-mappings"),
        "list-catalog-service-consumed-apis": _same(
            "GET", "/v1/catalog-services/{A}/consumed-api-mappings"
        ),
        "get-catalog-service-api-mapping": _same(
            "GET", "/v1/catalog-services/{A}/api-mappings/{AM}"
        ),
        "create-catalog-service-api-mapping": lambda env, who: (
            "POST",
            "/v1/catalog-services/{A}/api-mappings".format(**env.ids),
            {"api_id": _api(env)},
        ),
        "delete-catalog-service-api-mapping": lambda env, who: (
            "DELETE",
            "/v1/catalog-services/{A}/api-mappings/".format(**env.ids)
            + str(
                env.post(
                    "/v1/catalog-services/{A}/api-mappings".format(**env.ids), {"api_id": _api(env)}
                )["id"]
            ),
            None,
        ),
        "list-service-mappings-for-api": _same("GET", "/v1/apis/{API}/service-mappings"),
        "get-catalog-service-consumed-api": _same("GET", CONSUMED + "/{CM}"),
        "create-catalog-service-consumed-api": lambda env, who: (
            "POST",
            CONSUMED.format(**env.ids),
            {"api_id": _api(env)},
        ),
        "delete-catalog-service-consumed-api": lambda env, who: (
            "DELETE",
            CONSUMED.format(**env.ids)
            + "/"
            + str(env.post(CONSUMED.format(**env.ids), {"api_id": _api(env)})["id"]),
            None,
        ),
    }
)

#: Routes whose success a principal that passes may still not reach with these targets:
#: the check is then only that it passed the rights check (not 401/403, and for 404 the
#: body says why).
PASSES_ONLY = {
    "list-resource-children": "lists no [endpoints] children",
    "list-traceable-service-endpoints": "lists no [endpoints] children",
    **{
        op: "No identity provider is enabled"
        for op in (
            "get-idp-configuration",
            "update-idp-configuration",
            "get-idp-team-mappings",
            "update-idp-team-mappings",
            "get-team-group-mappings",
            "patch-team-group-mappings",
        )
    },
}
#: Routes that delete what they name run last, what lies deeper first (a token before its
#: account), so that every other route still finds its targets.
DELETING = ("delete-", "users-remove", "teams-remove", "remove-user")


def _fill(body: Any, ids: dict[str, str]) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, ids) for k, v in body.items()}
    if isinstance(body, str) and body.startswith("{") and body.endswith("}"):
        return ids[body[1:-1]]
    return body


def _user(db: Database, email: str, roles: list[tuple[str, str]], **token: Any) -> Who:
    with db.session() as s:
        user = User(email=email)
        s.add(user)
        s.flush()
        for role, entity in roles:
            ensure_assignment(
                s, principal_type="user", principal_id=user.id, role=role, entity_id=entity
            )
        revoke = token.pop("revoke", False)
        row, text = issue_token(s, owner_type="user", owner_id=user.id, name="t", **token)
        if revoke:
            row.revoked_at = dt.datetime.now(dt.UTC)
        return Who(email, token=text, user_id=user.id)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[Env]:
    """One server per database, with the targets and every principal made once."""
    tmp = tmp_path_factory.mktemp("matrix")
    provider: PgProvider | None = None
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp / "catalog.db")
        url = f"sqlite:///{tmp / 'catalog.db'}"
    else:
        provider = request.getfixturevalue("pg")
        url = provider.new_database()
    db = Database(url)
    settings = Settings(
        database_url=url,
        run_worker=False,
        key_file=str(tmp / "k.key"),
        secret_key=None,
        auth_failure_limit=0,  # the invalid tokens fail on every route, on purpose
    )
    server = LiveServer(settings, db).start()
    principals = [Who(p.name, p.star, p.this, p.other) for p in PRINCIPALS]
    with server.client() as admin, server.client("") as anon:
        e = Env(server, admin, principals, anon)
        e.ids["A"] = e.service(one_service_roles=False)
        e.ids["B"] = e.service(one_service_roles=False)
        for i, who in enumerate(principals):
            grants = [(r, "*") for r in who.star]
            grants += [(r, e.ids["A"]) for r in who.this]
            grants += [(r, e.ids["B"]) for r in who.other]
            made = _user(db, f"p{i}@example.com", grants)
            who.token, who.user_id = made.token, made.user_id
        e.ids["instance"] = e.instance()
        traceable = {"integration_name": "traceable", "name": "tr", "display_name": "T"}
        e.post(
            "/v1/integration-instances", {**traceable, "config": {"base_url": "http://127.0.0.1:9"}}
        )
        e.ids["R"] = e.resource()
        e.ids["R2"] = e.resource()
        e.ids["M"] = str(
            e.post("/v1/resource-mappings", {"service": e.ids["A"], "resource": e.ids["R"]})["id"]
        )
        e.ids["D"] = e.document(e.ids["A"])
        e.ids["SC"] = e.scorecard()
        e.ids["CR"] = str(e.admin.get(f"/v1/scorecards/{e.ids['SC']}").json()["criteria"][0]["id"])
        e.ids["U"] = str(e.post("/v3/invites", {"email": "target@example.com"})["id"])
        e.ids["UR"] = str(
            e.post(
                f"/v3/users/{e.ids['U']}/assigned-roles",
                {"role_name": SERVICE_VIEWER, "entity_id": e.ids["A"]},
            )["id"]
        )
        pat = e.post(f"/v3/users/{e.ids['U']}/access-tokens", {"name": "p", "ttl_seconds": 86400})
        e.ids["UT"] = str(pat["id"])
        e.ids["T"] = str(e.post("/v3/teams", {"name": "target team"})["id"])
        e.ids["TR"] = str(
            e.post(
                f"/v3/teams/{e.ids['T']}/assigned-roles",
                {"role_name": SERVICE_VIEWER, "entity_id": e.ids["A"]},
            )["id"]
        )
        e.ids["SA"] = str(
            e.post("/v3/system-accounts", {"name": "target", "description": "d"})["id"]
        )
        e.ids["ST"] = str(
            e.post(
                f"/v3/system-accounts/{e.ids['SA']}/access-tokens",
                {"name": "t", "expires_at": "2099-01-01T00:00:00Z"},
            )["id"]
        )
        e.ids["SR"] = str(
            e.post(
                f"/v3/system-accounts/{e.ids['SA']}/assigned-roles",
                {"role_name": SERVICE_VIEWER, "entity_id": e.ids["A"]},
            )["id"]
        )
        e.ids["IDP"] = str(e.post("/v3/identity-providers", _oidc("target"))["id"])
        e.ids["GM"] = str(
            e.post(
                f"/v3/identity-providers/{e.ids['IDP']}/team-group-mappings",
                {"team_id": e.ids["T"], "group": "G"},
            )["id"]
        )
        _issue16_targets(e)
        yield e
    server.stop()
    db.dispose()
    if provider is not None:
        provider.drop(url)


def _invalid_tokens(env: Env) -> dict[str, str]:
    db = env.server.db
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    revoked = _user(db, "revoked@example.com", [(ORGANIZATION_ADMIN, "*")], revoke=True)
    expired = _user(db, "expired@example.com", [(ORGANIZATION_ADMIN, "*")], expires_at=past)
    gone = _user(db, "gone@example.com", [(ORGANIZATION_ADMIN, "*")])
    resp = env.admin.patch(f"/v3/users/{gone.user_id}", json={"active": False})
    assert resp.status_code == 200, resp.text
    return {
        "wrong token": "kpat_" + "x" * 43,
        "revoked token": revoked.token,
        "expired token": expired.token,
        "deactivated user": gone.token,
    }


def _routes(env: Env) -> list[tuple[str, str, str]]:
    spec = env.server.app.openapi()
    return [
        (op["operationId"], method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_every_route_declares_its_permission(env: Env) -> None:
    routes = _routes(env)
    missing = [f"{m} {p} ({op})" for op, m, p in routes if op not in PERMISSIONS]
    assert not missing, f"routes without a declared permission: {missing}"
    served = {op for op, _, _ in routes}
    assert set(PERMISSIONS) - served == set(), "declared permissions of no route"
    untested = [op for op, _, _ in routes if PERMISSIONS[op].kind != "public" and op not in CASES]
    assert not untested, f"routes the matrix does not exercise: {untested}"


def _check(env: Env, op: str, who: Who, token: str, want: str) -> str | None:
    method, path, body = CASES[op](env, who)
    body = _fill(body, env.ids)
    resp = env.anon.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    got = resp.status_code
    detail = ""
    if resp.headers.get("content-type", "").startswith("application/problem+json"):
        detail = resp.json().get("detail", "")
    if want in ("401", "403", "404"):
        ok = str(got) == want
        if ok and want == "403":
            ok = "requires" in detail or "must have" in detail
    elif PERMISSIONS[op].kind in ("roles", "self", "any"):
        ok = got not in (401, 403) and got < 500  # denial would be a 403
    elif op in PASSES_ONLY:
        ok = got < 400 or (got in (400, 404) and PASSES_ONLY[op] in detail)
    else:
        ok = 200 <= got < 300
    if ok:
        return None
    return f"{op} {method} {path} as {who.name}: want {want}, got {got} {resp.text[:200]}"


def test_permission_matrix(env: Env) -> None:
    invalid = _invalid_tokens(env)
    routes = [(op, p) for op, _, p in _routes(env) if PERMISSIONS[op].kind != "public"]
    last = sorted((r for r in routes if r[0].startswith(DELETING)), key=lambda r: -r[1].count("/"))
    ops = [op for op, _ in routes if not op.startswith(DELETING)] + [op for op, _ in last]
    failures: list[str] = []
    for op in ops:
        perm = PERMISSIONS[op]
        wants = [(who, expected(perm, who)) for who in env.principals]
        # the refused first (they must change nothing), then those who pass
        wants.sort(key=lambda w: w[1] == "ok")
        for name, token in invalid.items():
            failures.append(_check(env, op, Who(name), token, "401") or "")
        for who, want in wants:
            failures.append(_check(env, op, who, who.token, want) or "")
    failures = [f for f in failures if f]
    assert not failures, f"{len(failures)} mismatches:\n" + "\n".join(failures)
