"""Rights as the domains read them, and the slowing down of abuse, through a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from conftest import LiveServer
from service_catalog.auth.access import ALL, NONE, grant_creator_admin, rights_of
from service_catalog.auth.models import RoleAssignment, User
from service_catalog.auth.service import SYSTEM, ensure_assignment, issue_token, lookup_token
from service_catalog.core.db import Database
from service_catalog.settings import Settings


def test_rights_union_star_and_one_service() -> None:
    rights = rights_of(
        [
            ("Service Viewer", "s1"),
            ("Service Viewer", "s2"),
            ("Service Admin", "s2"),
            ("Scorecard Viewer", "*"),
        ]
    )
    assert rights.has("Service Viewer", "s1") and rights.has("Service Admin", "s2")
    assert not rights.has("Service Admin", "s1")
    assert not rights.has("Service Viewer")  # not on every service
    assert rights.has("Scorecard Viewer", "anything") and rights.has("Scorecard Viewer")
    assert rights.service_ids("Service Viewer", "Service Admin") == frozenset({"s1", "s2"})
    assert rights.service_ids("Service Admin") == frozenset({"s2"})
    assert rights.service_ids("Scorecard Viewer") is None
    assert rights.service_ids("Integration Admin") == frozenset()
    assert not rights.org_admin
    assert rights_of([("Organization Admin", "*")]) == ALL
    assert ALL.has("Service Admin", "x") and ALL.service_ids("Service Viewer") is None
    assert not NONE.has("Service Viewer", "x") and NONE.service_ids("Service Viewer") == frozenset()


@pytest.fixture
def strict(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """A server allowing 3 failed authentications a minute per client and 5 requests a
    minute per token."""
    tight = settings.model_copy(update={"auth_failure_limit": 3, "token_rate_limit": 5})
    live = LiveServer(tight, db).start()
    yield live
    live.stop()


def test_repeated_failures_are_slowed_and_tokens_rate_limited(strict: LiveServer) -> None:
    good = strict.token("ok")
    with httpx.Client(base_url=strict.url, timeout=30) as anon:
        for _ in range(3):
            assert (
                anon.get("/v3/roles", headers={"Authorization": "Bearer spat_nope"}).status_code
                == 401
            )
        refused = anon.get("/v3/roles", headers={"Authorization": f"Bearer {good}"})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["status"] == 429
    strict.app.state.auth_limiters = None  # a fresh window (as a minute later)
    with strict.client(good) as api:
        assert [api.get("/v3/roles").status_code for _ in range(6)] == [200] * 5 + [429]
        assert int(api.get("/v3/roles").headers["Retry-After"]) >= 1


def test_a_service_creator_becomes_admin_of_what_it_creates(db: Database) -> None:
    """``grant_creator_admin`` (for the enforcement of service creation) makes the creator
    Service Admin of that service alone; repeating it changes nothing."""
    with db.session() as s:
        user = User(email="maker@example.com")
        s.add(user)
        s.flush()
        ensure_assignment(
            s, principal_type="user", principal_id=user.id, role="Service Creator", entity_id="*"
        )
        _, token = issue_token(s, owner_type="user", owner_id=user.id, name="t")
    with db.session(write=False) as s:
        info = lookup_token(s, token)
    assert info is not None
    actor = info.actor
    assert actor.rights.has("Service Creator") and not actor.rights.has("Service Admin", "s-1")
    with db.session() as s:
        grant_creator_admin(s, actor, "s-1")
        grant_creator_admin(s, actor, "s-1")
        grant_creator_admin(s, SYSTEM, "s-1")  # the system is no principal: nothing to grant
    with db.session(write=False) as s:
        info = lookup_token(s, token)
        assert info is not None
        assert info.actor.rights.service_ids("Service Admin") == frozenset({"s-1"})
        assert s.scalar(select(func.count()).select_from(RoleAssignment)) == 2
