"""HTTP routes of the identity API, as Konnect serves it: ``/v3`` users, teams, system
accounts, access tokens, roles and the organization.

Face-level (a router): it calls the access service functions, which hold the rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from service_catalog.access import roles, service, tokens
from service_catalog.access.schemas import (
    AccountTokenCreate,
    AccountTokenCreated,
    AccountTokenList,
    AccountTokenRead,
    AssignedRoleList,
    AssignedRoleRead,
    AssignRole,
    InviteUser,
    MemberAdd,
    OrganizationRead,
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenList,
    PersonalTokenRead,
    SystemAccountCreate,
    SystemAccountList,
    SystemAccountRead,
    SystemAccountUpdate,
    TeamCreate,
    TeamList,
    TeamRead,
    TeamUpdate,
    TokenRename,
    UserList,
    UserRead,
    UserUpdate,
)
from service_catalog.auth.deps import ActorDep, CtxDep
from service_catalog.auth.models import SYSTEM_ACCOUNT, TEAM, USER
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router

router = Router(prefix="/v3")
USERS, ROLES_TAG = ["Users"], ["Roles"]
users = router.section("/users", tags=USERS)
invites = router.section("/invites", tags=USERS)
teams = router.section("/teams", tags=["Teams"])
accounts = router.section("/system-accounts", tags=["System Accounts"])
pats = router.section("/users/{userId}/access-tokens", tags=["Personal Access Tokens"])
me = router.section(tags=["Me"])
roles_route = router.section(tags=ROLES_TAG)


# --- users -----------------------------------------------------------------------------


@users.op("GET ", "list-users", "List Users", UserList)
def list_users(ctx: CtxDep) -> JSONResponse:
    """A page of users (Organization Admin); filters ``id``, ``email``, ``full_name``,
    ``active``."""
    return page(*service.list_users(ctx.session, actor=ctx.actor, query=ctx.query))


@me.op("GET /users/me", "get-users-me", "Get My User Account", UserRead)
def get_me(ctx: CtxDep) -> JSONResponse:
    """The user of the request's token."""
    return json_response(service.user_dict(service.me(ctx.session, actor=ctx.actor)))


@users.op("GET /{userId}", "get-user", "Get a User", UserRead)
def get_user(userId: str, ctx: CtxDep) -> JSONResponse:
    """One user (itself, or any for an Organization Admin)."""
    user = service.get_user(ctx.session, actor=ctx.actor, user_id=userId)
    return json_response(service.user_dict(user))


@users.op("PATCH /{userId}", "update-user", "Update User", UserRead)
def update_user(userId: str, body: UserUpdate, ctx: CtxDep) -> JSONResponse:
    """Change a user; ``active: false`` deactivates it (its tokens stop working at once)."""
    user = service.update_user(ctx.session, actor=ctx.actor, user_id=userId, data=body)
    return json_response(service.user_dict(user))


@users.op("DELETE /{userId}", "delete-user", "Delete User")
def delete_user(userId: str, ctx: CtxDep) -> Response:
    """Delete a user, its tokens, memberships and role assignments."""
    service.delete_user(ctx.session, actor=ctx.actor, user_id=userId)
    return no_content()


@users.op("GET /{userId}/teams", "list-user-teams", "List User Teams", TeamList)
def list_user_teams(userId: str, ctx: CtxDep) -> JSONResponse:
    """The teams a user belongs to."""
    return page(*service.user_teams(ctx.session, actor=ctx.actor, user_id=userId, query=ctx.query))


@invites.op("POST ", "invite-user", "Invite User", UserRead)
def invite(body: InviteUser, ctx: CtxDep) -> JSONResponse:
    """Create the user at once (a self-hosted catalog sends no e-mail); answers the user."""
    user = service.create_user(ctx.session, actor=ctx.actor, data=body)
    return json_response(service.user_dict(user), 201)


# --- teams -----------------------------------------------------------------------------


@teams.op("GET ", "list-teams", "List Teams", TeamList)
def list_teams(ctx: CtxDep) -> JSONResponse:
    """A page of teams; filters ``name`` and ``labels.<key>``."""
    return page(*service.list_teams(ctx.session, actor=ctx.actor, query=ctx.query))


@teams.op("POST ", "create-team", "Create Team", TeamRead)
def create_team(body: TeamCreate, ctx: CtxDep) -> JSONResponse:
    """Create a team."""
    team = service.create_team(ctx.session, actor=ctx.actor, data=body)
    return json_response(service.team_dict(team), 201)


@teams.op("GET /{teamId}", "get-team", "Get a Team", TeamRead)
def get_team(teamId: str, ctx: CtxDep) -> JSONResponse:
    """One team."""
    return json_response(
        service.team_dict(service.get_team(ctx.session, actor=ctx.actor, team_id=teamId))
    )


