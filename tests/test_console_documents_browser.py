"""Service documents in the console, in a real browser (Debian's Chromium, headless, driven
by Playwright) against a catalog on loopback: a Service Admin writes a document on the
service's page (an empty title refused next to its input), and its markdown renders as
markup while a ``<script>``, an inline handler and a ``javascript:`` link in it stay text
that never runs; editing and deleting (after a confirmation) go through the same domain
functions as the API. A Service Viewer of the service reads the documents with no change
control, and its forms are refused. axe-core finds no serious or critical violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, Page, expect

from conftest import LiveServer
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database
from sync_support import create_service
from test_console_browser import no_serious_violations, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

HOSTILE = """# Runbook

Restart with `systemctl restart payments`.

<script>window.ran = "script"</script>

<img src="x" onerror="window.ran = 'onerror'">

[Click me](javascript:window.ran='link') and [the wiki](https://wiki.example/payments).

| Step | Who |
|------|-----|
| page | on-call |
"""


def no_serious_violations_despite_csp(page: Page) -> None:
    """axe-core on this page as seen in a second tab that ignores the page's Content
    Security Policy (which refuses every script, axe's too), signed in the same."""
    browser = page.context.browser
    assert browser is not None
    other = browser.new_context(bypass_csp=True)
    try:
        other.add_cookies(page.context.cookies())  # type: ignore[arg-type]
        tab = other.new_page()
        tab.goto(page.url)
        no_serious_violations(tab)
    finally:
        other.close()


def test_a_document_renders_its_markdown_and_never_runs_a_script(
    page: Page, server: LiveServer
) -> None:
    with server.client() as api:
        svc = create_service(api, "payments")
    dialogs: list[str] = []
    sign_in(page, server, server.token("docs-admin"), f"/services/{svc['id']}")

    def dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    docs = page.get_by_role("region", name="Documents")
    expect(docs).to_contain_text("No documents yet.")

    docs.get_by_role("link", name="New document").click()
    page.get_by_label("Content").fill(HOSTILE)
    page.get_by_role("button", name="Create document").click()
    expect(page.get_by_role("textbox", name="Title")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-title-error")).to_be_visible()
    expect(page.get_by_label("Content")).to_have_value(HOSTILE)
    page.get_by_role("textbox", name="Title").fill("Runbook <b>bold</b>")
    with page.expect_response(lambda r: "/documents/" in r.url and r.request.method == "GET") as r:
        page.get_by_role("button", name="Create document").click()
    # the document's page refuses every script, whatever the markdown says
    assert "script-src 'none'" in r.value.headers["content-security-policy"]
    expect(page.get_by_text("Document created.")).to_be_visible()
    body = page.get_by_role("article")
    expect(body.get_by_role("heading", name="Runbook", level=1)).to_be_visible()
    expect(body.get_by_role("table")).to_contain_text("on-call")
    expect(body.locator("code")).to_have_text("systemctl restart payments")
    expect(body.get_by_role("link", name="the wiki")).to_have_attribute(
        "href", "https://wiki.example/payments"
    )
    # raw HTML is text; the javascript: link is no link
    expect(body).to_contain_text('<script>window.ran = "script"</script>')
    expect(body).to_contain_text("<img src=")
    expect(body).to_contain_text("[Click me](javascript:window.ran='link')")
    assert body.locator("script, img, [onerror]").count() == 0
    assert body.locator("a[href^='javascript' i]").count() == 0
    expect(page.get_by_role("heading", name="Runbook <b>bold</b>", level=1)).to_be_visible()
    assert page.evaluate("() => window.ran") is None
    assert dialogs == []
    no_serious_violations_despite_csp(page)

    # edit
    page.get_by_role("link", name="Edit document").click()
    page.get_by_role("textbox", name="Title").fill("Runbook")
    page.get_by_label("Content").fill("# Runbook\n\nCall **on-call**.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    expect(page.get_by_role("article").locator("strong")).to_have_text("on-call")

    # listed on the service's page
    page.get_by_role("link", name="Payments").click()
    docs = page.get_by_role("region", name="Documents")
    expect(docs.get_by_role("link", name="Runbook")).to_be_visible()
    no_serious_violations(page)

    # delete, after a confirmation
    docs.get_by_role("link", name="Runbook").click()
    page.get_by_role("link", name="Delete document").click()
    expect(page.get_by_role("heading", name="Delete Runbook?")).to_be_visible()
    no_serious_violations(page)
    page.get_by_role("button", name="Delete document").click()
    docs = page.get_by_role("region", name="Documents")
    expect(docs).to_contain_text("Document Runbook deleted.")
    expect(docs).to_contain_text("No documents yet.")


def test_a_service_viewer_reads_documents_without_change_controls(
    page: Page, server: LiveServer, db: Database
) -> None:
    with server.client() as api:
        svc = create_service(api, "payments")
        made = api.post(
            f"/v1/catalog-services/{svc['id']}/documents",
            json={"title": "Runbook", "content": "Call *on-call*."},
        )
        assert made.status_code == 201, made.text
    doc = made.json()["id"]
    with db.session() as s:
        _, token = create_token(s, name="viewer", role="Service Viewer", entity_id=svc["id"])
    sign_in(page, server, token, f"/services/{svc['id']}")
    docs = page.get_by_role("region", name="Documents")
    expect(docs.get_by_role("link", name="Runbook")).to_be_visible()
    expect(docs.get_by_role("link", name="New document")).to_have_count(0)
    docs.get_by_role("link", name="Runbook").click()
    expect(page.get_by_role("article").locator("em")).to_have_text("on-call")
    expect(page.get_by_role("link", name="Edit document")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete document")).to_have_count(0)
    base = f"{server.url}/services/{svc['id']}/documents"
    for path in (f"{base}/new", f"{base}/{doc}/edit", f"{base}/{doc}/delete"):
        resp = page.goto(path)
        assert resp is not None and resp.status == 403, path
