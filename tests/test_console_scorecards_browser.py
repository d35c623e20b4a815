"""Scorecards in the console, in a real browser (Debian's Chromium, headless, driven by
Playwright) against a catalog with its background worker on loopback: a Scorecard Admin
creates a scorecard from the ``security_and_compliance`` template on the Scorecards page
(a missing name refused next to its field), the worker evaluates it, and the service's page
shows its score and each failing criterion with its explanation; the scorecard's page lists
the service and each criterion's passing count. axe-core finds no serious or critical
violation on the new pages."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from conftest import LiveServer
from service_catalog.core.db import Database
from service_catalog.settings import Settings
from sync_support import create_service
from test_console_browser import no_serious_violations, push_resources, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def worker_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The catalog with its background worker (scorecard passes) polling fast."""
    cfg = settings.model_copy(update={"run_worker": True, "worker_poll_seconds": 0.2})
    live = LiveServer(cfg, db).start()
    yield live
    live.stop()


def reload_until_visible(page: Page, text: str, timeout: float = 60) -> None:
    """Reload the page until ``text`` shows (the worker evaluates in the background)."""
    deadline = time.monotonic() + timeout
    while page.get_by_text(text).count() == 0:
        assert time.monotonic() < deadline, f"{text!r} never showed: {page.content()}"
        page.wait_for_timeout(200)
        page.reload()


def test_create_a_scorecard_from_a_template_and_see_what_fails_on_the_service_page(
    page: Page, worker_server: LiveServer
) -> None:
    server = worker_server
    with server.client() as api:
        push_resources(api, ["payments-db"])
        svc = create_service(api, "payments")
        rid = api.get("/v1/resources").json()["data"][0]["id"]
        made = api.post("/v1/resource-mappings", json={"service": "payments", "resource": rid})
        assert made.status_code == 201, made.text

    sign_in(page, server, server.token("scorecard-admin"), "/scorecards")
    expect(page.get_by_role("heading", name="Scorecards", level=1)).to_be_visible()
    expect(page.get_by_text("No scorecards yet.")).to_be_visible()
    no_serious_violations(page)

    # a name is required: refused next to its field, the template kept
    page.get_by_label("Scorecard template").select_option("security_and_compliance")
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name-error")).to_have_text("Give the scorecard a name.")
    expect(page.get_by_label("Scorecard template")).to_have_value("security_and_compliance")

    page.get_by_label("Name").fill("Security")
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.get_by_role("heading", name="Security", level=1)).to_be_visible()
    expect(page.get_by_text("Scorecard created")).to_be_visible()
    no_serious_violations(page)

    # the worker evaluates it; the scorecard's page lists the service with its score
    reload_until_visible(page, "0 of 1")
    services = page.get_by_role("region", name="Services")
    expect(services.get_by_role("link", name="Payments")).to_be_visible()
    expect(services).to_contain_text("0%")
    criteria = page.get_by_role("region", name="Criteria")
    expect(criteria).to_contain_text("Vulnerabilities")
    no_serious_violations(page)

    # the service's page: the score and each failing criterion with why
    services.get_by_role("link", name="Payments").click()
    expect(page).to_have_url(f"{server.url}/services/{svc['id']}#scorecards")
    section = page.get_by_role("region", name="Scorecards")
    expect(section.get_by_role("link", name="Security")).to_be_visible()
    expect(section).to_contain_text("0%")
    failing = section.locator("ul.failing > li")
    expect(failing.first).to_contain_text("Has no open Traceable vulnerability at HIGH or above")
    expect(failing.first).to_contain_text("No Traceable service is mapped to this service")
    expect(failing.first).to_contain_text("not evaluable")
    no_serious_violations(page)

    # the list shows the scorecard with its score
    page.get_by_role("link", name="Scorecards").first.click()
    expect(page.get_by_role("link", name="Security")).to_be_visible()
    expect(page.locator("table")).to_contain_text("0%")