@teams.op("PATCH /{teamId}", "update-team", "Update Team", TeamRead)
def update_team(teamId: str, body: TeamUpdate, ctx: CtxDep) -> JSONResponse:
    """Change a team."""
    team = service.update_team(ctx.session, actor=ctx.actor, team_id=teamId, data=body)
    return json_response(service.team_dict(team))


@teams.op("DELETE /{teamId}", "delete-team", "Delete Team")
def delete_team(teamId: str, ctx: CtxDep) -> Response:
    """Delete a team."""
    service.delete_team(ctx.session, actor=ctx.actor, team_id=teamId)
    return no_content()


@teams.op("GET /{teamId}/users", "list-team-users", "List Team Users", UserList)
def list_team_users(teamId: str, ctx: CtxDep) -> JSONResponse:
    """A page of a team's users."""
    return page(*service.team_users(ctx.session, actor=ctx.actor, team_id=teamId, query=ctx.query))


@teams.op("POST /{teamId}/users", "add-user-to-team", "Add User")
def add_team_user(teamId: str, body: MemberAdd, ctx: CtxDep) -> Response:
    """Add a user to a team (409 when a member already)."""
    service.add_member(
        ctx.session, actor=ctx.actor, team_id=teamId, member_type=USER, member_id=body.id
    )
    return Response(status_code=201)


@teams.op("DELETE /{teamId}/users/{userId}", "remove-user-from-team", "Remove User")
def remove_team_user(teamId: str, userId: str, ctx: CtxDep) -> Response:
    """Remove a user from a team."""
    service.remove_member(
        ctx.session, actor=ctx.actor, team_id=teamId, member_type=USER, member_id=userId
    )
    return no_content()


@teams.op(
    "GET /{teamId}/system-accounts",
    "get-teams-teamId-system-accounts",
    "List System Accounts on a Team",
    SystemAccountList,
)
def list_team_accounts(teamId: str, ctx: CtxDep) -> JSONResponse:
    """A page of a team's system accounts."""
    return page(
        *service.team_accounts(ctx.session, actor=ctx.actor, team_id=teamId, query=ctx.query)
    )


@teams.op(
    "POST /{teamId}/system-accounts",
    "post-teams-teamId-system-accounts",
    "Add System Account to a Team",
)
def add_team_account(teamId: str, body: MemberAdd, ctx: CtxDep) -> Response:
    """Add a system account to a team (409 when a member already)."""
    service.add_member(
        ctx.session, actor=ctx.actor, team_id=teamId, member_type=SYSTEM_ACCOUNT, member_id=body.id
    )
    return Response(status_code=201)


@teams.op(
    "DELETE /{teamId}/system-accounts/{accountId}",
    "delete-teams-teamId-system-accounts-accountId",
    "Remove System Account From Team",
)
def remove_team_account(teamId: str, accountId: str, ctx: CtxDep) -> Response:
    """Remove a system account from a team."""
    service.remove_member(
        ctx.session,
        actor=ctx.actor,
        team_id=teamId,
        member_type=SYSTEM_ACCOUNT,
        member_id=accountId,
    )
    return no_content()


# --- system accounts -------------------------------------------------------------------


@accounts.op("GET ", "get-system-accounts", "List System Accounts", SystemAccountList)
def list_accounts(ctx: CtxDep) -> JSONResponse:
    """A page of system accounts; filters ``name``, ``description``, ``konnect_managed``."""
    return page(*service.list_accounts(ctx.session, actor=ctx.actor, query=ctx.query))


@accounts.op("POST ", "post-system-accounts", "Create System Account", SystemAccountRead)
def create_account(body: SystemAccountCreate, ctx: CtxDep) -> JSONResponse:
    """Create a system account."""
    account = service.create_account(ctx.session, actor=ctx.actor, data=body)
    return json_response(service.account_dict(account), 201)


@accounts.op(
    "GET /{accountId}", "get-system-accounts-id", "Get a System Account", SystemAccountRead
)
def get_account(accountId: str, ctx: CtxDep) -> JSONResponse:
    """One system account."""
    account = service.get_account(ctx.session, actor=ctx.actor, account_id=accountId)
    return json_response(service.account_dict(account))


@accounts.op(
    "PATCH /{accountId}", "patch-system-accounts-id", "Update System Account", SystemAccountRead
)
def update_account(accountId: str, body: SystemAccountUpdate, ctx: CtxDep) -> JSONResponse:
    """Change a system account."""
    account = service.update_account(ctx.session, actor=ctx.actor, account_id=accountId, data=body)
    return json_response(service.account_dict(account))


