"""Rights as a user sees them through a real server: team inheritance, ``*`` versus one
service, a user removed from a team losing access at once, lists, totals and facets
holding only permitted services (the label-walk path included), 403 bodies naming the
role, a Service Creator's services, and role assignments leaving with their service. On
SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from conftest import LiveServer


def _user(admin: httpx.Client, server: LiveServer, email: str) -> tuple[str, httpx.Client]:
    """A new user and a client sending its personal access token."""
    made = admin.post("/v3/invites", json={"email": email})
    assert made.status_code == 201, made.text
    uid = made.json()["id"]
    pat = admin.post(f"/v3/users/{uid}/access-tokens", json={"name": "t", "ttl_seconds": 86400})
    assert pat.status_code == 201, pat.text
    return uid, server.client(pat.json()["konnect_token"])


def _service(admin: httpx.Client, name: str, team: str) -> str:
    made = admin.post(
        "/v1/catalog-services",
        json={"name": name, "display_name": name.title(), "labels": {"team": team}},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _grant(admin: httpx.Client, path: str, role: str, entity: str) -> str:
    made = admin.post(f"{path}/assigned-roles", json={"role_name": role, "entity_id": entity})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_team_inheritance_and_removal_apply_at_once(server: LiveServer) -> None:
    with server.client() as admin:
        a = _service(admin, "alpha", "core")
        uid, ada = _user(admin, server, "ada@example.com")
        team = admin.post("/v3/teams", json={"name": "Alpha team"}).json()["id"]
        _grant(admin, f"/v3/teams/{team}", "Service Viewer", a)
        with ada:
            assert ada.get(f"/v1/catalog-services/{a}").status_code == 404
            assert admin.post(f"/v3/teams/{team}/users", json={"id": uid}).status_code == 201
            assert ada.get(f"/v1/catalog-services/{a}").status_code == 200
            assert ada.get("/v1/catalog-services").json()["meta"]["page"]["total"] == 1
            assert admin.delete(f"/v3/teams/{team}/users/{uid}").status_code == 204
            gone = ada.get(f"/v1/catalog-services/{a}")
            assert gone.status_code == 404
            assert ada.get("/v1/catalog-services").json()["meta"]["page"]["total"] == 0


def test_lists_totals_and_facets_hold_only_permitted_services(server: LiveServer) -> None:
    with server.client() as admin:
        ids = {
            name: _service(admin, name, team)
            for name, team in [
                ("c1", "core"),
                ("c2", "core"),
                ("c3", "core"),
                ("e1", "edge"),
                ("e2", "edge"),
            ]
        }
        uid, viewer = _user(admin, server, "viewer@example.com")
        for name in ("c1", "c3", "e2"):
            _grant(admin, f"/v3/users/{uid}", "Service Viewer", ids[name])
        star_id, star = _user(admin, server, "star@example.com")
        _grant(admin, f"/v3/users/{star_id}", "Service Viewer", "*")
        with viewer, star:
            listed = viewer.get("/v1/catalog-services").json()
            assert [s["name"] for s in listed["data"]] == ["c1", "c3", "e2"]
            assert listed["meta"]["page"]["total"] == 3
            # the label walk (an equality on a label, sorted by display_name)
            walked = viewer.get(
                "/v1/catalog-services", params={"filter[labels.team]": "core", "page[size]": 1}
            ).json()
            assert [s["name"] for s in walked["data"]] == ["c1"]
            assert walked["meta"]["page"]["total"] == 2
            page2 = viewer.get(
                "/v1/catalog-services",
                params={"filter[labels.team]": "core", "page[size]": 1, "page[number]": 2},
            ).json()
            assert [s["name"] for s in page2["data"]] == ["c3"]
            # the general path (a sort the walk does not serve) and the unique lookup
            by_name = viewer.get(
                "/v1/catalog-services", params={"filter[labels.team]": "core", "sort": "name"}
            ).json()
            assert by_name["meta"]["page"]["total"] == 2
            hidden = viewer.get("/v1/catalog-services", params={"filter[name]": "c2"}).json()
            assert hidden == {"data": [], "meta": {"page": {"number": 1, "size": 10, "total": 0}}}
            facets = viewer.get("/v1/catalog-services/facets", params={"field": "labels.team"})
            assert facets.json()["data"] == [
                {"value": "core", "count": 2},
                {"value": "edge", "count": 1},
            ]
            # a role on * reads every service
            assert star.get("/v1/catalog-services").json()["meta"]["page"]["total"] == 5
            assert star.get(f"/v1/catalog-services/{ids['c2']}").status_code == 200
            assert viewer.get(f"/v1/catalog-services/{ids['c2']}").status_code == 404
            assert viewer.get("/v1/catalog-services/c2").status_code == 404  # by name too


def test_mappings_resources_and_events_hide_other_services(server: LiveServer) -> None:
    with server.client() as admin:
        seen, unseen = _service(admin, "seen", "x"), _service(admin, "unseen", "x")
        inst = admin.post(
            "/v1/integration-instances",
            json={"integration_name": "custom", "name": "c", "display_name": "C", "config": {}},
        ).json()["id"]
        pushed = admin.put(
            f"/v1/integration-instances/{inst}/resources",
            json={
                "data": [
                    {"name": n, "type": "custom_resource", "config": {"id": n}}
                    for n in ("both", "other")
                ]
            },
        ).json()["data"]
        both, other = pushed[0]["id"], pushed[1]["id"]
        for svc, res in ((seen, both), (unseen, both), (unseen, other)):
            made = admin.post("/v1/resource-mappings", json={"service": svc, "resource": res})
            assert made.status_code == 201, made.text
        posted = admin.post(
            f"/v1/integration-instances/{inst}/integration-events",
            json={
                "data": [
                    {"type": "t", "service": s, "deduplication_id": s, "detail": "d"}
                    for s in ("seen", "unseen")
                ]
            },
        )
        assert posted.status_code == 202, posted.text
        uid, viewer = _user(admin, server, "v@example.com")
        _grant(admin, f"/v3/users/{uid}", "Service Viewer", seen)
        with viewer:
            mappings = viewer.get("/v1/resource-mappings").json()
            assert [m["service"]["name"] for m in mappings["data"]] == ["seen"]
            assert mappings["meta"]["page"]["total"] == 1
            resources = viewer.get("/v1/resources").json()["data"]
            assert [(r["id"], r["service_associations"]) for r in resources] == [(both, 1)]
            assert viewer.get(f"/v1/resources/{other}").status_code == 404
            services = viewer.get(f"/v1/resources/{both}/catalog-services").json()
            assert [s["name"] for s in services["data"]] == ["seen"]
            assert services["meta"]["page"]["total"] == 1
            events = viewer.get("/v1/integration-events").json()["data"]
            assert [e["service_id"] for e in events] == [seen]
            assert (
                viewer.get(f"/v1/catalog-services/{unseen}/integration-events").status_code == 404
            )


def test_403_names_the_role_and_creators_own_what_they_create(server: LiveServer) -> None:
    with server.client() as admin:
        a = _service(admin, "alpha", "core")
        uid, viewer = _user(admin, server, "viewer@example.com")
        _grant(admin, f"/v3/users/{uid}", "Service Viewer", a)
        cid, creator = _user(admin, server, "creator@example.com")
        _grant(admin, f"/v3/users/{cid}", "Service Creator", "*")
        with viewer, creator:
            refused = viewer.patch(f"/v1/catalog-services/{a}", json={"description": "x"})
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "requires Service Admin on this service" in refused.json()["detail"]
            made = viewer.post("/v1/catalog-services", json={"name": "n", "display_name": "N"})
            assert made.status_code == 403
            assert "Service Creator" in made.json()["detail"]

            own = creator.post("/v1/catalog-services", json={"name": "mine", "display_name": "M"})
            assert own.status_code == 201, own.text
            sid = own.json()["id"]
            assert creator.get("/v1/catalog-services").json()["meta"]["page"]["total"] == 1
            assert creator.get(f"/v1/catalog-services/{a}").status_code == 404
            changed = creator.patch(f"/v1/catalog-services/{sid}", json={"description": "d"})
            assert changed.status_code == 200
            roles = admin.get(f"/v3/users/{cid}/assigned-roles").json()["data"]
            assert {(r["role_name"], r["entity_id"]) for r in roles} == {
                ("Service Creator", "*"),
                ("Service Admin", sid),
            }
            assert creator.delete(f"/v1/catalog-services/{sid}").status_code == 204
            roles = admin.get(f"/v3/users/{cid}/assigned-roles").json()["data"]
            assert [r["entity_id"] for r in roles] == ["*"]


def test_refused_writes_go_to_the_audit_trail(server: LiveServer) -> None:
    """A write refused for lack of rights is an audit entry naming who, what and the
    refusal (a 403, and the 404 of a service it may not see), never the token; a read
    refused so is not, nor is a write that merely names nothing."""
    with server.client() as admin:
        seen = _service(admin, "seen", "core")
        hidden = _service(admin, "hidden", "core")
        uid, ada = _user(admin, server, "ada@example.com")
        _grant(admin, f"/v3/users/{uid}", "Service Viewer", seen)
        with ada:
            token = ada.headers["authorization"].split()[-1]
            refused = ada.patch(f"/v1/catalog-services/{seen}", json={"description": "x"})
            assert refused.status_code == 403
            assert ada.delete(f"/v1/catalog-services/{hidden}").status_code == 404
            assert ada.get(f"/v1/catalog-services/{hidden}").status_code == 404
            missing = "00000000-0000-4000-8000-000000000000"
            assert ada.delete(f"/v1/catalog-services/{missing}").status_code == 404
        log = admin.get("/v1/audit-log", params={"filter[type]": "access.denied"})
        assert log.status_code == 200, log.text
        entries = log.json()["data"]
        found = {(e["attributes"]["method"], e["attributes"]["path"]) for e in entries}
        assert found == {
            ("PATCH", f"/v1/catalog-services/{seen}"),
            ("DELETE", f"/v1/catalog-services/{hidden}"),
        }
        for entry in entries:
            assert entry["actor"]["id"] == uid and entry["actor"]["type"] == "user"
            assert "Service Admin" in entry["detail"] or entry["attributes"]["status"] == 404
        assert token not in log.text


def test_a_restricted_list_by_display_name_reads_the_id_index(server: LiveServer) -> None:
    """An unfiltered list of a principal's services sorted by display_name (either way)
    pages and counts as the general path does (a sort it does not serve), and on SQLite
    the server's statement reads the (id, display_name) index (INDEXED BY), not the rows."""
    with server.client() as admin:
        ids = [_service(admin, f"svc-{i:02d}", "core") for i in range(7)]
        uid, viewer = _user(admin, server, "pager@example.com")
        for sid in ids[1:6]:
            _grant(admin, f"/v3/users/{uid}", "Service Viewer", sid)
        seen: list[tuple[str, object]] = []

        def record(_c: object, _cur: object, sql: str, params: object, *_: object) -> None:
            seen.append((sql, params))

        with viewer:
            names = [f"svc-{i:02d}" for i in range(1, 6)]
            for sort, expected in (("display_name", names), ("display_name desc", names[::-1])):
                pages = []
                for number in (1, 2, 3, 4):
                    sa.event.listen(server.db.engine, "before_cursor_execute", record)
                    try:
                        got = viewer.get(
                            "/v1/catalog-services",
                            params={"sort": sort, "page[size]": 2, "page[number]": number},
                        ).json()
                    finally:
                        sa.event.remove(server.db.engine, "before_cursor_execute", record)
                    assert got["meta"]["page"]["total"] == 5, got
                    pages.append([s["name"] for s in got["data"]])
                assert pages == [expected[0:2], expected[2:4], expected[4:], []]
            other = viewer.get("/v1/catalog-services", params={"sort": "name desc"}).json()
            assert [s["name"] for s in other["data"]] == names[::-1]
    if server.db.dialect == "sqlite":
        keyed = [(q, p) for q, p in seen if "count(*) OVER ()" in q]
        assert keyed, seen
        with server.db.engine.connect() as conn:
            for sql, params in keyed:
                plan = " | ".join(
                    str(r[-1])
                    for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)  # type: ignore[arg-type]
                )
                assert "COVERING INDEX ix_catalog_services_id_display_name" in plan, plan
