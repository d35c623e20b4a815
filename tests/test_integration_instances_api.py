"""/v1/integration-instances over HTTP, on SQLite and PostgreSQL, validated against the
contract: CRUD, config validation against the integration's config_schema, filters, sort,
paging, the audit trail, and deleting an instance with its resources and mappings."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import func, select

from contract import Contract
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.db import Database
from service_catalog.core.errors import Problem
from service_catalog.events.models import Event
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.config import ConnectorConfig, setting
from service_catalog.integrations.models import AuthCredential, IntegrationInstance
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.testing.inventory_sim import InventorySimulator

URL = "/v1/integration-instances"
INV = "rest-inventory"


def create(api: httpx.Client, contract: Contract, **body: Any) -> dict[str, Any]:
    body.setdefault("integration_name", "custom")
    body.setdefault("display_name", body["name"].title())
    body.setdefault("config", {})
    return contract.check(api.post(URL, json=body), 201, response="IntegrationInstanceResponse")


def rules(problem: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["field"], p.get("rule")) for p in problem["invalid_parameters"]]


def test_create_get_patch_delete(api: httpx.Client, contract: Contract) -> None:
    inst = create(
        api,
        contract,
        name="pushed",
        display_name="Pushed things",
        description="From CI",
        labels={"env": "prod"},
    )
    assert inst["integration"] == {"name": "custom", "display_name": "Custom"}
    assert inst["authorized"] is True  # push-only: authorized on creation
    assert inst["labels"] == {"env": "prod"} and inst["config"] == {}
    uuid.UUID(inst["id"])
    got = contract.check(
        api.get(f"{URL}/{inst['id']}"), 200, response="IntegrationInstanceResponse"
    )
    assert got == inst
    patched = contract.check(
        api.patch(
            f"{URL}/{inst['id']}",
            json={
                "display_name": "Pushed",
                "description": None,
                "labels": {"env": None, "team": "core"},
            },
        ),
        200,
        response="IntegrationInstanceResponse",
    )
    assert patched["display_name"] == "Pushed" and patched["description"] is None
    assert patched["labels"] == {"team": "core"}
    assert patched["updated_at"] >= inst["updated_at"]
    assert patched["created_at"] == inst["created_at"]
    renamed = contract.check(
        api.patch(f"{URL}/{inst['id']}", json={"name": "pushed-2"}),
        200,
        response="IntegrationInstanceResponse",
    )
    assert renamed["name"] == "pushed-2"
    assert api.delete(f"{URL}/{inst['id']}").status_code == 204
    contract.check(api.get(f"{URL}/{inst['id']}"), 404)
    contract.check(api.delete(f"{URL}/{inst['id']}"), 404)
    contract.check(api.patch(f"{URL}/{inst['id']}", json={"display_name": "x"}), 404)


def test_unknown_ids_are_404(api: httpx.Client, contract: Contract) -> None:
    for ident in ("not-a-uuid", str(uuid.uuid4())):
        body = contract.check(api.get(f"{URL}/{ident}"), 404)
        assert ident in body["detail"]


def test_duplicate_name_is_409(api: httpx.Client, contract: Contract) -> None:
    create(api, contract, name="dup")
    other = create(api, contract, name="other")
    body = contract.check(
        api.post(
            URL,
            json={"integration_name": "custom", "name": "dup", "display_name": "D", "config": {}},
        ),
        409,
    )
    assert "dup" in body["detail"]
    body = contract.check(api.patch(f"{URL}/{other['id']}", json={"name": "dup"}), 409)
    assert "dup" in body["detail"]
    assert api.get(f"{URL}/{other['id']}").json()["name"] == "other"


def test_unknown_integration_is_400_naming_it(api: httpx.Client, contract: Contract) -> None:
    body = contract.check(
        api.post(
            URL, json={"integration_name": "nope", "name": "x", "display_name": "X", "config": {}}
        ),
        400,
    )
    assert "nope" in body["detail"]
    assert body["invalid_parameters"][0]["field"] == "integration_name"
    assert "rest-inventory" in body["invalid_parameters"][0]["choices"]


def test_body_rules(api: httpx.Client, contract: Contract) -> None:
    base = {"integration_name": "custom", "name": "ok", "display_name": "OK", "config": {}}
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({**base, "name": "Bad Name"}, ("name", "matches_regex")),
        ({**base, "name": ""}, ("name", "min_length")),
        ({**base, "name": "a" * 121}, ("name", "max_length")),
        ({**base, "display_name": ""}, ("display_name", "min_length")),
        ({**base, "description": "x" * 2049}, ("description", "max_length")),
        ({**base, "labels": {"kong-x": "v"}}, ("labels.kong-x", "is_label")),
        ({**base, "extra": 1}, ("extra", "unknown_property")),
        ({**base, "authorized": True}, ("authorized", "unknown_property")),
        ({k: v for k, v in base.items() if k != "config"}, ("config", "required")),
        (
            {k: v for k, v in base.items() if k != "integration_name"},
            ("integration_name", "required"),
        ),
        ({**base, "config": [1]}, ("config", "is_object")),
    ]
    for body, expected in cases:
        problem = contract.check(api.post(URL, json=body), 400)
        assert expected in rules(problem), (body, problem)
    for raw in (b"{", b"[]", b"null", "\udcff".encode("utf-8", "surrogatepass")):
        contract.check(
            api.post(URL, content=raw, headers={"content-type": "application/json"}), 400
        )
    assert api.get(URL).json()["meta"]["page"]["total"] == 0


def test_config_is_validated_against_the_config_schema(
    api: httpx.Client, contract: Contract
) -> None:
    inst = create(
        api,
        contract,
        name="inv",
        integration_name=INV,
        config={"base_url": "http://127.0.0.1:9/api"},
    )
    # the config as sent (defaults apply where it is used, they are not echoed: a client
    # comparing what it sent sees no drift), not authorized until a credential is accepted
    assert inst["config"] == {"base_url": "http://127.0.0.1:9/api"}
    assert api.get(f"{URL}/{inst['id']}").json()["config"] == inst["config"]
    assert inst["authorized"] is False
    body = {"integration_name": INV, "name": "inv2", "display_name": "I"}
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({}, ("config.base_url", "required")),
        ({"base_url": None}, ("config.base_url", "required")),
        ({"base_url": 5}, ("config.base_url", "is_string")),
        ({"base_url": "http://x", "page_size": "100"}, ("config.page_size", "is_integer")),
        ({"base_url": "http://x", "page_size": True}, ("config.page_size", "is_integer")),
        ({"base_url": "http://x", "page_size": 0}, ("config.page_size", "min")),
        ({"base_url": "http://x", "page_size": 1001}, ("config.page_size", "max")),
        ({"base_url": "http://x", "sync_interval": 1}, ("config.sync_interval", "min")),
        ({"base_url": "http://x", "colour": "red"}, ("config.colour", "unknown_property")),
        ({"base_url": "x" * 3000}, ("config.base_url", "max_length")),
    ]
    for config, expected in cases:
        problem = contract.check(api.post(URL, json={**body, "config": config}), 400)
        assert expected in rules(problem), (config, problem)
        assert problem["detail"].startswith(f"Invalid request: {expected[0]}")
    # several faults are all named
    problem = contract.check(
        api.post(URL, json={**body, "config": {"page_size": "x", "zzz": 1}}), 400
    )
    assert {"config.zzz", "config.page_size", "config.base_url"} <= {f for f, _ in rules(problem)}
    # custom has no config fields: any key is unknown
    problem = contract.check(
        api.post(
            URL,
            json={
                "integration_name": "custom",
                "name": "c",
                "display_name": "C",
                "config": {"a": 1},
            },
        ),
        400,
    )
    assert ("config.a", "unknown_property") in rules(problem)
    ok = create(
        api,
        contract,
        name="inv3",
        integration_name=INV,
        config={"base_url": "http://h", "page_size": 1000, "sync_interval": 60},
    )
    assert ok["config"]["page_size"] == 1000 and ok["config"]["sync_interval"] == 60


def test_enum_and_boolean_fields(api: httpx.Client, contract: Contract) -> None:
    class RegionConfig(ConnectorConfig):
        region: Literal["eu", "us"] = setting(
            display_name="Region", description="Where.", choices={"eu": "EU", "us": "US"}
        )
        flag: bool = setting(False, display_name="Flag", description="A flag.")

    integ = registry.Integration(
        name="t",
        display_name="T",
        description="",
        connector=None,
        config=RegionConfig,
        module="test",
    )
    assert integ.config_schema["region"]["choices"] == [
        {"value": "eu", "display_name": "EU"},
        {"value": "us", "display_name": "US"},
    ]
    assert integ.config_schema["region"]["required"] is True
    assert registry.validate_config(integ, {"region": "eu"}) == {"region": "eu"}
    assert registry.effective_config(integ, {"region": "eu"}) == {"region": "eu", "flag": False}
    assert registry.validate_config(integ, {"region": "us", "flag": True})["flag"] is True
    for config, rule in (
        ({"region": "mars"}, "enum"),
        ({"region": "eu", "flag": "yes"}, "is_boolean"),
        ({}, "required"),
    ):
        with pytest.raises(Problem) as err:
            registry.validate_config(integ, config)
        assert err.value.invalid_parameters is not None, config
        assert err.value.invalid_parameters[0]["rule"] == rule, config


def test_patch_config_merges_and_is_validated(api: httpx.Client, contract: Contract) -> None:
    inst = create(
        api,
        contract,
        name="inv",
        integration_name=INV,
        config={"base_url": "http://a", "page_size": 10},
    )
    path = f"{URL}/{inst['id']}"
    merged = contract.check(
        api.patch(path, json={"config": {"page_size": 50}}),
        200,
        response="IntegrationInstanceResponse",
    )
    assert merged["config"]["base_url"] == "http://a" and merged["config"]["page_size"] == 50
    back = api.patch(path, json={"config": {"page_size": None}}).json()
    assert back["config"] == {"base_url": "http://a"}  # null removes: the default applies
    # unauthorized: base_url may change
    moved = api.patch(path, json={"config": {"base_url": "http://b"}}).json()
    assert moved["config"]["base_url"] == "http://b"
    for config, expected in (
        ({"base_url": None}, ("config.base_url", "required")),
        ({"page_size": "x"}, ("config.page_size", "is_integer")),
        ({"nope": 1}, ("config.nope", "unknown_property")),
        ({"nope": None}, ("config.nope", "unknown_property")),
    ):
        problem = contract.check(api.patch(path, json={"config": config}), 400)
        assert expected in rules(problem), (config, problem)
    for body, field in (
        ({"config": None}, "config"),
        ({"name": None}, "name"),
        ({"display_name": None}, "display_name"),
        ({"authorized": True}, "authorized"),
    ):
        problem = contract.check(api.patch(path, json=body), 400)
        assert problem["invalid_parameters"][0]["field"] == field
    assert api.get(path).json()["config"] == moved["config"]


def test_immutable_fields_once_authorized(api: httpx.Client, contract: Contract) -> None:
    with InventorySimulator(items=1, token="tok") as sim:
        inst = create(api, contract, name="inv", integration_name=INV, config={"base_url": sim.url})
        path = f"{URL}/{inst['id']}"
        cred = api.post(
            f"{path}/auth-credential",
            json={
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": "tok"}]},
            },
        )
        assert cred.status_code == 201, cred.text
        assert api.get(path).json()["authorized"] is True
        problem = contract.check(
            api.patch(path, json={"config": {"base_url": "http://other"}}), 400
        )
        assert ("config.base_url", "invalid") in rules(problem)
        assert "authorized" in problem["detail"]
        # the same value, and other fields, are fine
        same = api.patch(path, json={"config": {"base_url": sim.url, "page_size": 7}})
        assert same.status_code == 200 and same.json()["config"]["page_size"] == 7
        # once unauthorized again, it may change
        assert api.delete(f"{path}/auth-credential").status_code == 204
        moved = api.patch(path, json={"config": {"base_url": "http://other"}})
        assert moved.status_code == 200 and moved.json()["authorized"] is False


def test_list_filters_sort_and_paging(api: httpx.Client, contract: Contract) -> None:
    for i in range(6):
        create(
            api,
            contract,
            name=f"push-{i}",
            display_name=f"Push {i}",
            labels={"tier": "gold" if i % 2 else "silver"},
        )
    for i in range(3):
        create(
            api,
            contract,
            name=f"inv-{i}",
            display_name=f"Inv {i}",
            integration_name=INV,
            config={"base_url": "http://x"},
        )
    everything = contract.check(
        api.get(URL, params={"page[size]": 100}), 200, response="ListIntegrationInstancesResponse"
    )
    assert everything["meta"]["page"] == {"number": 1, "size": 100, "total": 9}
    # default sort: integration.display_name ("Custom" < "REST Inventory")
    integrations = [i["integration"]["name"] for i in everything["data"]]
    assert integrations == ["custom"] * 6 + [INV] * 3

    def names(**params: Any) -> list[str]:
        body = contract.check(
            api.get(URL, params={"page[size]": 100, **params}),
            200,
            response="ListIntegrationInstancesResponse",
        )
        return [i["name"] for i in body["data"]]

    assert sorted(names(**{"filter[integration.name]": INV})) == ["inv-0", "inv-1", "inv-2"]
    assert len(names(**{"filter[integration.display_name][contains]": "invent"})) == 3
    assert len(names(**{"filter[integration.display_name]": "Custom"})) == 6
    assert len(names(**{"filter[authorized]": "true"})) == 6
    assert len(names(**{"filter[authorized]": "false"})) == 3
    assert sorted(names(**{"filter[labels.tier]": "gold"})) == ["push-1", "push-3", "push-5"]
    assert len(names(**{"filter[labels.tier][neq]": "gold"})) == 6
    assert names(**{"filter[name][oeq]": "push-0,inv-2", "sort": "name"}) == ["inv-2", "push-0"]
    assert names(**{"filter[display_name][contains]": "push 4"}) == ["push-4"]
    assert (
        len(
            names(
                **{
                    "filter[created_at][gte]": everything["data"][0]["created_at"][:4]
                    + "-01-01T00:00:00Z"
                }
            )
        )
        == 9
    )
    assert names(**{"filter[updated_at][lt]": "2000-01-01T00:00:00Z"}) == []
    assert names(sort="name desc")[:2] == ["push-5", "push-4"]
    assert names(sort="integration.display_name desc,name")[0] == "inv-0"
    assert names(sort="created_at")[0] == "push-0"
    page = contract.check(
        api.get(URL, params={"page[size]": 4, "page[number]": 3, "sort": "name"}),
        200,
        response="ListIntegrationInstancesResponse",
    )
    assert page["meta"]["page"] == {"number": 3, "size": 4, "total": 9}
    assert [i["name"] for i in page["data"]] == ["push-5"]
    for params, field in (
        ({"filter[nope]": "x"}, "filter[nope]"),
        ({"filter[authorized]": "maybe"}, "filter[authorized]"),
        ({"filter[created_at][gt]": "yesterday"}, "filter[created_at][gt]"),
        ({"sort": "config"}, "sort"),
        ({"page[size]": "2000"}, "page[size]"),
    ):
        problem = contract.check(api.get(URL, params=params), 400)
        assert problem["invalid_parameters"][0]["field"] == field


def test_audit_trail_records_create_update_delete(
    api: httpx.Client, contract: Contract, db: Database
) -> None:
    inst = create(api, contract, name="audited")
    api.patch(f"{URL}/{inst['id']}", json={"display_name": "Audited!"})
    api.patch(f"{URL}/{inst['id']}", json={"display_name": "Audited!"})  # no change: no entry
    api.delete(f"{URL}/{inst['id']}")
    with db.session() as s:
        rows = list(
            s.scalars(
                select(Event).where(Event.type.like("integration_instance.%")).order_by(Event.ts)
            )
        )
    assert [r.type for r in rows] == [
        "integration_instance.created",
        "integration_instance.updated",
        "integration_instance.deleted",
    ]
    assert all(r.actor_type == "token" and r.actor_name == "test" for r in rows)
    assert rows[1].attributes["changed"] == ["display_name"]
    assert "audited" in rows[2].detail


def _seed_resources(db: Database, instance_id: str) -> tuple[str, uuid.UUID]:
    iid = uuid.UUID(instance_id)
    with db.session() as s:
        svc = CatalogService(name=f"svc-{instance_id[:8]}", display_name="Svc")
        s.add(svc)
        s.flush()
        for n in range(3):
            rid = f"{instance_id[:12]}{n:04d}"
            s.add(
                Resource(
                    id=rid,
                    instance_id=iid,
                    integration_name="custom",
                    type="custom_resource",
                    config={"id": str(n)},
                    name=f"r{n}",
                )
            )
            s.flush()
            s.add(ResourceMapping(service_id=svc.id, resource_id=rid))
        s.add(AuthCredential(instance_id=iid, type="aws_role_delegation", public={}, secret=""))
        return rid, svc.id


def test_delete_removes_resources_and_mappings_in_one_go(
    api: httpx.Client, contract: Contract, db: Database
) -> None:
    gone = create(api, contract, name="gone")
    kept = create(api, contract, name="kept")
    _seed_resources(db, gone["id"])
    kept_rid, _svc_id = _seed_resources(db, kept["id"])
    assert api.delete(f"{URL}/{gone['id']}").status_code == 204
    with db.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(Resource)
                .where(Resource.instance_id == uuid.UUID(gone["id"]))
            )
            == 0
        )
        assert s.scalar(select(func.count()).select_from(ResourceMapping)) == 3
        assert s.scalar(select(func.count()).select_from(AuthCredential)) == 1
        assert s.scalar(select(func.count()).select_from(Resource)) == 3
        # the catalog service of the deleted instance's mappings stays
        assert s.scalar(select(func.count()).select_from(CatalogService)) == 2
        assert s.get(Resource, kept_rid) is not None
        assert s.get(IntegrationInstance, uuid.UUID(kept["id"])) is not None
    assert api.get(f"{URL}/{kept['id']}").status_code == 200
