"""The console's Resources, Integrations, Events and Audit pages over HTTP (a catalog on
loopback, signed in with a bearer token as a browser's session would be): bad input is a
page that says what is wrong, never a 500, and nothing of a stored secret is rendered."""

from __future__ import annotations

import httpx
import pytest

from conftest import LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HTML = {"accept": "text/html"}
SECRET = "inventory-secret-4f2a9c"


def get(api: httpx.Client, path: str) -> httpx.Response:
    return api.get(path, headers=HTML)


def test_bad_filters_and_cursors_are_said_on_the_page(api: httpx.Client) -> None:
    for path, says in (
        ("/resources?after=not-a-cursor", "is not a cursor this API issued"),
        ("/events?before=forged", "is not a cursor this API issued"),
        ("/audit?from=yesterday", "From must be a date (YYYY-MM-DD)."),
    ):
        resp = get(api, path)
        assert resp.status_code == 200, (path, resp.text)
        assert says in resp.text, path


def test_unknown_things_are_404_pages(api: httpx.Client) -> None:
    for path in (
        "/integrations/no-such-integration/install",
        "/integrations/instances/7b0c6a2e-0000-4000-8000-000000000000",
        "/integrations/instances/not-an-id/progress",
    ):
        resp = get(api, path)
        assert resp.status_code == 404, (path, resp.text)
        assert "text/html" in resp.headers["content-type"]


def test_an_instance_page_never_renders_its_secret(server: LiveServer, api: httpx.Client) -> None:
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "rest-inventory",
            "name": "inventory",
            "display_name": "Inventory",
            "config": {"base_url": "http://127.0.0.1:9"},
        },
    )
    assert resp.status_code == 201, resp.text
    iid = resp.json()["id"]
    # the upstream is unreachable: stored unverified, and the page says what to do
    resp = api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": SECRET}]},
        },
    )
    assert resp.status_code == 201, resp.text
    for path in (f"/integrations/instances/{iid}", f"/integrations/instances/{iid}/uninstall"):
        page = get(api, path)
        assert page.status_code == 200, page.text
        assert SECRET not in page.text
    text = get(api, f"/integrations/instances/{iid}").text
    assert "Connection not verified" in text
    assert "What to do:" in text


def test_live_endpoints_only_of_a_resource_mapped_to_the_service(api: httpx.Client) -> None:
    resp = api.post("/v1/catalog-services", json={"name": "svc", "display_name": "Svc"})
    assert resp.status_code == 201, resp.text
    sid = resp.json()["id"]
    resp = api.post(
        "/v1/integration-instances",
        json={"integration_name": "custom", "name": "push", "display_name": "Push", "config": {}},
    )
    iid = resp.json()["id"]
    resp = api.put(
        f"/v1/integration-instances/{iid}/resources",
        json={"data": [{"name": "r1", "type": "custom_resource", "config": {"id": "r1"}}]},
    )
    assert resp.status_code == 200, resp.text
    rid = resp.json()["data"][0]["id"]
    resp = get(api, f"/services/{sid}/traceable/{rid}/endpoints")
    assert resp.status_code == 404
    assert "is not mapped to svc" in resp.text