@accounts.op("DELETE /{accountId}", "delete-system-accounts-id", "Delete System Account")
def delete_account(accountId: str, ctx: CtxDep) -> Response:
    """Delete a system account with its tokens."""
    service.delete_account(ctx.session, actor=ctx.actor, account_id=accountId)
    return no_content()


@accounts.op(
    "GET /{accountId}/teams",
    "get-system-accounts-accountId-teams",
    "List Teams for a System Account",
    TeamList,
)
def list_account_teams(accountId: str, ctx: CtxDep) -> JSONResponse:
    """The teams a system account belongs to."""
    return page(
        *service.account_teams(ctx.session, actor=ctx.actor, account_id=accountId, query=ctx.query)
    )


@accounts.op(
    "GET /{accountId}/access-tokens",
    "get-system-account-id-access-tokens",
    "List System Account Access Tokens",
    AccountTokenList,
)
def list_account_tokens(accountId: str, ctx: CtxDep) -> JSONResponse:
    """A page of a system account's tokens (never their values)."""
    return page(
        *tokens.list_account_tokens(
            ctx.session, actor=ctx.actor, account_id=accountId, query=ctx.query
        )
    )


@accounts.op(
    "POST /{accountId}/access-tokens",
    "post-system-accounts-id-access-tokens",
    "Create System Account Access Token",
    AccountTokenCreated,
)
def create_account_token(accountId: str, body: AccountTokenCreate, ctx: CtxDep) -> JSONResponse:
    """Create a ``spat_`` token; its value is in this answer only."""
    row, token = tokens.create_account_token(
        ctx.session, actor=ctx.actor, account_id=accountId, data=body
    )
    return json_response({**tokens.account_token_dict(row), "token": token}, 201)


@accounts.op(
    "GET /{accountId}/access-tokens/{tokenId}",
    "get-system-accounts-id-access-tokens-id",
    "Get a System Account Access Token",
    AccountTokenRead,
)
def get_account_token(accountId: str, tokenId: str, ctx: CtxDep) -> JSONResponse:
    """One of a system account's tokens."""
    row = tokens.get_account_token(
        ctx.session, actor=ctx.actor, account_id=accountId, token_id=tokenId
    )
    return json_response(tokens.account_token_dict(row))


@accounts.op(
    "PATCH /{accountId}/access-tokens/{tokenId}",
    "patch-system-accounts-id-access-tokens-id",
    "Update System Account Access Token",
    AccountTokenRead,
)
def rename_account_token(
    accountId: str, tokenId: str, body: TokenRename, ctx: CtxDep
) -> JSONResponse:
    """Rename one of a system account's tokens."""
    row = tokens.rename_account_token(
        ctx.session, actor=ctx.actor, account_id=accountId, token_id=tokenId, name=body.name
    )
    return json_response(tokens.account_token_dict(row))


@accounts.op(
    "DELETE /{accountId}/access-tokens/{tokenId}",
    "delete-system-accounts-id-access-tokens-id",
    "Delete System Account Access Token",
)
def delete_account_token(accountId: str, tokenId: str, ctx: CtxDep) -> Response:
    """Delete one of a system account's tokens; it stops working at once."""
    tokens.delete_account_token(
        ctx.session, actor=ctx.actor, account_id=accountId, token_id=tokenId
    )
    return no_content()


# --- personal access tokens ------------------------------------------------------------


@pats.op("GET ", "list-users-personal-access-tokens", "List PATs", PersonalTokenList)
def list_pats(userId: str, ctx: CtxDep) -> JSONResponse:
    """A user's personal access tokens (never their values)."""
    return page(*tokens.list_personal(ctx.session, actor=ctx.actor, user_id=userId))


@pats.op(
    "POST ",
    "create-personal-access-token",
    "Create a new personal access token",
    PersonalTokenCreated,
)
def create_pat(userId: str, body: PersonalTokenCreate, ctx: CtxDep) -> JSONResponse:
    """Create a ``kpat_`` token; its value is in this answer only."""
    row, token = tokens.create_personal(ctx.session, actor=ctx.actor, user_id=userId, data=body)
    return json_response({**tokens.personal_dict(row), "konnect_token": token}, 201)


@pats.op(
    "GET /{tokenId}",
    "get-personal-access-token-details",
    "Get Personal Access Token details",
    PersonalTokenRead,
)
def get_pat(userId: str, tokenId: str, ctx: CtxDep) -> JSONResponse:
    """One personal access token."""
    row = tokens.get_personal(ctx.session, actor=ctx.actor, user_id=userId, token_id=tokenId)
    return json_response(tokens.personal_dict(row))


@pats.op(
    "PATCH /{tokenId}",
    "update-personal-access-token-details",
    "Update personal access token details",
    PersonalTokenRead,
)
def rename_pat(userId: str, tokenId: str, body: TokenRename, ctx: CtxDep) -> JSONResponse:
    """Rename a personal access token."""
    row = tokens.rename_personal(
        ctx.session, actor=ctx.actor, user_id=userId, token_id=tokenId, name=body.name
    )
    return json_response(tokens.personal_dict(row))


