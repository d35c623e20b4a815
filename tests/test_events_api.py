"""Integration events over HTTP: push (idempotent), list (global, per service, audit log),
filters, cursor paging and errors, on SQLite and PostgreSQL, checked against the contract."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import httpx

from conftest import LiveServer
from contract import Contract
from service_catalog.events.service import record_integration_events
from service_catalog.integrations.connectors.base import EventRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.models import Resource
from sync_support import EVENT_KEYS, create_instance

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def make_service(api: httpx.Client, name: str) -> dict[str, Any]:
    resp = api.post("/v1/catalog-services", json={"name": name, "display_name": name.title()})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def make_instance(
    server: LiveServer, name: str = "pushy", integration: str = "custom"
) -> IntegrationInstance:
    """An integration instance created through the API, as its stored row (what
    ``record_integration_events`` takes)."""
    with server.client() as client:
        made = create_instance(client, name, integration=integration)
    with server.db.session() as s:
        inst = s.get_one(IntegrationInstance, uuid.UUID(made["id"]))
        s.expunge(inst)
    return inst


def make_resource(server: LiveServer, inst: IntegrationInstance, rid: str, type_: str) -> None:
    with server.db.session() as s:
        s.add(
            Resource(
                id=rid,
                instance_id=inst.id,
                integration_name=inst.integration_name,
                type=type_,
                config={"id": rid},
                name=rid,
            )
        )


def push(api: httpx.Client, inst_id: Any, *items: dict[str, Any]) -> httpx.Response:
    return api.post(
        f"/v1/integration-instances/{inst_id}/integration-events", json={"data": list(items)}
    )


def listing(
    api: httpx.Client, contract: Contract, path: str = "/v1/integration-events", **params: Any
) -> dict[str, Any]:
    # httpx replaces a URL's query string with ``params`` even when empty
    body = contract.check(api.get(path, params=params) if params else api.get(path), 200)
    contract.validate(body["meta"], schema="CursorMeta")
    for event in body["data"]:
        assert set(event) == EVENT_KEYS
    return body


def ev(dedup: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": "deploy.finished",
        "deduplication_id": dedup,
        "detail": f"Deployment {dedup} finished",
        **kw,
    }


# --- push ---------------------------------------------------------------------------


def test_push_then_list_shows_the_event_object(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    svc = make_service(api, "billing")
    inst = make_instance(server)
    make_resource(server, inst, "res-billing-0001", "gateway_svc")
    resp = push(
        api,
        inst.id,
        ev(
            "d-1",
            service="billing",
            resource_id="res-billing-0001",
            ts=iso(T0),
            attributes={"env": "prod", "build": 42},
            link_html='<a href="https://ci/42">#42</a>',
            actor={"type": "user", "id": "u-7", "name": "Ada"},
        ),
    )
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 1, "duplicates": 0}
    body = listing(api, contract, **{"filter[integration.instance.id]": str(inst.id)})
    assert body["data"] == [
        {
            "id": body["data"][0]["id"],
            "type": "deploy.finished",
            "ts": "2026-01-01T12:00:00Z",
            "service_id": svc["id"],
            "resource_id": "res-billing-0001",
            "deduplication_id": "d-1",
            "actor": {"type": "user", "id": "u-7", "name": "Ada"},
            "attributes": {"env": "prod", "build": 42},
            "integration": {
                "name": "custom",
                "display_name": body["data"][0]["integration"]["display_name"],
                "instance": {"id": str(inst.id), "name": "pushy", "display_name": "Pushy"},
            },
            "binding": "gateway_svc",
            "detail": "Deployment d-1 finished",
            "link_html": '<a href="https://ci/42">#42</a>',
        }
    ]
    uuid.UUID(body["data"][0]["id"])
    assert body["data"][0]["integration"]["display_name"]


def test_push_is_idempotent_by_deduplication_id(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    make_service(api, "orders")
    inst = make_instance(server)
    other = make_instance(server, "other")
    items = [ev("a", service="orders"), ev("b"), ev("a", detail="again in the same request")]
    assert push(api, inst.id, *items).json() == {"accepted": 2, "duplicates": 1}
    assert push(api, inst.id, *items).json() == {"accepted": 0, "duplicates": 3}
    # the same id on another instance is another event
    assert push(api, other.id, ev("a")).json() == {"accepted": 1, "duplicates": 0}
    body = listing(api, contract, **{"filter[actor.type]": "integration", "sort": "ts asc"})
    stored = sorted(
        (e["integration"]["instance"]["name"], e["deduplication_id"]) for e in body["data"]
    )
    assert stored == [("other", "a"), ("pushy", "a"), ("pushy", "b")]
    first_a = [
        e
        for e in body["data"]
        if e["integration"]["instance"]["name"] == "pushy" and e["deduplication_id"] == "a"
    ]
    assert first_a[0]["detail"] == "Deployment a finished"
    # without an actor, the instance is the actor
    assert first_a[0]["actor"] == {"type": "integration", "id": str(inst.id), "name": "pushy"}


def test_push_validation_errors_name_the_item_and_store_nothing(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    make_service(api, "known")
    inst = make_instance(server)
    other = make_instance(server, "other")
    make_resource(server, other, "res-of-other-001", "repo")

    def fields(resp: httpx.Response) -> set[tuple[str, str]]:
        body = contract.check(resp, 400)
        return {(p["field"], p.get("rule")) for p in body["invalid_parameters"]}

    assert ("data.1.deduplication_id", "required") in fields(
        push(api, inst.id, ev("ok"), {"type": "x", "detail": "no dedup"})
    )
    assert ("data.0.color", "unknown_property") in fields(push(api, inst.id, ev("x", color=1)))
    assert ("data.0.ts", "is_date_time") in fields(push(api, inst.id, ev("x", ts="yesterday")))
    assert ("data.0.type", "matches_regex") in fields(push(api, inst.id, ev("x", type="a b")))
    assert ("data.0.attributes", "is_object") in fields(push(api, inst.id, ev("x", attributes=[])))
    assert ("data.0.detail", "min_length") in fields(push(api, inst.id, ev("x", detail="")))
    assert ("data.0.deduplication_id", "max_length") in fields(push(api, inst.id, ev("x" * 256)))
    assert ("data", "min_items") in fields(push(api, inst.id))
    assert ("data", "required") in fields(
        api.post(f"/v1/integration-instances/{inst.id}/integration-events", json={})
    )
    assert ("body", "invalid") in fields(
        api.post(
            f"/v1/integration-instances/{inst.id}/integration-events",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
    )
    got = fields(
        push(
            api,
            inst.id,
            ev("1", service="known"),
            ev("2", service="ghost"),
            ev("3", service_id=str(uuid.uuid4())),
            ev("4", resource_id="res-of-other-001"),
        )
    )
    assert got == {
        ("data.1.service", "missing_reference"),
        ("data.2.service_id", "missing_reference"),
        ("data.3.resource_id", "missing_reference"),
    }
    # a rejected batch stores nothing, not even its valid items
    assert listing(api, contract, **{"filter[actor.type]": "integration"})["data"] == []

    missing = contract.check(push(api, uuid.uuid4(), ev("x")), 404)
    assert "Integration instance" in missing["detail"]
    contract.check(push(api, "not-a-uuid", ev("x")), 404)


# --- listing ------------------------------------------------------------------------


def seed(server: LiveServer, api: httpx.Client) -> dict[str, Any]:
    """Two services, two instances of two integrations, events spread over two hours."""
    a = make_service(api, "svc-a")
    b = make_service(api, "svc-b")
    i1 = make_instance(server, "ci", "custom")
    i2 = make_instance(server, "scanner", "custom")
    make_resource(server, i2, "repo-00000000001", "repository")
    items1 = [
        ev(
            f"deploy-{n}",
            service="svc-a" if n % 2 else "svc-b",
            ts=iso(T0 + dt.timedelta(minutes=n)),
            attributes={"n": n, "env": "prod"},
        )
        for n in range(6)
    ]
    items2 = [
        {
            "type": "vulnerability.opened",
            "deduplication_id": f"v-{n}",
            "service_id": a["id"],
            "resource_id": "repo-00000000001",
            "ts": iso(T0 + dt.timedelta(minutes=60 + n)),
            "detail": f"Critical SQL injection #{n} found" if n == 0 else f"Minor issue {n}",
            "attributes": {
                "severity": "critical" if n == 0 else "low",
                "cvss": {"score": 9.8 if n == 0 else 2.0},
            },
        }
        for n in range(3)
    ]
    assert push(api, i1.id, *items1).status_code == 202
    assert push(api, i2.id, *items2).status_code == 202
    return {"a": a, "b": b, "i1": i1, "i2": i2}


def dedups(body: dict[str, Any]) -> list[str]:
    return [e["deduplication_id"] for e in body["data"]]


def test_filters(server: LiveServer, api: httpx.Client, contract: Contract) -> None:
    s = seed(server, api)
    integ = {"filter[actor.type]": "integration", "page[size]": 100}

    def q(**params: Any) -> list[str]:
        return dedups(listing(api, contract, **{**integ, **params}))

    assert q() == [
        "v-2",
        "v-1",
        "v-0",
        "deploy-5",
        "deploy-4",
        "deploy-3",
        "deploy-2",
        "deploy-1",
        "deploy-0",
    ]  # default sort: ts desc
    assert q(sort="ts asc")[:2] == ["deploy-0", "deploy-1"]
    assert q(**{"filter[type]": "vulnerability.opened"}) == ["v-2", "v-1", "v-0"]
    assert q(**{"filter[type][contains]": "deploy"})[-1] == "deploy-0"
    assert q(
        **{
            "filter[ts][gte]": iso(T0 + dt.timedelta(minutes=2)),
            "filter[ts][lt]": iso(T0 + dt.timedelta(minutes=4)),
        }
    ) == ["deploy-3", "deploy-2"]
    assert q(**{"filter[ts][lte]": "2026-01-01T12:01:00Z"}) == ["deploy-1", "deploy-0"]
    assert q(**{"filter[ts][gt]": "2026-01-01T13:01:00+00:00"}) == ["v-2"]
    assert q(**{"filter[integration.name]": "custom"})[0] == "v-2"
    assert q(**{"filter[integration.name]": "traceable"}) == []
    assert q(**{"filter[integration.instance.id]": str(s["i2"].id)}) == ["v-2", "v-1", "v-0"]
    assert q(**{"filter[binding]": "repository"}) == ["v-2", "v-1", "v-0"]
    assert q(**{"filter[detail][contains]": "sql INJECTION"}) == ["v-0"]
    assert q(**{"filter[detail][contains]": "100%"}) == []
    assert q(**{"filter[attributes.severity]": "critical"}) == ["v-0"]
    assert q(**{"filter[attributes.cvss.score][gte]": "9"}) == ["v-0"]
    assert q(**{"filter[attributes.n][lt]": "2"}) == ["deploy-1", "deploy-0"]
    assert q(**{"filter[actor.name]": "scanner"}) == ["v-2", "v-1", "v-0"]
    assert q(**{"filter[service_id]": s["b"]["id"]}) == ["deploy-4", "deploy-2", "deploy-0"]
    assert q(**{"filter[resource_id]": "repo-00000000001"}) == ["v-2", "v-1", "v-0"]

    # audit entries (the two services' and two instances' creation) are a feed of their own
    assert listing(api, contract, **{"filter[actor.type]": "token"})["data"] == []
    audit = listing(api, contract, path="/v1/audit-log", **{"filter[actor.type]": "token"})["data"]
    assert [e["type"] for e in audit] == (
        ["integration_instance.created"] * 2 + ["catalog_service.created"] * 2
    )
    assert all(e["integration"] is None for e in audit)
    everything = listing(api, contract, **{"page[size]": "100"})["data"]
    assert len(everything) == 9

    for params, field in (
        ({"filter[nope]": "x"}, "filter[nope]"),
        ({"filter[ts][gte]": "soon"}, "filter[ts][gte]"),
        ({"filter[type][gte]": "x"}, "filter[type][gte]"),
        ({"filter[service_id]": "x"}, "filter[service_id]"),
        ({"sort": "detail"}, "sort"),
        ({"page[size]": "1001"}, "page[size]"),
        ({"page[size]": "0"}, "page[size]"),
        ({"size": "ten"}, "size"),
        ({"page[after]": "garbage!"}, "page[after]"),
    ):
        body = contract.check(api.get("/v1/integration-events", params=params), 400)
        assert body["invalid_parameters"][0]["field"] == field, (params, body)


def test_cursor_paging_walks_every_event_once(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    inst = make_instance(server)
    # 25 events, several sharing a timestamp, so the id tiebreak matters
    items = [ev(f"e{n:02d}", ts=iso(T0 + dt.timedelta(seconds=n // 3))) for n in range(25)]
    assert push(api, inst.id, *items).json() == {"accepted": 25, "duplicates": 0}
    params: dict[str, Any] = {"filter[actor.type]": "integration", "page[size]": 10}
    first = listing(api, contract, **params)
    assert first["meta"]["page"]["size"] == 10
    assert first["meta"]["page"]["previous"] is None
    assert first["meta"]["page"]["first"].startswith("/v1/integration-events?")
    pages = [first]
    while pages[-1]["meta"]["page"]["next"]:
        nxt = pages[-1]["meta"]["page"]["next"]
        assert nxt.startswith("/v1/integration-events?")
        pages.append(listing(api, contract, path=nxt))
    seen = [e["deduplication_id"] for p in pages for e in p["data"]]
    assert [len(p["data"]) for p in pages] == [10, 10, 5]
    assert sorted(seen) == sorted(i["deduplication_id"] for i in items)
    stamps = [e["ts"] for p in pages for e in p["data"]]
    assert stamps == sorted(stamps, reverse=True)
    # previous from the third page is the second page
    back = listing(api, contract, path=pages[2]["meta"]["page"]["previous"])
    assert dedups(back) == dedups(pages[1])
    # bare size/after are accepted too
    cursor = pages[0]["meta"]["page"]["next"].split("page%5Bafter%5D=")[1]
    bare = listing(
        api, contract, **{"filter[actor.type]": "integration", "size": 10, "after": cursor}
    )
    assert dedups(bare) == dedups(pages[1])
    # ascending paging yields the reverse order
    asc: list[str] = []
    page = listing(api, contract, **{**params, "sort": "ts asc"})
    asc += dedups(page)
    while page["meta"]["page"]["next"]:
        page = listing(api, contract, path=page["meta"]["page"]["next"])
        asc += dedups(page)
    assert asc == list(reversed(seen))


def test_service_events_and_audit_log(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    s = seed(server, api)
    a = s["a"]
    body = listing(
        api,
        contract,
        path=f"/v1/catalog-services/{a['id']}/integration-events",
        **{"page[size]": 100},
    )
    assert {e["service_id"] for e in body["data"]} == {a["id"]}
    assert sorted(dedups(body), key=str) == sorted(
        ["deploy-1", "deploy-3", "deploy-5", "v-0", "v-1", "v-2"], key=str
    )
    assert all(e["integration"] is not None for e in body["data"]), "no audit entries here"
    created = listing(
        api,
        contract,
        path="/v1/audit-log",
        **{"filter[service_id]": a["id"], "filter[type]": "catalog_service.created"},
    )
    assert [e["actor"]["type"] for e in created["data"]] == ["token"]
    narrowed = listing(
        api,
        contract,
        path=f"/v1/catalog-services/{a['id']}/integration-events",
        **{"filter[detail][contains]": "critical"},
    )
    assert dedups(narrowed) == ["v-0"]
    assert narrowed["meta"]["page"]["first"].startswith(
        f"/v1/catalog-services/{a['id']}/integration-events?"
    )
    contract.check(api.get(f"/v1/catalog-services/{uuid.uuid4()}/integration-events"), 404)
    by_name = listing(
        api, contract, path="/v1/catalog-services/svc-a/integration-events", **{"page[size]": 100}
    )
    assert dedups(by_name) == dedups(body)  # paths take the service's name too

    audit = listing(api, contract, path="/v1/audit-log", **{"page[size]": 100})
    assert [e["type"] for e in audit["data"]] == (
        ["integration_instance.created"] * 2 + ["catalog_service.created"] * 2
    )
    assert {e["service_id"] for e in audit["data"]} == {a["id"], s["b"]["id"], None}
    contract.check(api.get("/v1/audit-log", params={"filter[bogus]": "1"}), 400)


def test_lists_need_a_token(server: LiveServer, contract: Contract) -> None:
    with server.client(token="") as anon:
        contract.check(anon.get("/v1/integration-events"), 401)
        contract.check(anon.get("/v1/audit-log"), 401)
        contract.check(
            anon.post(
                f"/v1/integration-instances/{uuid.uuid4()}/integration-events",
                json={"data": [ev("x")]},
            ),
            401,
        )


# --- what the sync engine calls ------------------------------------------------------


def test_record_integration_events_fans_out_per_service_once(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    a = make_service(api, "fan-a")
    b = make_service(api, "fan-b")
    inst = make_instance(server, "tracer", "custom")
    events = [
        EventRecord(
            type="vulnerability.opened",
            deduplication_id=f"vuln-{n}",
            detail=f"Vulnerability {n} opened",
            attributes={"n": n},
            ts=T0 + dt.timedelta(minutes=n),
            link_html=None,
        )
        for n in range(3)
    ]
    sids = [uuid.UUID(a["id"]), uuid.UUID(b["id"])]
    with server.db.session() as s:
        stored = record_integration_events(
            s,
            instance=inst,
            resource_id="svc-res-00000001",
            binding="service",
            service_ids=sids,
            events=events,
        )
    assert stored == 6
    with server.db.session() as s:  # a later sync derives the same events: nothing new
        again = record_integration_events(
            s,
            instance=inst,
            resource_id="svc-res-00000001",
            binding="service",
            service_ids=sids,
            events=[*events, events[0]],
        )
    assert again == 0
    c = make_service(api, "fan-c")
    with server.db.session() as s:  # a new mapping gets its own copy; unmapped gets one
        assert (
            record_integration_events(
                s,
                instance=inst,
                resource_id="svc-res-00000001",
                binding="service",
                service_ids=[*sids, uuid.UUID(c["id"])],
                events=events,
            )
            == 3
        )
        assert (
            record_integration_events(
                s,
                instance=inst,
                resource_id="svc-res-00000002",
                binding="service",
                service_ids=[],
                events=events[:1],
            )
            == 1
        )
    per_b = listing(
        api,
        contract,
        path=f"/v1/catalog-services/{b['id']}/integration-events",
        **{"filter[actor.type]": "integration"},
    )
    assert [e["detail"] for e in per_b["data"]] == [f"Vulnerability {n} opened" for n in (2, 1, 0)]
    e0 = per_b["data"][-1]
    assert e0["binding"] == "service" and e0["resource_id"] == "svc-res-00000001"
    assert e0["attributes"] == {"n": 0} and e0["ts"] == "2026-01-01T12:00:00Z"
    assert e0["integration"]["instance"] == {
        "id": str(inst.id),
        "name": "tracer",
        "display_name": "Tracer",
    }
    everything = listing(
        api, contract, **{"filter[integration.instance.id]": str(inst.id), "page[size]": "100"}
    )
    assert len(everything["data"]) == 10
    assert sum(1 for e in everything["data"] if e["service_id"] is None) == 1


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_odd_input_is_a_client_error_never_a_500(
    server: LiveServer, api: httpx.Client, contract: Contract
) -> None:
    make_service(api, "odd")
    inst = make_instance(server)
    bodies = [
        ev("t1", ts="0001-01-01T00:00:00+14:00"),
        ev("t2", ts="9999-12-31T23:59:59-14:00"),
        ev("n1", detail="nul \x00 here"),
        ev("n2\x00"),
        ev("n3", attributes={"k\x00": "v"}),
        ev("n4", attributes={"k": "v\x00"}),
        ev("n5", service="odd\x00"),
        ev("n6", resource_id="\x00"),
        ev("big", attributes={"n": 10**400}),
        ev("deep", attributes={"a": nested(200)}),
        ev("huge", attributes={"blob": "x" * 70_000}),
        ev("u", detail="\ud800"),
    ]
    for body in bodies:  # sent as ASCII JSON: a lone surrogate travels as its \u escape
        resp = api.post(
            f"/v1/integration-instances/{inst.id}/integration-events",
            content=json.dumps({"data": [body]}),
            headers={"content-type": "application/json"},
        )
        assert resp.status_code in (202, 400), (body, resp.status_code, resp.text)
        if resp.status_code == 400:
            contract.check(resp, 400)
    for params in (
        {"filter[ts][gte]": "0001-01-01T00:00:00+14:00"},
        {"filter[ts][lte]": "9999-12-31T23:59:59-14:00"},
        {"filter[detail][contains]": "\x00"},
        {"filter[attributes.n][gt]": "1e400"},
        {"filter[attributes.a\x00]": "1"},
        {"page[after]": "W251bGwsbnVsbF0"},  # [null,null]
        {
            "page[before]": base64.urlsafe_b64encode(
                json.dumps([{"t": "0001-01-01T00:00:00+14:00"}, str(uuid.uuid4())]).encode()
            ).decode()
        },
        {"sort": "ts sideways"},
    ):
        resp = api.get("/v1/integration-events", params=params)
        assert resp.status_code in (200, 400), (params, resp.status_code, resp.text)
        if resp.status_code == 200:
            listing(api, contract, **params)
    # whatever was accepted lists cleanly
    listing(api, contract, **{"page[size]": "100"})
    contract.check(
        api.post(
            f"/v1/integration-instances/{inst.id}/integration-events",
            json={"data": [ev(f"m{n}") for n in range(1001)]},
        ),
        400,
    )
