"""What every route requires, declared by its operation id (issue 12, enforcement).

The checks themselves live in the domain services (:mod:`service_catalog.auth.guard`);
this table declares, for each operation the app serves, which rule those checks apply, so
that the README's route-by-role table and the permission-matrix test
(``tests/test_permission_matrix.py``, which reads the app's route table and fails for a
route missing here) say the same thing. A new route must be declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service_catalog.auth.access import (
    INTEGRATION_ADMIN,
    ORGANIZATION_ADMIN,
    SCORECARD_ADMIN,
    SCORECARD_VIEWER,
    SERVICE_CREATOR,
)
from service_catalog.auth.guard import INTEGRATION_READERS

Kind = Literal[
    "public",  # no token: sign-in, operations
    "any",  # any authenticated principal
    "listed",  # any principal; the list holds only what it may read
    "roles",  # one of ``roles`` on every service (``*``), else 403
    "service_read",  # Service Viewer or Admin of the service the path names, else 404
    "service_change",  # Service Admin of it; 403 for one that only reads it, else 404
    "resource_read",  # reads the resource (see README), else 404
    "self",  # that user itself, or an Organization Admin; else 403
]


@dataclass(frozen=True)
class Permission:
    """A route's rule: its ``kind`` and, for ``roles``, the roles on ``*`` that pass."""

    kind: Kind
    roles: tuple[str, ...] = ()
    #: for ``roles``: the rows listed are only those of services the principal reads
    listed: bool = False

    def describe(self) -> str:
        """The rule in the README's words."""
        if self.kind == "roles":
            names = [*dict.fromkeys([*self.roles, ORGANIZATION_ADMIN])]
            rows = "; only the services it reads are listed" if self.listed else ""
            return " or ".join(names) + f" (on `*`){rows}; else 403"
        return DESCRIPTIONS[self.kind]


DESCRIPTIONS: dict[str, str] = {
    "public": "no token (sign-in flow, operations)",
    "any": "any authenticated principal",
    "listed": "any authenticated principal; only what it may read is listed and counted",
    "service_read": "Service Viewer or Service Admin of the service (or on `*`); else 404",
    "service_change": "Service Admin of the service (or on `*`); "
    "403 for a Service Viewer of it; else 404",
    "resource_read": "Service Creator, Integration Admin or Viewer, or Service Viewer or "
    "Admin of a service the resource is mapped to; else 404",
    "self": "that user itself, or Organization Admin; else 403",
}

PUBLIC = Permission("public")
ANY = Permission("any")
LISTED = Permission("listed")
SERVICE_READ = Permission("service_read")
SERVICE_CHANGE = Permission("service_change")
RESOURCE_READ = Permission("resource_read")
SELF = Permission("self")
ORG_ADMIN = Permission("roles", (ORGANIZATION_ADMIN,))
CREATE_SERVICE = Permission("roles", (SERVICE_CREATOR,))
INTEGRATION_READ = Permission("roles", INTEGRATION_READERS)
INTEGRATION_CHANGE = Permission("roles", (INTEGRATION_ADMIN,))
SCORECARD_READ = Permission("roles", (SCORECARD_VIEWER, SCORECARD_ADMIN))
SCORECARD_CHANGE = Permission("roles", (SCORECARD_ADMIN,))
#: A scorecard's per-service results: Scorecard Viewer or Admin; only the rows of services
#: the principal reads are listed and counted.
SCORECARD_RESULTS = Permission("roles", (SCORECARD_VIEWER, SCORECARD_ADMIN), listed=True)
#: Any authenticated principal reaches the route; what it asks is checked inside, change by
#: change (catalog files: Service Creator or Organization Admin to create a service, Service
#: Admin of a service to change or prune it, Organization Admin for teams; else a 403 naming
#: the file and line, and nothing is applied).
CHECKED_PER_CHANGE = ANY

