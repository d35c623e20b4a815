"""A service's dependencies, their graph and its APIs in the console, in a real browser
(Debian's Chromium driven by Playwright, a catalog on loopback): a chain of three services
drawn as a graph by depth columns, adding (through a refused target), confirming and
removing dependencies as a Service Admin, no edit controls for a Service Viewer, and an
API mapped to the service whose page outlines its specification offline, everything in it
escaped. axe-core finds no serious or critical violation on either page."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import LiveServer
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database
from sync_support import create_instance
from test_console_browser import no_serious_violations, sign_in
from test_dependencies_api import _gateway_service, _token, dep, svc

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

HOSTILE = '<img src=x onerror="document.title=1">'
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Orders", "version": "1.2.0", "description": f"Orders. {HOSTILE}"},
    "servers": [{"url": "https://orders.example.com/v1"}],
    "paths": {
        "/orders/{orderId}": {
            "parameters": [
                {"name": "orderId", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "summary": "Fetch an order",
                "operationId": "getOrder",
                "parameters": [{"$ref": "#/components/parameters/Expand"}],
                "responses": {"200": {"description": "The order"}, "404": {"description": "None"}},
            },
            "delete": {"summary": f"Cancel {HOSTILE}", "responses": {"204": {"description": ""}}},
        },
        "/orders": {
            "post": {
                "summary": "Place an order",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"201": {"description": "Placed"}},
            }
        },
    },
    "components": {
        "parameters": {
            "Expand": {
                "name": "expand",
                "in": "query",
                "description": "Related objects to include",
                "schema": {"type": "array", "items": {"type": "string"}},
            }
        }
    },
}


def test_a_chain_its_graph_its_edits_and_an_api_page(
    page: Page, server: LiveServer, api: httpx.Client, db: Database
) -> None:
    web, orders, _billing = (svc(api, n) for n in ("web", "orders", "billing"))
    svc(api, "payments")
    dep(api, "web", "orders", "calls")
    dep(api, "orders", "billing", "reads-from")
    # a proposal from Kong Gateway data: orders' gateway service points at payments
    _gateway_service(db, create_instance(api, "gw")["id"], orders, "payments.internal", 1)
    assert api.post("/v1/dependency-proposals", json={}).status_code == 200
    made = api.post("/v3/apis", json={"name": "Orders API", "spec_content": json.dumps(SPEC)})
    assert made.status_code == 201, made.text
    aid = made.json()["id"]
    mapped = api.post(f"/v1/catalog-services/{orders}/api-mappings", json={"api_id": aid})
    assert mapped.status_code == 201, mapped.text

    sign_in(page, server, server.token(), f"/services/{orders}")
    section = page.locator("#dependencies")
    graph = section.get_by_role("img", name=re.compile("Dependency graph around ORDERS"))
    expect(graph).to_be_visible()
    nodes = graph.locator(".dep-node")
    expect(nodes).to_have_count(4)  # web, orders, billing, payments (proposed)
    expect(nodes.locator("text")).to_have_text(["WEB", "ORDERS", "BILLING", "PAYMENTS"])
    # depth columns: web left of orders, left of what orders depends on
    xs = {
        n: float(graph.locator(f'[data-service="{n}"] rect').get_attribute("x") or "nan")
        for n in ("web", "orders", "billing", "payments")
    }
    assert xs["web"] < xs["orders"] < xs["billing"] == xs["payments"], xs
    expect(graph.locator("path.dep-edge")).to_have_count(3)
    expect(graph.locator("path.dep-edge[stroke-dasharray]")).to_have_count(1)  # the proposal
    expect(section.get_by_role("link", name="WEB")).to_be_visible()  # depended on by
    expect(section.get_by_text("proposed", exact=True)).to_be_visible()

    apis = page.locator("#apis")
    expect(apis.get_by_role("link", name="Orders API")).to_be_visible()
    no_serious_violations(page)

    # confirm the proposal; add one through a refused target; remove it
    section.get_by_role("button", name="Confirm the dependency on PAYMENTS").click()
    expect(page.get_by_text("Dependency confirmed.")).to_be_visible()
    expect(graph.locator("path.dep-edge[stroke-dasharray]")).to_have_count(0)
    page.get_by_label("Service it depends on").fill("no-such-service")
    page.get_by_role("button", name="Add dependency").click()
    target = page.locator("#f-target")
    expect(target).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-target-error")).to_contain_text("no-such-service")
    target.fill("web")
    page.locator("#f-label").fill("notifies")
    page.get_by_role("button", name="Add dependency").click()
    expect(page.get_by_text("Dependency added.")).to_be_visible()
    expect(section.get_by_role("link", name="WEB")).to_have_count(2)  # both ways: a cycle
    rows = api.get(f"/v1/catalog-services/{orders}/dependencies").json()["data"]
    assert sorted((r["service"]["name"], r["label"], r["status"]) for r in rows) == [
        ("billing", "reads-from", "confirmed"),
        ("payments", "calls", "confirmed"),
        ("web", "notifies", "confirmed"),
    ]
    section.get_by_role("button", name="Remove the dependency on WEB").click()
    expect(page.get_by_text("Dependency removed.")).to_be_visible()
    assert len(api.get(f"/v1/catalog-services/{orders}/dependencies").json()["data"]) == 2

    # the API's page outlines its specification; nothing in it is markup
    apis.get_by_role("link", name="Orders API").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Orders API")
    ops = page.locator("details.operation summary")
    expect(ops).to_have_count(3)
    expect(ops.nth(0)).to_contain_text("GET")
    expect(ops.nth(0)).to_contain_text("/orders/{orderId}")
    expect(ops.nth(0)).to_contain_text("Fetch an order")
    expect(ops.nth(2)).to_contain_text("Place an order")
    ops.nth(0).click()
    params = page.locator("details.operation").nth(0).locator("tbody tr")
    expect(params).to_have_count(2)
    expect(params.nth(0)).to_contain_text("orderId")
    expect(params.nth(1)).to_contain_text("array of string")
    expect(params.nth(1)).to_contain_text("Related objects to include")
    expect(page.get_by_text("https://orders.example.com/v1")).to_be_visible()
    expect(page.get_by_role("link", name="ORDERS")).to_be_visible()  # provided by
    expect(page.locator("main img")).to_have_count(0)
    expect(page.get_by_text(HOSTILE).first).to_be_visible()
    assert page.title() != "1"
    no_serious_violations(page)

    # a Service Viewer of orders and billing sees those two, with no edit control
    viewer = _token(server, "viewer", "Service Viewer", orders)
    with server.db.session() as s:
        create_token(s, name="viewer", role="Service Viewer", entity_id=_billing)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, viewer, f"/services/{orders}")
    section = page.locator("#dependencies")
    expect(section.locator(".dep-node text")).to_have_text(["ORDERS", "BILLING"])
    expect(section.get_by_role("link", name="BILLING")).to_be_visible()
    expect(section.locator("form")).to_have_count(0)
    expect(section.get_by_role("button")).to_have_count(0)
    expect(page.get_by_text("No service you can see depends on ORDERS.")).to_be_visible()
    no_serious_violations(page)
    resp = httpx.get(
        f"{server.url}/services/{web}",
        headers={"Authorization": f"Bearer {viewer}", "accept": "text/html"},
    )
    assert resp.status_code == 404
