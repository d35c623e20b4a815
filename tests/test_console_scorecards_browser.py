"""Scorecards in the console, in a real browser (Debian's Chromium, headless, driven by
Playwright) against a catalog with its background worker on loopback: a Scorecard Admin
creates a scorecard from the ``security_and_compliance`` template on the Scorecards page
(a missing name refused next to its field), the worker evaluates it, and the service's page
shows its score and each failing criterion with its explanation; the scorecard's page lists
the service and each criterion's passing count. Editing a criterion's parameter (an
out-of-range value and a selector that is no JSON refused next to their inputs) changes
its result; the criterion's page explains each service's result; the scorecard is deleted
after a confirmation. Choosing a selector kind shows only that kind's inputs, on the
create and edit forms, with scripts on and off, a form shown again after an error keeping
the chosen kind and its values, and the stored selector is the one chosen. A Scorecard
Viewer sees no create, edit or delete control. axe-core finds no serious or critical
violation on the new pages."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from conftest import LiveServer
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database
from service_catalog.settings import Settings
from sync_support import create_service
from test_console_browser import no_serious_violations, push_resources, sign_in
from test_console_pages import docs_scorecard
from test_scorecards_api import World, traceable

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


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
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("#f-name-error")).to_have_text("Give the scorecard a name.")
    expect(page.get_by_label("Scorecard template")).to_have_value("security_and_compliance")

    page.get_by_role("textbox", name="Name", exact=True).fill("Security")
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


def test_edit_a_criterion_parameter_and_see_its_result_change(
    page: Page, server: LiveServer, db: Database, settings: Settings
) -> None:
    # no background worker here (it would check the made-up Traceable instance's missing
    # credential): the worker's scorecard pass runs when the test says
    with server.client() as api:
        world = World(api, db, settings)
        svc = world.service("payments", labels={"team": "payments"})
        world.service("ledger", labels={"team": "finance"})
        # 8 of 10 endpoints authenticated: fails the template's 90%, passes 75%
        data = traceable(vulns={}, exposed=0, total=10, auth=8, seen_days=1, risk={"LOW": 2})
        world.resource(svc, "traceable", data)

    sign_in(page, server, server.token("scorecard-admin"), "/scorecards")
    page.get_by_label("Scorecard template").select_option("security_and_compliance")
    page.get_by_role("textbox", name="Name", exact=True).fill("Security")
    # a selector that is no JSON, then one the contract refuses: said next to the input
    page.get_by_label("Selector", exact=True).select_option("json")
    page.get_by_label("Selector as JSON").fill("{not json")
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.locator("#f-selector_json-error")).to_contain_text("This is not JSON")
    page.get_by_label("Selector as JSON").fill('{"selector": "has_label_key"}')
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.locator("#f-selector_json-error")).to_contain_text("Field required")
    expect(page.get_by_label("Selector as JSON")).to_have_attribute("aria-invalid", "true")
    # the label selector: only payments is scored
    page.get_by_label("Selector", exact=True).select_option("label")
    page.get_by_label("Label key").fill("team")
    page.get_by_label("Label text").fill("payments")
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.get_by_text("Scorecard created")).to_be_visible()
    expect(page.locator("dl.props")).to_contain_text("Services whose label team is payments")

    world.evaluate()
    page.reload()
    criteria = page.get_by_role("region", name="Criteria")
    row = criteria.get_by_role("row").filter(has_text="At least 90% of endpoints")
    expect(row).to_contain_text("0 of 1")
    expect(criteria.get_by_role("row").filter(has_text="vulnerability")).to_contain_text("1 of 1")

    page.get_by_role("link", name="Edit scorecard").click()
    expect(page.get_by_role("heading", name="Edit Security", level=1)).to_be_visible()
    no_serious_violations(page)
    auth = page.get_by_role("group", name=re.compile("Authenticated Endpoints"))
    auth.get_by_label("Min percent").fill("150")
    page.get_by_role("button", name="Save changes").click()
    auth = page.get_by_role("group", name=re.compile("Authenticated Endpoints"))
    expect(auth.get_by_label("Min percent")).to_have_attribute("aria-invalid", "true")
    expect(auth).to_contain_text("150 is greater than the maximum of 100")
    auth.get_by_label("Min percent").fill("75")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved")).to_be_visible()

    world.evaluate()
    page.reload()
    row = criteria.get_by_role("row").filter(has_text="At least 75% of endpoints")
    expect(row).to_contain_text("1 of 1")
    row.get_by_role("link").click()
    results = page.get_by_role("region", name="Services")
    expect(results).to_contain_text("passes")
    expect(results).to_contain_text("8 of 10 endpoints authenticated (80%, at least 75% wanted)")
    expect(results).not_to_contain_text("Ledger")
    no_serious_violations(page)

    # add a criterion (disabled, with starting parameters), remove another
    page.get_by_role("link", name="Security").click()
    page.get_by_role("link", name="Edit scorecard").click()
    page.get_by_label("Criteria template").select_option("has_service_docs")
    page.get_by_label("Section of the new criterion").fill("Docs")
    page.get_by_role("button", name="Add criterion").click()
    expect(page.get_by_text("Criterion added, disabled")).to_be_visible()
    docs = page.get_by_role("group", name="Criterion 7: Has Service Documentation")
    expect(docs.get_by_label("Enabled")).not_to_be_checked()
    expect(docs.get_by_label("Min docs")).to_have_value("1")
    expect(docs.get_by_label("Section")).to_have_value("Docs")
    docs.get_by_label("Enabled").check()
    dependabot = page.get_by_role("group", name=re.compile("Dependabot"))
    dependabot.get_by_label("Remove this criterion when saving").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved")).to_be_visible()
    rows = criteria.locator("tbody tr")
    expect(rows).to_have_count(6)
    expect(criteria).to_contain_text("Has at least 1 documentation file(s)")
    expect(criteria).not_to_contain_text("Dependabot")

    page.get_by_role("link", name="Delete scorecard").click()
    expect(page.get_by_role("heading", name="Delete Security?")).to_be_visible()
    page.get_by_role("button", name="Delete scorecard").click()
    expect(page.get_by_text("Scorecard Security deleted.")).to_be_visible()
    expect(page.get_by_text("No scorecards yet.")).to_be_visible()


def test_a_scorecard_viewer_sees_no_change_control(
    page: Page, server: LiveServer, db: Database
) -> None:
    with server.client() as api:
        card = docs_scorecard(api, "Docs")
    with db.session() as s:
        _, token = create_token(s, name="viewer", role="Scorecard Viewer")
    sign_in(page, server, token, "/scorecards")
    expect(page.get_by_role("link", name="Docs")).to_be_visible()
    expect(page.get_by_role("heading", name="New scorecard")).to_have_count(0)
    page.get_by_role("link", name="Docs").click()
    expect(page.get_by_role("heading", name="Docs", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Edit scorecard")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete scorecard")).to_have_count(0)
    # the forms themselves are refused too
    for path in (f"/scorecards/{card}/edit", f"/scorecards/{card}/delete"):
        resp = page.goto(server.url + path)
        assert resp is not None and resp.status == 403, path


#: Each selector kind's inputs by their labels (kinds not named here have none).
KIND_INPUTS = {
    "name": ("Name comparison", "Name text"),
    "label": ("Label key", "Label comparison", "Label text"),
    "ids": ("Service ids",),
    "json": ("Selector as JSON",),
}
KINDS = ("all", "name", "label", "has_docs", "ids", "json")


def only_inputs_of(page: Page, kind: str) -> None:
    """The selector's list shows ``kind`` and only that kind's inputs are visible."""
    expect(page.get_by_label("Selector", exact=True)).to_have_value(kind)
    for other, labels in KIND_INPUTS.items():
        for label in labels:
            field = page.get_by_label(label, exact=True)
            if other == kind:
                expect(field).to_be_visible()
            else:
                expect(field).to_be_hidden()


def stored_selector(server: LiveServer, page: Page) -> Any:
    """The entity selector of the scorecard whose page is open, read through the API."""
    card = re.search(r"/scorecards/([0-9a-f-]{36})", page.url)
    assert card is not None, page.url
    with server.client() as api:
        resp = api.get(f"/v1/scorecards/{card.group(1)}")
    assert resp.status_code == 200, resp.text
    return resp.json()["entity_selector"]


def test_choosing_a_selector_kind_shows_only_its_inputs(page: Page, server: LiveServer) -> None:
    with server.client() as api:
        ledger = create_service(api, "ledger")

    sign_in(page, server, server.token("scorecard-admin"), "/scorecards")
    only_inputs_of(page, "all")
    selector = page.get_by_label("Selector", exact=True)
    for kind in KINDS:
        selector.select_option(kind)
        only_inputs_of(page, kind)

    # by name; switching to ids and back keeps what was typed
    selector.select_option("name")
    page.get_by_label("Name comparison").select_option("contains")
    page.get_by_label("Name text").fill("pay")
    selector.select_option("ids")
    page.get_by_label("Service ids").fill(ledger["id"])
    selector.select_option("name")
    only_inputs_of(page, "name")
    expect(page.get_by_label("Name text")).to_have_value("pay")
    no_serious_violations(page)

    # refused (no template): the form comes back with the kind chosen and its values
    page.get_by_role("textbox", name="Name", exact=True).fill("Pay")
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.locator("#f-template-error")).to_have_text("Pick a scorecard template.")
    only_inputs_of(page, "name")
    expect(page.get_by_label("Name comparison")).to_have_value("contains")
    expect(page.get_by_label("Name text")).to_have_value("pay")

    page.get_by_label("Scorecard template").select_option("security_and_compliance")
    page.get_by_role("button", name="Create scorecard").click()
    expect(page.get_by_text("Scorecard created")).to_be_visible()
    expect(page.locator("dl.props")).to_contain_text("Services whose name contains pay")
    want = {"selector": "name", "selector_parameters": {"operator": "contains", "value": "pay"}}
    assert stored_selector(server, page) == want

    # the edit form opens on the stored kind with its values; switch to ids and save
    page.get_by_role("link", name="Edit scorecard").click()
    only_inputs_of(page, "name")
    expect(page.get_by_label("Name text")).to_have_value("pay")
    page.get_by_label("Selector", exact=True).select_option("ids")
    only_inputs_of(page, "ids")
    page.get_by_label("Service ids").fill(ledger["id"])
    no_serious_violations(page)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved")).to_be_visible()
    expect(page.locator("dl.props")).to_contain_text("1 chosen service(s)")
    assert stored_selector(server, page) == {
        "selector": "ids",
        "selector_parameters": {"ids": [ledger["id"]]},
    }

    # a kind with no inputs: nothing to fill in
    page.get_by_role("link", name="Edit scorecard").click()
    only_inputs_of(page, "ids")
    page.get_by_label("Selector", exact=True).select_option("has_docs")
    only_inputs_of(page, "has_docs")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("dl.props")).to_contain_text("Services with at least one document")
    assert stored_selector(server, page)["selector"] == "has_docs"


def test_the_selector_form_works_with_scripts_off(chromium: Any, server: LiveServer) -> None:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, server, server.token("scorecard-admin"), "/scorecards")
        assert page.evaluate("() => typeof window.htmx") == "undefined"  # no script ran
        selector = page.get_by_label("Selector", exact=True)
        only_inputs_of(page, "all")
        selector.select_option("json")
        only_inputs_of(page, "json")
        page.get_by_label("Selector as JSON").fill("[1]")
        selector.select_option("label")
        only_inputs_of(page, "label")
        page.get_by_label("Label key").fill("team")
        page.get_by_label("Label text").fill("payments")
        page.get_by_label("Scorecard template").select_option("security_and_compliance")
        page.get_by_role("textbox", name="Name", exact=True).fill("Team")
        page.get_by_role("button", name="Create scorecard").click()
        expect(page.get_by_text("Scorecard created")).to_be_visible()
        assert stored_selector(server, page) == {
            "selector": "label",
            "selector_parameters": {"label_key": "team", "operator": "eq", "value": "payments"},
        }
    finally:
        context.close()