#: operation id -> its permission (every route the app serves).
PERMISSIONS: dict[str, Permission] = {
    # catalog services
    "list-catalog-services": LISTED,
    "list-catalog-service-facets": LISTED,
    "create-catalog-service": CREATE_SERVICE,
    "fetch-catalog-service": SERVICE_READ,
    "update-catalog-service": SERVICE_CHANGE,
    "delete-catalog-service": SERVICE_CHANGE,
    "list-catalog-service-resources": SERVICE_READ,
    "list-catalog-service-integration-events": SERVICE_READ,
    # resources and mappings
    "list-resources": LISTED,
    "list-resource-facets": LISTED,
    "fetch-resource": RESOURCE_READ,
    "list-resource-children": RESOURCE_READ,
    "list-traceable-service-endpoints": RESOURCE_READ,
    "list-catalog-resource-services": RESOURCE_READ,
    "initialize-resource": INTEGRATION_CHANGE,
    "upsert-resources": INTEGRATION_CHANGE,
    "update-resource": INTEGRATION_CHANGE,
    "import-catalog-entity": INTEGRATION_CHANGE,
    "list-resource-mappings": LISTED,
    "fetch-resource-mapping": SERVICE_READ,
    "create-resource-mapping": SERVICE_CHANGE,
    "map-catalog-entity": SERVICE_CHANGE,
    "delete-resource-mapping": SERVICE_CHANGE,
    # dependencies, APIs and API mappings (issue 16): the rules live in
    # dependencies/rights.py (a service's edges and API mappings follow the source service)
    # and apis/service.py (APIs: read by anyone, changed by Service Creators)
    "list-catalog-service-dependencies": SERVICE_READ,
    "get-catalog-service-dependency": SERVICE_READ,
    "create-catalog-service-dependency": SERVICE_CHANGE,
    "delete-catalog-service-dependency": SERVICE_CHANGE,
    "confirm-catalog-service-dependency": SERVICE_CHANGE,
    "propose-dependencies": ANY,  # proposes only from the services the caller administers
    "list-apis": ANY,
    "fetch-api": ANY,
    "list-api-specs": ANY,
    "fetch-api-spec": ANY,
    "create-api": CREATE_SERVICE,  # Service Creator or Organization Admin
    "update-api": CREATE_SERVICE,
    "delete-api": CREATE_SERVICE,
    "create-api-spec": CREATE_SERVICE,
    "delete-api-spec": CREATE_SERVICE,
    "list-catalog-service-api-mappings": SERVICE_READ,
    "list-catalog-service-consumed-apis": SERVICE_READ,
    "get-catalog-service-consumed-api": SERVICE_READ,
    "create-catalog-service-consumed-api": SERVICE_CHANGE,
    "delete-catalog-service-consumed-api": SERVICE_CHANGE,
    "get-catalog-service-api-mapping": SERVICE_READ,
    "create-catalog-service-api-mapping": SERVICE_CHANGE,
    "delete-catalog-service-api-mapping": SERVICE_CHANGE,
    "list-service-mappings-for-api": LISTED,
    # integrations, instances, credentials, sync
    "list-catalog-integrations": INTEGRATION_READ,
    "list-integration-instances": INTEGRATION_READ,
    "fetch-integration-instance": INTEGRATION_READ,
    "get-integration-instance-auth-credential": INTEGRATION_READ,
    "get-integration-instance-auth-config": INTEGRATION_READ,
    "get-resource-ingestion": INTEGRATION_READ,
    "list-sync-runs": INTEGRATION_READ,
    "create-integration-instance": INTEGRATION_CHANGE,
    "update-integration-instance": INTEGRATION_CHANGE,
    "delete-integration-instance": INTEGRATION_CHANGE,
    "create-integration-instance-auth-credential": INTEGRATION_CHANGE,
    "verify-integration-instance-auth-credential": INTEGRATION_CHANGE,
    "delete-integration-instance-auth-credential": INTEGRATION_CHANGE,
    "upsert-integration-instance-auth-config": INTEGRATION_CHANGE,
    "delete-integration-instance-auth-config": INTEGRATION_CHANGE,
    "schedule-resource-ingestion": INTEGRATION_CHANGE,
    "create-integration-events": INTEGRATION_CHANGE,
    # service documents (an extension)
    "list-catalog-service-documents": SERVICE_READ,
    "fetch-catalog-service-document": SERVICE_READ,
    "create-catalog-service-document": SERVICE_CHANGE,
    "update-catalog-service-document": SERVICE_CHANGE,
    "delete-catalog-service-document": SERVICE_CHANGE,
    # scorecards
    "list-criteria-templates": SCORECARD_READ,
    "list-scorecard-templates": SCORECARD_READ,
    "list-scorecards": SCORECARD_READ,
    "fetch-scorecard": SCORECARD_READ,
    "list-scorecard-criteria": SCORECARD_READ,
    "create-scorecard": SCORECARD_CHANGE,
    "update-scorecard": SCORECARD_CHANGE,
    "delete-scorecard": SCORECARD_CHANGE,
    "list-scorecard-services": SCORECARD_RESULTS,
    "list-scorecard-criteria-services": SCORECARD_RESULTS,
    "list-catalog-service-scorecards": SERVICE_READ,
    "fetch-catalog-service-scorecard": SERVICE_READ,
    # events and the audit trail
    "list-integration-events": LISTED,
    "list-audit-log": ORG_ADMIN,
    # identity (/v3)
    "get-users-me": ANY,
    "get-organizations-me": ANY,
    "get-predefined-roles": ANY,
    "get-user": SELF,
    "list-user-teams": SELF,
    "list-user-roles": SELF,
    "get-user-role": SELF,
    "list-users-personal-access-tokens": SELF,
    "create-personal-access-token": SELF,
    "get-personal-access-token-details": SELF,
    "update-personal-access-token-details": SELF,
    "delete-personal-access-token": SELF,
    "revoke-personal-access-token": SELF,
    **dict.fromkeys(
        [
            "list-users",
            "update-user",
            "delete-user",
            "invite-user",
            "list-teams",
            "create-team",
            "get-team",
            "update-team",
            "delete-team",
            "list-team-users",
            "add-user-to-team",
            "remove-user-from-team",
            "get-teams-teamId-system-accounts",
            "post-teams-teamId-system-accounts",
            "delete-teams-teamId-system-accounts-accountId",
            "get-system-accounts",
            "post-system-accounts",
            "get-system-accounts-id",
            "patch-system-accounts-id",
            "delete-system-accounts-id",
            "get-system-accounts-accountId-teams",
            "get-system-account-id-access-tokens",
            "post-system-accounts-id-access-tokens",
            "get-system-accounts-id-access-tokens-id",
            "patch-system-accounts-id-access-tokens-id",
            "delete-system-accounts-id-access-tokens-id",
            "users-assign-role",
            "users-remove-role",
            "list-team-roles",
            "teams-assign-role",
            "get-team-role",
            "teams-remove-role",
            "get-system-accounts-accountId-assigned-roles",
            "post-system-accounts-accountId-assigned-roles",
            "get-system-account-role",
            "delete-system-accounts-accountId-assigned-roles-roleId",
            "get-identity-providers",
            "create-identity-provider",
            "get-identity-provider",
            "update-identity-provider",
            "delete-identity-provider",
            "list-idp-team-group-mappings",
            "create-idp-team-group-mapping",
            "get-idp-team-group-mapping",
            "delete-idp-team-group-mapping",
            "get-idp-configuration",
            "update-idp-configuration",
            "get-idp-team-mappings",
            "update-idp-team-mappings",
            "get-team-group-mappings",
            "patch-team-group-mappings",
        ],
        ORG_ADMIN,
    ),
    # catalog as code (issue 16)
    "apply-catalog": CHECKED_PER_CHANGE,
    "sign-in": PUBLIC,
    "sign-in-callback": PUBLIC,
    "sign-out": PUBLIC,
    # operations
    "health_health_get": PUBLIC,
    "ready_ready_get": PUBLIC,
    "metrics_endpoint_metrics_get": PUBLIC,
}


__all__ = ["PERMISSIONS", "Permission"]
