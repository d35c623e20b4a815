"""Dependencies between catalog services over HTTP, on SQLite and PostgreSQL: depth,
cycles, both directions, proposals and their confirmation, rights and the audit trail."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database, utcnow
from service_catalog.resources.models import Resource, ResourceMapping
from sync_support import create_instance


def svc(api: httpx.Client, name: str) -> str:
    resp = api.post("/v1/catalog-services", json={"name": name, "display_name": name.upper()})
    assert resp.status_code == 201, resp.text
    sid: str = resp.json()["id"]
    return sid


def dep(api: httpx.Client, source: str, target: str, label: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"target": target}
    if label is not None:
        body["label"] = label
    resp = api.post(f"/v1/catalog-services/{source}/dependencies", json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def walk(api: httpx.Client, service: str, **params: Any) -> dict[str, int]:
    """{service name: depth} of a walk, checking each service comes once."""
    resp = api.get(f"/v1/catalog-services/{service}/dependencies", params=params)
    assert resp.status_code == 200, resp.text
    names = [row["service"]["name"] for row in resp.json()["data"]]
    assert len(names) == len(set(names)), names
    return {row["service"]["name"]: row["depth"] for row in resp.json()["data"]}


def test_depth_cycles_and_both_directions(api: httpx.Client) -> None:
    for name in "abcdef":
        svc(api, name)
    # a -> b -> c -> d -> a (a cycle), a -> c (a shortcut), d -> e, f -> a
    made = dep(api, "a", "b", "calls")
    assert made["label"] == "calls" and made["status"] == "confirmed"
    assert made["origin"] == "manual"
    dep(api, "b", "c")
    dep(api, "c", "d", "reads-from")
    dep(api, "d", "a")
    dep(api, "a", "c")
    dep(api, "d", "e")
    dep(api, "f", "a")

    assert walk(api, "a") == {"b": 1, "c": 1}
    assert walk(api, "a", depth=2) == {"b": 1, "c": 1, "d": 2}
    assert walk(api, "a", depth=3, direction="downstream") == {"b": 1, "c": 1, "d": 2, "e": 3}
    # the walk comes back round to a and stops there, however deep
    assert walk(api, "a", depth=20) == {"b": 1, "c": 1, "d": 2, "e": 3}
    assert walk(api, "a", direction="upstream") == {"d": 1, "f": 1}
    assert walk(api, "a", direction="upstream", depth=3) == {"d": 1, "f": 1, "c": 2, "b": 3}
    assert walk(api, "e", direction="upstream", depth=2) == {"d": 1, "c": 2}
    assert walk(api, "e") == {}

    body = api.get("/v1/catalog-services/a/dependencies", params={"depth": 2}).json()
    assert body["meta"]["page"] == {"number": 1, "size": 10, "total": 3}
    d_row = next(r for r in body["data"] if r["service"]["name"] == "d")
    assert d_row["label"] == "reads-from"  # the edge c -> d that reaches d
    assert d_row["service"]["display_name"] == "D"
    paged = api.get(
        "/v1/catalog-services/a/dependencies",
        params={"depth": 3, "page[size]": 2, "page[number]": 2},
    ).json()
    assert [r["service"]["name"] for r in paged["data"]] == ["d", "e"]
    assert paged["meta"]["page"]["total"] == 4
    beyond = api.get(
        "/v1/catalog-services/a/dependencies", params={"page[size]": 2, "page[number]": 5}
    ).json()
    assert beyond["data"] == [] and beyond["meta"]["page"]["total"] == 2

    # one edge gone: the graph changes with it; deleting a service drops its edges
    one = api.get(f"/v1/catalog-services/a/dependencies/{made['id']}")
    assert one.status_code == 200 and one.json() == made
    assert api.delete(f"/v1/catalog-services/a/dependencies/{made['id']}").status_code == 204
    assert api.get(f"/v1/catalog-services/a/dependencies/{made['id']}").status_code == 404
    assert walk(api, "a") == {"c": 1}
    assert api.delete("/v1/catalog-services/c").status_code == 204
    assert walk(api, "a", depth=5) == {}
    assert walk(api, "a", direction="upstream", depth=5) == {"d": 1, "f": 1}


def test_bad_requests_are_clear(api: httpx.Client) -> None:
    svc(api, "x")
    svc(api, "y")
    dep(api, "x", "y", "calls")
    base = "/v1/catalog-services/x/dependencies"
    cases: list[tuple[httpx.Response, int, str]] = [
        (api.post(base, json={"target": "x"}), 400, "itself"),
        (api.post(base, json={"target": "y", "label": "calls"}), 409, "already depends"),
        (api.post(base, json={"target": "nope"}), 404, "nope"),
        (api.post(base, json={"target": "y", "label": "Not A Label"}), 400, "label"),
        (api.post(base, json={"target": "y", "extra": 1}), 400, "extra"),
        (api.post("/v1/catalog-services/nope/dependencies", json={"target": "y"}), 404, "nope"),
        (api.get(base, params={"direction": "sideways"}), 400, "direction"),
        (api.get(base, params={"depth": "0"}), 400, "depth"),
        (api.get(base, params={"depth": "21"}), 400, "depth"),
        (api.get(base, params={"depth": "two"}), 400, "depth"),
        (api.get(base, params={"include_proposed": "maybe"}), 400, "include_proposed"),
        (api.get(f"{base}/not-a-uuid"), 404, "not-a-uuid"),
        (api.delete(f"{base}/{uuid.uuid4()}"), 404, "not found"),
        (api.post(f"{base}/{uuid.uuid4()}/confirm"), 404, "not found"),
    ]
    for resp, status, word in cases:
        assert resp.status_code == status, (resp.request.url, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert word in resp.text, resp.text
    # the same pair with another label, or none, is another edge
    dep(api, "x", "y", "reads-from")
    dep(api, "x", "y")
    assert walk(api, "x") == {"y": 1}


def _gateway_service(db: Database, instance_id: str, service_id: str, host: str, n: int) -> str:
    """A Kong Gateway service resource (as the gateway-manager connector stores it),
    mapped to a catalog service."""
    rid = f"gw{n:014d}"
    with db.session() as s:
        now = utcnow()
        s.add(
            Resource(
                id=rid,
                instance_id=uuid.UUID(instance_id),
                integration_name="gateway-manager",
                type="gateway_svc",
                config={"control_plane_id": "default", "gateway_service_id": f"g{n}"},
                name=f"gw-{n}",
                integration_data={"gateway_service": {"name": f"gw-{n}", "host": host}},
                created_at=now,
                updated_at=now,
            )
        )
        s.flush()
        s.add(ResourceMapping(service_id=uuid.UUID(service_id), resource_id=rid, created_at=now))
    return rid


def test_gateway_proposals_are_confirmed_or_declined(
    server: LiveServer, api: httpx.Client, db: Database
) -> None:
    web, orders, users, billing = (svc(api, n) for n in ("web", "orders", "users", "billing"))
    inst = create_instance(api, "custom-prod")
    _gateway_service(db, inst["id"], web, "orders.default.svc.cluster.local", 1)
    _gateway_service(db, inst["id"], users, "billing", 2)
    _gateway_service(db, inst["id"], billing, "billing.internal", 3)  # itself: nothing
    _gateway_service(db, inst["id"], orders, "unknown-host.example.com", 4)
    dep(api, "users", "billing", "reads-from")  # users -> billing exists: not proposed

    resp = api.post("/v1/dependency-proposals", json={})
    assert resp.status_code == 200, resp.text
    proposed = resp.json()["data"]
    assert [(p["source_id"], p["target_id"]) for p in proposed] == [(web, orders)]
    assert proposed[0]["status"] == "proposed" and proposed[0]["label"] == "calls"
    assert proposed[0]["origin"] == "gateway-manager:gw00000000000001"
    assert api.post("/v1/dependency-proposals", json={}).json()["data"] == []  # idempotent

    assert walk(api, "web") == {}  # proposals are not followed by default
    assert walk(api, "web", include_proposed="true") == {"orders": 1}
    pid = proposed[0]["id"]
    confirmed = api.post(f"/v1/catalog-services/web/dependencies/{pid}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    again = api.post(f"/v1/catalog-services/web/dependencies/{pid}/confirm")
    assert again.json() == confirmed.json()
    assert walk(api, "web") == {"orders": 1}
    # confirmation is asked of the edge's source only
    assert api.post(f"/v1/catalog-services/orders/dependencies/{pid}/confirm").status_code == 404

    types = [
        e["type"]
        for e in api.get("/v1/audit-log", params={"sort": "ts asc", "page[size]": 100}).json()[
            "data"
        ]
        if e["type"].startswith("catalog_service.dependency_")
    ]
    assert types == [
        "catalog_service.dependency_created",  # users -> billing
        "catalog_service.dependency_created",  # the proposal
        "catalog_service.dependency_confirmed",
    ]


def _token(server: LiveServer, name: str, role: str, service_id: str) -> str:
    with server.db.session() as s:
        _, token = create_token(s, name=name, role=role, entity_id=service_id)
    return token


def test_rights_hide_what_a_principal_may_not_see(server: LiveServer, api: httpx.Client) -> None:
    a, b, c = svc(api, "pa"), svc(api, "pb"), svc(api, "pc")
    dep(api, "pa", "pb")
    dep(api, "pb", "pc")
    dep(api, "pa", "pc", "calls")
    viewer = _token(server, "viewer", "Service Viewer", a)
    with server.client(viewer) as v:
        seen = v.get("/v1/catalog-services/pa/dependencies", params={"depth": 3})
        assert seen.status_code == 200, seen.text
        assert seen.json()["data"] == []  # pb and pc are not its to see
        assert v.get("/v1/catalog-services/pb/dependencies").status_code == 404
        refused = v.post("/v1/catalog-services/pa/dependencies", json={"target": "pb"})
        assert refused.status_code == 403, refused.text
    # a Service Viewer of pa and pc sees pc at depth 1, never through pb
    with server.db.session() as s:
        create_token(s, name="viewer", role="Service Viewer", entity_id=c)
    with server.client(viewer) as v:
        rows = v.get("/v1/catalog-services/pa/dependencies", params={"depth": 3}).json()["data"]
        assert [(r["service"]["name"], r["depth"]) for r in rows] == [("pc", 1)]
        assert (
            v.get("/v1/catalog-services/pc/dependencies", params={"direction": "upstream"}).json()[
                "data"
            ][0]["service"]["name"]
            == "pa"
        )
    admin_a = _token(server, "admin-a", "Service Admin", a)
    with server.client(admin_a) as adm:
        # the target must be visible too: an unseen one is as missing
        hidden = adm.post("/v1/catalog-services/pa/dependencies", json={"target": b})
        assert hidden.status_code == 404, hidden.text
        assert "not found" in hidden.json()["detail"]
        rows = api.get("/v1/catalog-services/pa/dependencies").json()["data"]
        to_b = next(r["id"] for r in rows if r["service"]["name"] == "pb")
        to_c = next(r["id"] for r in rows if r["service"]["name"] == "pc")
        # an edge whose other end it may not see is as missing, to read or to change
        for edge in (to_b, to_c):
            url = f"/v1/catalog-services/pa/dependencies/{edge}"
            assert adm.get(url).status_code == 404
            assert adm.delete(url).status_code == 404
            assert adm.post(f"{url}/confirm").status_code == 404
        made = adm.post("/v1/catalog-services/pa/dependencies", json={"target": "pa"})
        assert made.status_code == 400  # it may change pa: the rule speaks, not a 403
    assert walk(api, "pa") == {"pb": 1, "pc": 1}


@pytest.mark.parametrize("direction", ["downstream", "upstream"])
def test_a_long_chain_is_walked_to_the_depth_asked(api: httpx.Client, direction: str) -> None:
    names = [f"n{i:02d}" for i in range(12)]
    for n in names:
        svc(api, n)
    for s, t in itertools.pairwise(names):
        dep(api, s, t)
    start = names[0] if direction == "downstream" else names[-1]
    got = walk(api, start, direction=direction, depth=5, **{"page[size]": 100})
    assert sorted(got.values()) == [1, 2, 3, 4, 5]
    assert len(walk(api, start, direction=direction, depth=20, **{"page[size]": 100})) == 11
