"""The web console in a real browser: Debian's Chromium, headless, driven by Playwright
against a catalog served on loopback. Sign-in with a token (and a bad one refused), CSRF
rejection, creating a service through a validation error, mapping a resource through the
picker, signing out; axe-core finds no serious or critical violation on Home, the services
list and a service's page. Each test's final page is saved under
``<pytest base temp>/screenshots/``."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from browser import serious_violations
from conftest import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


def sign_in(page: Page, server: LiveServer, token: str, path: str = "/") -> None:
    """Open ``path``, get sent to the sign-in page, sign in with ``token`` and come back."""
    page.goto(server.url + path)
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def no_serious_violations(page: Page) -> None:
    violations = serious_violations(page)
    assert violations == [], violations


def push_resources(api: httpx.Client, names: list[str]) -> None:
    """A custom integration instance holding resources named ``names``."""
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "custom",
            "name": "inventory",
            "display_name": "Inventory",
            "config": {},
        },
    )
    assert resp.status_code == 201, resp.text
    items = [
        {"name": n, "type": "custom_resource", "config": {"id": n}, "integration_data": {}}
        for n in names
    ]
    resp = api.put(f"/v1/integration-instances/{resp.json()['id']}/resources", json={"data": items})
    assert resp.status_code == 200, resp.text


def test_sign_in_with_a_token_comes_back_and_signs_out(page: Page, server: LiveServer) -> None:
    token = server.token("console-admin")
    sign_in(page, server, token, "/services")
    expect(page).to_have_url(server.url + "/services")
    expect(page.get_by_role("heading", name="Services", level=1)).to_be_visible()
    expect(page.get_by_text("No services yet")).to_be_visible()
    expect(page.locator(".who-name")).to_have_text("console-admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sc_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert token not in cookie["value"]
    no_serious_violations(page)

    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    expect(page.get_by_text("No integrations yet")).to_be_visible()
    no_serious_violations(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    # the session is over: the old cookie no longer opens a page
    resp = httpx.get(
        server.url + "/", cookies={"sc_session": cookie["value"]}, follow_redirects=False
    )
    assert resp.status_code == 303 and resp.headers["location"].startswith("/sign-in")
    page.goto(server.url + "/services")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fservices"))


def test_a_bad_token_is_refused_with_a_message(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("API token").fill("spat_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("not accepted")
    expect(page.get_by_label("API token")).to_have_attribute("aria-invalid", "true")
    assert not any(c["name"] == "sc_session" for c in page.context.cookies())


def test_a_post_without_its_csrf_token_is_refused(page: Page, server: LiveServer) -> None:
    sign_in(page, server, server.token())
    # the browser's own cookies, no token: refused, nothing created
    resp = page.request.post(
        server.url + "/services/new",
        form={"name": "forged", "display_name": "Forged"},
        max_redirects=0,
    )
    assert resp.status == 403
    assert "security token" in resp.text()
    resp = page.request.post(
        server.url + "/services/new",
        form={"name": "forged", "display_name": "Forged", "csrf_token": "0" * 64},
        max_redirects=0,
    )
    assert resp.status == 403
    # a form whose token was removed shows the 403 page
    page.goto(server.url + "/services/new")
    page.locator("form.card input[name=csrf_token]").evaluate("e => e.remove()")
    page.locator("#f-name").fill("forged")
    page.locator("#f-display_name").fill("Forged")
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("403 · Forbidden")
    expect(page.get_by_text("security token")).to_be_visible()
    with server.client() as api:
        assert api.get("/v1/catalog-services").json()["meta"]["page"]["total"] == 0


def test_create_a_service_map_a_resource_and_see_it(
    page: Page, server: LiveServer, api: httpx.Client
) -> None:
    push_resources(api, ["orders-db", "orders-queue", "billing-db"])
    sign_in(page, server, server.token(), "/services/new")

    page.locator("#f-name").fill("Orders Service")
    page.locator("#f-display_name").fill("Orders")
    page.get_by_label("Owner").fill("team-orders")
    page.get_by_label("Dashboard link").fill("https://grafana.example.com/d/orders")
    page.get_by_label("Labels").fill("team=orders\nenv=prod")
    page.get_by_role("button", name="Create service").click()
    name = page.locator("#f-name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name-error")).to_contain_text("must match the pattern")
    expect(page.get_by_label("Owner")).to_have_value("team-orders")  # kept

    name.fill("orders")
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Orders")
    expect(page.get_by_text("Service created.")).to_be_visible()
    link = page.get_by_role("link", name="https://grafana.example.com/d/orders")
    expect(link).to_have_attribute("href", "https://grafana.example.com/d/orders")
    expect(page.get_by_text("No resources mapped to this service yet")).to_be_visible()

    picker = page.get_by_label("Search unmapped resources by name")
    picker.fill("orders")
    results = page.locator("#picker-results li")
    expect(results).to_have_count(2)
    page.get_by_role("button", name="Map orders-db").click()
    expect(page.get_by_text("Resource mapped.")).to_be_visible()
    resources = page.locator("#resources")
    expect(resources.get_by_role("heading", name=re.compile("Custom"))).to_be_visible()
    expect(resources.locator(".resource-name")).to_have_text(["orders-db"])
    no_serious_violations(page)

    # what the API sees is what the page showed
    svc: dict[str, Any] = api.get("/v1/catalog-services/orders").json()
    assert svc["labels"] == {"team": "orders", "env": "prod"}
    assert svc["custom_fields"]["owner"] == "team-orders"
    mapped = api.get("/v1/catalog-services/orders/resources").json()["data"]
    assert [r["name"] for r in mapped] == ["orders-db"]

    page.get_by_role("link", name="Services").click()
    page.get_by_label("Label").fill("team=orders")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name="Orders")).to_be_visible()
    no_serious_violations(page)


def test_a_service_viewer_sees_no_edit_controls_and_a_404_page_for_other_services(
    page: Page, server: LiveServer
) -> None:
    """The console asks the same service layer: a Service Viewer of one service reads it
    without Edit, Delete, Unmap or the resource picker, cannot create services, and gets
    the 404 page for a service it may not see (as for one that does not exist)."""
    with server.client() as admin:
        ids = {}
        for name in ("visible-svc", "secret-svc"):
            made = admin.post(
                "/v1/catalog-services", json={"name": name, "display_name": name.title()}
            )
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
        push_resources(admin, ["orders-db"])
        res = admin.get("/v1/resources", params={"filter[name]": "orders-db"}).json()["data"][0]
        mapped = admin.post(
            "/v1/resource-mappings", json={"service": ids["visible-svc"], "resource": res["id"]}
        )
        assert mapped.status_code == 201, mapped.text
        user = admin.post("/v3/invites", json={"email": "viewer@example.com"}).json()["id"]
        role = admin.post(
            f"/v3/users/{user}/assigned-roles",
            json={"role_name": "Service Viewer", "entity_id": ids["visible-svc"]},
        )
        assert role.status_code == 201, role.text
        pat = admin.post(
            f"/v3/users/{user}/access-tokens", json={"name": "browser", "ttl_seconds": 86400}
        )
        assert pat.status_code == 201, pat.text
        token = pat.json()["konnect_token"]
    sign_in(page, server, token, f"/services/{ids['visible-svc']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Visible-Svc")
    expect(page.get_by_text("orders-db")).to_be_visible()
    for control in ("Edit", "Delete"):
        expect(page.get_by_role("link", name=control, exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Unmap orders-db")).to_have_count(0)
    expect(page.get_by_label("Search unmapped resources by name")).to_have_count(0)
    page.goto(server.url + "/services")
    expect(page.get_by_role("link", name="New service")).to_have_count(0)
    expect(page.get_by_text("secret-svc")).to_have_count(0)
    response = page.goto(server.url + f"/services/{ids['secret-svc']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("404 · Not Found")
    no_serious_violations(page)