@pats.op("DELETE /{tokenId}", "delete-personal-access-token", "Delete personal access token")
def delete_pat(userId: str, tokenId: str, ctx: CtxDep) -> Response:
    """Delete a personal access token; it stops working at once."""
    tokens.revoke_personal(
        ctx.session, actor=ctx.actor, user_id=userId, token_id=tokenId, remove=True
    )
    return no_content()


@pats.op(
    "PATCH /{tokenId}/revoke",
    "revoke-personal-access-token",
    "Revoke Personal Access Token",
    PersonalTokenRead,
)
def revoke_pat(userId: str, tokenId: str, ctx: CtxDep) -> JSONResponse:
    """Revoke a personal access token; it stops working at once and stays listed."""
    row = tokens.revoke_personal(ctx.session, actor=ctx.actor, user_id=userId, token_id=tokenId)
    return json_response(tokens.personal_dict(row))


# --- roles -----------------------------------------------------------------------------


@roles_route.op("GET /roles", "get-predefined-roles", "Get Predefined Roles")
def get_roles(actor: ActorDep) -> JSONResponse:
    """The catalog's roles and what each grants."""
    return json_response(roles.roles())


def _assigned_routes(kind: str, segment: str, param: str, ops: tuple[str, str, str, str]) -> None:
    """The four ``assigned-roles`` routes of one kind of principal."""
    base = f"/{segment}/{{{param}}}/assigned-roles"
    list_op, assign_op, get_op, remove_op = ops
    # The handlers read the principal's id from the path themselves (one handler for three
    # kinds of principal), so FastAPI cannot see it: document it here.
    documented: dict[str, Any] = {
        "openapi_extra": {
            "parameters": [
                {
                    "name": param,
                    "in": "path",
                    "required": True,
                    "description": f"ID of the {kind.replace('_', ' ')}.",
                    "schema": {"type": "string", "format": "uuid"},
                }
            ]
        }
    }

    assigned = router.section(base, tags=ROLES_TAG, **documented)

    @assigned.op("GET ", list_op, "List Assigned Roles", AssignedRoleList)
    def list_assigned(ctx: CtxDep) -> JSONResponse:
        ident = ctx.request.path_params[param]
        return page(
            *roles.list_assigned(
                ctx.session,
                actor=ctx.actor,
                principal_type=kind,
                principal_id=ident,
                query=ctx.query,
            )
        )

    @assigned.op("POST ", assign_op, "Assign Role", AssignedRoleRead)
    def assign(body: AssignRole, ctx: CtxDep) -> JSONResponse:
        ident = ctx.request.path_params[param]
        row = roles.assign(
            ctx.session, actor=ctx.actor, principal_type=kind, principal_id=ident, data=body
        )
        return json_response(roles.assignment_dict(row), 201)

    @assigned.op("GET /{roleId}", get_op, "Get Assigned Role", AssignedRoleRead)
    def get_assigned(roleId: str, ctx: CtxDep) -> JSONResponse:
        ident = ctx.request.path_params[param]
        row = roles.get_assigned(
            ctx.session, actor=ctx.actor, principal_type=kind, principal_id=ident, role_id=roleId
        )
        return json_response(roles.assignment_dict(row))

    @assigned.op("DELETE /{roleId}", remove_op, "Remove Assigned Role")
    def unassign(roleId: str, ctx: CtxDep) -> Response:
        ident = ctx.request.path_params[param]
        roles.unassign(
            ctx.session, actor=ctx.actor, principal_type=kind, principal_id=ident, role_id=roleId
        )
        return no_content()


_assigned_routes(
    USER,
    "users",
    "userId",
    ("list-user-roles", "users-assign-role", "get-user-role", "users-remove-role"),
)
_assigned_routes(
    TEAM,
    "teams",
    "teamId",
    ("list-team-roles", "teams-assign-role", "get-team-role", "teams-remove-role"),
)
_assigned_routes(
    SYSTEM_ACCOUNT,
    "system-accounts",
    "accountId",
    (
        "get-system-accounts-accountId-assigned-roles",
        "post-system-accounts-accountId-assigned-roles",
        "get-system-account-role",
        "delete-system-accounts-accountId-assigned-roles-roleId",
    ),
)


# --- the organization ------------------------------------------------------------------


@me.op("GET /organizations/me", "get-organizations-me", "Get My Organization", OrganizationRead)
def get_organization(actor: ActorDep) -> JSONResponse:
    """The one organization a self-hosted catalog serves."""
    return json_response(service.organization())
