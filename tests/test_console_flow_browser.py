"""The seed's whole flow through the console in a real browser (Debian's Chromium, headless,
driven by Playwright) against the bundled Traceable simulator on loopback: sign in, install
Traceable through the form generated from its config schema (a bad URL refused next to its
field), authorize through the credential form (a wrong token refused), Sync now and watch the
progress reach the run's summary, create a service, map the Traceable service from the
Resources page, open the service and see the Traceable panel (the name linked to Traceable,
"Connection verified", the grouped endpoints, the live endpoint pages); the Events and Audit
pages list what happened. axe-core finds no serious or critical violation on each new page;
the service page is also saved 375 px wide (``<pytest base temp>/screenshots/``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from browser import screenshot, serious_violations
from conftest import LiveServer
from service_catalog.sync.worker import BackgroundWorker
from service_catalog.testing.traceable_sim import TraceableSimulator
from test_console_browser import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

TOKEN = "trc-console-token-77aa"
SIMULATOR = partial(TraceableSimulator, 12, 6, TOKEN, inactive_every=5, vulnerable_every=3)


@pytest.fixture
def worker(server: LiveServer) -> Iterator[BackgroundWorker]:
    """A sync worker beside the server, as ``serve`` runs one."""
    bg = BackgroundWorker(server.settings, server.db)
    bg.start()
    yield bg
    bg.stop()


def no_serious_violations(page: Page) -> None:
    violations = serious_violations(page)
    assert violations == [], violations


def a_vulnerable_service(api: httpx.Client) -> dict[str, Any]:
    """The synced Traceable Service with the most open vulnerabilities."""
    resp = api.get(
        "/v1/resources", params={"filter[type]": "traceable_service", "page[size]": "100"}
    )
    assert resp.status_code == 200, resp.text
    found = [r for r in resp.json()["data"] if r["integration_data"]]
    return max(found, key=lambda r: r["integration_data"]["vulnerabilities"]["open"])


def test_the_seed_flow_through_the_console(
    page: Page,
    server: LiveServer,
    api: httpx.Client,
    sim: TraceableSimulator,
    worker: BackgroundWorker,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sign_in(page, server, server.token("lead"), "/integrations")
    expect(page.get_by_text("No integrations installed yet")).to_be_visible()
    no_serious_violations(page)

    # install, through the form generated from Traceable's config_schema
    page.get_by_role("link", name="Install Traceable").click()
    expect(page.get_by_role("heading", name="Install Traceable")).to_be_visible()
    expect(page.get_by_label("Activity window")).to_have_value("7d")  # its default
    no_serious_violations(page)
    page.locator("#name").fill("traceable-prod")
    page.get_by_label("Traceable API URL").fill("ftp://traceable.example.com")
    page.get_by_role("button", name="Install").click()
    url_input = page.get_by_label("Traceable API URL")
    expect(url_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#config-base_url-error")).to_be_visible()
    url_input.fill(sim.url)
    page.get_by_role("button", name="Install").click()
    expect(page.get_by_text("Installed. Authorize it below, then sync.")).to_be_visible()
    expect(page.get_by_role("button", name="Sync now")).to_be_disabled()

    # authorize: a token Traceable refuses, then the right one; the secret never comes back
    token_input = page.get_by_label("Traceable platform API token")
    expect(token_input).to_have_attribute("type", "password")
    token_input.fill("not-the-token")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("alert")).to_contain_text("The upstream rejected the credential")
    token_input = page.get_by_label("Traceable platform API token")
    expect(token_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#header-authorization-error")).to_contain_text("rejected the API token")
    expect(token_input).to_have_value("")
    page.get_by_label("Traceable platform API token").fill(TOKEN)
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("Connection verified")).to_be_visible()
    assert TOKEN not in page.content()
    no_serious_violations(page)

    # Sync now: the progress is polled until the run's summary shows
    page.get_by_role("button", name="Sync now").click()
    progress = page.locator("#sync-progress")
    expect(progress).to_contain_text("Last sync succeeded", timeout=60_000)
    expect(progress).to_contain_text("created")
    expect(page.locator("table").first).to_contain_text("succeeded")

    # create a service
    page.get_by_role("link", name="Services").click()
    page.get_by_role("link", name="New service").click()
    page.locator("#f-name").fill("user-svc")
    page.locator("#f-display_name").fill("User Service")
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_text("Service created.")).to_be_visible()

    # map the Traceable service from the Resources page
    chosen = a_vulnerable_service(api)
    name = chosen["name"]
    data = chosen["integration_data"]
    page.get_by_role("link", name="Resources").click()
    expect(page.get_by_role("heading", name="Resources", level=1)).to_be_visible()
    no_serious_violations(page)
    page.get_by_label("Name contains").fill(name)
    page.get_by_label("Mapped").select_option("no")
    page.get_by_role("button", name="Apply").click()
    page.get_by_label(f"Service to map {name} to").fill("user-svc")
    page.get_by_role("button", name=f"Map {name}").click()
    expect(page.get_by_text(f"{name} mapped to user-svc.")).to_be_visible()
    expect(page.get_by_text("No resource matches these filters")).to_be_visible()

    # the service page and its Traceable panel
    page.get_by_role("link", name="Services").click()
    page.get_by_role("link", name="User Service").click()
    panel = page.locator("section.traceable")
    link = panel.get_by_role("link", name=re.compile(re.escape(data["service_name"])))
    expect(link).to_have_attribute("href", data["link"])
    expect(panel.get_by_text("Connection verified")).to_be_visible()
    expect(panel).to_contain_text(f"{data['endpoints']['total']} endpoints")
    for heading in ("Risk", "Exposure", "Authentication", "Sensitive data", "Discovery state"):
        expect(panel.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(panel.get_by_role("img", name=re.compile("Endpoints by risk"))).to_be_visible()
    risk, count = next(iter(data["endpoints"]["groups"]["risk"].items()))
    group = panel.locator("details", has=page.locator("summary", has_text=risk)).first
    group.locator("summary").click()
    expect(group.locator("tbody tr")).to_have_count(count)
    panel.get_by_text(re.compile(r"endpoints, live from Traceable")).click()
    live = panel.locator(".live-endpoints")
    expect(live).to_contain_text(f"{data['endpoints']['total']} endpoints, live from Traceable")
    expect(live.locator("tbody tr")).to_have_count(data["endpoints"]["total"])
    open_vulns = data["vulnerabilities"]["open"]
    expect(panel).to_contain_text(f"{open_vulns} open vulnerabilities")
    no_serious_violations(page)
    shots = tmp_path_factory.getbasetemp() / "screenshots"
    screenshot(page, shots, "service-page-traceable-1280")
    page.set_viewport_size({"width": 375, "height": 812})
    expect(panel.get_by_text("Connection verified")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the service page scrolls sideways at 375 px ({width} px)"
    screenshot(page, shots, "service-page-traceable-375")
    page.set_viewport_size({"width": 1280, "height": 900})

    # what happened: the audit trail and the events feed
    page.get_by_role("link", name="Audit").click()
    trail = page.locator("table")
    for kind in (
        "integration_instance.created",
        "auth_credential.created",
        "integration_instance.sync_requested",
        "catalog_service.created",
        "resource_mapping.created",
    ):
        expect(trail).to_contain_text(kind)
    no_serious_violations(page)
    page.get_by_label("Keyword").fill("mapped to user-svc")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Events", exact=True).click()
    expect(page.get_by_role("heading", name="Integration events", level=1)).to_be_visible()
    no_serious_violations(page)


def test_uninstall_says_what_goes_with_it(
    page: Page, server: LiveServer, api: httpx.Client, sim: TraceableSimulator
) -> None:
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "traceable",
            "name": "traceable-old",
            "display_name": "Old Traceable",
            "config": {"base_url": sim.url},
        },
    )
    assert resp.status_code == 201, resp.text
    iid = resp.json()["id"]
    sign_in(page, server, server.token(), f"/integrations/instances/{iid}")
    expect(page.get_by_text("Not authorized yet")).to_be_visible()
    page.get_by_role("link", name="Uninstall").click()
    expect(page.get_by_text("its 0 resources")).to_be_visible()
    no_serious_violations(page)
    page.get_by_role("button", name="Uninstall traceable-old").click()
    expect(page.get_by_text("Integration instance traceable-old uninstalled.")).to_be_visible()
    assert api.get(f"/v1/integration-instances/{iid}").status_code == 404
