"""The Kong Gateway simulator answers as Kong's Admin API and Konnect do: every answer the
connector relies on validates against ``tests/contracts/gateway_manager/kong-admin-subset.json``
(the subset of Kong's published Admin API description), paging follows ``next``/``offset``
to the end with every entity once, and faults and the control endpoint work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from service_catalog.testing.gateway_manager_sim import GatewaySimulator

SUBSET = json.loads(
    (Path(__file__).parent / "contracts" / "gateway_manager" / "kong-admin-subset.json").read_text()
)
TOKEN = "admin-token-123456"


def check(body: Any, name: str) -> None:
    schema = {"$defs": SUBSET["$defs"], **SUBSET.get(name, {"$ref": f"#/$defs/{name}"})}
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture
def gw() -> Iterator[GatewaySimulator]:
    with GatewaySimulator(
        7, 2, 3, admin_token=TOKEN, workspaces=["default", "team-a"], global_plugins=2
    ) as sim:
        yield sim


def walk(client: httpx.Client, path: str, size: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"size": size}
    while True:
        resp = client.get(path, params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        check(body, "envelope")
        out += body["data"]
        if body["next"] is None:
            assert "offset" not in body
            return out
        assert body["next"].startswith(path)
        params = {"size": size, "offset": body["offset"]}


@pytest.mark.parametrize("prefix", ["", "/team-a"])
def test_every_listing_validates_and_pages_to_the_end(gw: GatewaySimulator, prefix: str) -> None:
    with httpx.Client(base_url=gw.url, headers={"Kong-Admin-Token": TOKEN}) as client:
        root = client.get("/").json()
        check(root, "root")
        for entity, count in (("services", 7), ("routes", 14), ("plugins", 21)):
            items = walk(client, f"{prefix}/{entity}", 3)
            extra = 2 if entity == "plugins" and not prefix else 0
            assert len({i["id"] for i in items}) == len(items) == count + extra
            for item in items:
                check(item, entity[:-1])
        workspaces = client.get("/workspaces").json()
        check(workspaces, "envelope")
        for ws in workspaces["data"]:
            check(ws, "workspace")


def test_konnect_shapes(gw: GatewaySimulator) -> None:
    headers = {"Authorization": f"Bearer {gw.konnect_token}"}
    with httpx.Client(base_url=gw.url, headers=headers) as client:
        cp = client.get(f"/v2/control-planes/{gw.control_plane_id}")
        check(cp.json(), "control_plane")
        base = f"/v2/control-planes/{gw.control_plane_id}/core-entities"
        assert len(walk(client, f"{base}/services", 1000)) == 7
        missing = client.get("/v2/control-planes/other")
        assert missing.status_code == 404
        check(missing.json(), "error")
    assert httpx.get(f"{gw.url}/v2/control-planes/{gw.control_plane_id}").status_code == 401


def test_errors_and_faults(gw: GatewaySimulator) -> None:
    with httpx.Client(base_url=gw.url, headers={"Kong-Admin-Token": TOKEN}) as client:
        for params, status in (({"size": 1001}, 400), ({"offset": "!!"}, 400)):
            resp = client.get("/services", params=params)
            assert resp.status_code == status
            check(resp.json(), "error")
        bad = httpx.get(f"{gw.url}/services", headers={"Kong-Admin-Token": "wrong"})
        assert bad.status_code == 401
        check(bad.json(), "error")
        gw.forbidden = {"/plugins"}
        assert client.get("/plugins").status_code == 403
        gw.forbidden = set()
        gw.retry_after = "0"
        gw.rate_limit_next = 1
        limited = client.get("/services")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "0"
        gw.fail_on("/routes", page=2, status=502, times=1)
        assert client.get("/routes", params={"size": 5}).status_code == 200
        second = client.get("/routes", params={"size": 5, "offset": gw_offset(client, "/routes")})
        assert second.status_code == 502
        gw.truncate_on("/services", page=1)
        with pytest.raises(ValueError):
            json.loads(client.get("/services").content)
        # The control endpoint: revoke every credential, then restore.
        assert client.post("/__sim/control", json={"reject_all": True}).status_code == 200
        assert client.get("/").status_code == 401
        assert client.post("/__sim/control", json={"reject_all": False}).status_code == 200
        assert client.post("/__sim/control", json={"nope": 1}).status_code == 400
    assert all("Kong-Admin-Token" not in str(r) for r in gw.requests)


def gw_offset(client: httpx.Client, path: str) -> str:
    return str(client.get(path, params={"size": 5}).json()["offset"])


def test_open_source_kong_has_no_workspaces() -> None:
    with GatewaySimulator(2) as sim:
        assert httpx.get(f"{sim.url}/workspaces").status_code == 404
        assert len(httpx.get(f"{sim.url}/services").json()["data"]) == 2
