"""The console's APIs pages over HTTP (a catalog on loopback, signed in with a bearer
token as a browser's session would be): AsyncAPI 2 and 3 documents outlined by channel,
hostile text escaped, the list, and the services providing an API limited to those the
reader may see."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from test_dependencies_api import _token, svc

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HTML = {"accept": "text/html"}
HOSTILE = "<script>alert(1)</script>"
ASYNC2 = f"""
asyncapi: 2.6.0
info: {{title: Order events, version: '2'}}
channels:
  orders/placed:
    description: "Each placed order {HOSTILE}"
    subscribe:
      operationId: onOrderPlaced
      summary: An order was placed
      message: {{$ref: '#/components/messages/OrderPlaced'}}
components:
  messages:
    OrderPlaced: {{name: OrderPlaced}}
"""
ASYNC3 = {
    "asyncapi": "3.0.0",
    "info": {"title": "Shipments", "version": "1"},
    "channels": {
        "shipped": {"address": "shipments.shipped", "messages": {"Shipped": {"name": "Shipped"}}}
    },
    "operations": {
        "sendShipped": {
            "action": "send",
            "channel": {"$ref": "#/channels/shipped"},
            "summary": "Tell the world",
        }
    },
}


def _api(api: httpx.Client, name: str, spec: str) -> dict[str, Any]:
    resp = api.post("/v3/apis", json={"name": name, "spec_content": spec})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_asyncapi_documents_are_outlined_by_channel(api: httpx.Client) -> None:
    two = _api(api, "Order events", ASYNC2)
    page = api.get(f"/apis/{two['id']}", headers=HTML)
    assert page.status_code == 200, page.text
    for text in ("orders/placed", "subscribe", "onOrderPlaced", "An order was placed"):
        assert text in page.text, text
    assert "message OrderPlaced" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text

    three = _api(api, "Shipments", json.dumps(ASYNC3))
    page = api.get(f"/apis/{three['id']}", headers=HTML)
    for text in ("shipments.shipped", "send", "sendShipped", "Tell the world", "Shipped"):
        assert text in page.text, text

    listing = api.get("/apis", headers=HTML)
    assert listing.status_code == 200
    assert "Order events" in listing.text and "Shipments" in listing.text
    assert "Shipments" not in api.get("/apis?q=order", headers=HTML).text
    assert api.get("/apis/not-an-id", headers=HTML).status_code == 404


def test_an_api_page_names_only_the_providers_its_reader_sees(
    server: LiveServer, api: httpx.Client
) -> None:
    seen, hidden = svc(api, "seen"), svc(api, "hidden")
    made = _api(api, "Shared", ASYNC2)
    for sid in (seen, hidden):
        resp = api.post(f"/v1/catalog-services/{sid}/api-mappings", json={"api_id": made["id"]})
        assert resp.status_code == 201, resp.text
    viewer = _token(server, "viewer", "Service Viewer", seen)
    with server.client(viewer) as v:
        page = v.get(f"/apis/{made['id']}", headers=HTML)
        assert page.status_code == 200, page.text
        assert f"/services/{seen}" in page.text
        assert f"/services/{hidden}" not in page.text and "HIDDEN" not in page.text
        # the service page lists its APIs; another's page is a 404
        assert "/apis/" + made["id"] in v.get(f"/services/{seen}", headers=HTML).text
        assert v.get(f"/services/{hidden}", headers=HTML).status_code == 404
