"""The console's Resources, Integrations, Events, Audit, Scorecards and document pages over
HTTP (a catalog on loopback, signed in with a bearer token as a browser's session would
be): bad input is a page that says what is wrong, never a 500, nothing of a stored secret
is rendered, a document's markdown yields no markup or link that could run a script, and
the scorecard forms' entity selector works with no script (each kind's inputs in its own
block, the chosen kind's inputs read, a kind not offered refused with a 400 page)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

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


#: Markdown trying to get markup or a script link through: each must come out as text.
HOSTILE_MARKDOWN = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[a](javascript:alert(1))",
    "[b](JavaScript:alert(1))",
    "[c](java\tscript:alert(1))",
    "[d](vbscript:msgbox(1))",
    "[e](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![f](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[g]: javascript:alert(1)\n\n[g]",
    '<a href="javascript:alert(1)">h</a>',
    "<svg onload=alert(1)>",
]


def test_a_document_page_renders_no_markup_or_script_link_from_its_markdown(
    api: httpx.Client,
) -> None:
    resp = api.post("/v1/catalog-services", json={"name": "svc", "display_name": "Svc"})
    sid = resp.json()["id"]
    content = "\n\n".join(HOSTILE_MARKDOWN) + "\n\n[ok](https://wiki.example/x) [rel](runbook#top)"
    made = api.post(
        f"/v1/catalog-services/{sid}/documents", json={"title": "T", "content": content}
    )
    assert made.status_code == 201, made.text
    page = get(api, f"/services/{sid}/documents/{made.json()['id']}")
    assert page.status_code == 200, page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]
    body = page.text.split('<article class="card markdown"', 1)[1].split("</article>", 1)[0]
    hrefs = re.findall(r'(?:href|src)="([^"]*)"', body)
    assert hrefs == ["https://wiki.example/x", "runbook#top"], hrefs
    tags = re.findall(r"<([a-z0-9]+)([^>]*)>", body.split(">", 1)[1])
    assert {name for name, _ in tags} == {"p", "a"}, tags
    assert not [attrs for _, attrs in tags if re.search(r"\son\w+\s*=", attrs, re.I)], tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def docs_scorecard(api: httpx.Client, name: str) -> str:
    """A scorecard named ``name`` of one criterion (at least one document); its id."""
    criterion = {
        "enabled": True,
        "template_name": "has_service_docs",
        "template_parameters": {"min_docs": 1},
    }
    made = api.post("/v1/scorecards", json={"name": name, "criteria": [criterion]})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_unknown_scorecards_criteria_and_documents_are_404_pages(api: httpx.Client) -> None:
    sid = api.post("/v1/catalog-services", json={"name": "svc", "display_name": "Svc"}).json()["id"]
    other = api.post("/v1/catalog-services", json={"name": "other", "display_name": "O"}).json()
    doc = api.post(f"/v1/catalog-services/{other['id']}/documents", json={"title": "D"}).json()
    card = docs_scorecard(api, "C")
    missing = "7b0c6a2e-0000-4000-8000-000000000000"
    for path in (
        f"/scorecards/{missing}",
        "/scorecards/not-an-id/edit",
        f"/scorecards/{missing}/delete",
        f"/scorecards/{card}/criteria/{missing}",
        f"/scorecards/{card}/criteria/not-an-id",
        f"/services/{sid}/documents/{doc['id']}",  # another service's document
        f"/services/{sid}/documents/not-an-id/edit",
        f"/services/{missing}/documents/new",
    ):
        resp = get(api, path)
        assert resp.status_code == 404, (path, resp.text)
        assert "text/html" in resp.headers["content-type"]


#: Elements with no end tag.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class SelectorForm(HTMLParser):
    """A console page's scorecard form as a browser without script sees it: ``kinds``, the
    input names of each selector kind's block (``data-kind``); ``values``, what each input
    sends (a list's selected option, a text area's text, a box only when checked);
    ``csrf``, the form's token."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.kinds: dict[str, list[str]] = {}
        self.values: dict[str, str] = {}
        self._open: list[str | None] = []
        self._select = self._textarea = ""
        self.feed(html)
        self.csrf = self.values.get("csrf_token", "")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag not in VOID:
            self._open.append(a.get("data-kind"))
        name = a.get("name", "")
        if tag in ("input", "select", "textarea") and name:
            kind = next((k for k in reversed(self._open) if k), None)
            if kind:
                self.kinds.setdefault(kind, []).append(name)
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.values.setdefault(name, a.get("value", ""))
            self._select = name if tag == "select" else ""
            self._textarea = name if tag == "textarea" else ""
        if tag == "option" and "selected" in a and self._select:
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._open:
            self._open.pop()
        if tag == "textarea":
            self._textarea = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def scorecard_form(api: httpx.Client, path: str, status: int = 200) -> SelectorForm:
    resp = get(api, path)
    assert resp.status_code == status, resp.text
    return SelectorForm(resp.text)


def post_form(api: httpx.Client, path: str, form: SelectorForm, **data: str) -> httpx.Response:
    """Submit a console form as a browser with no script would: its token and ``data``."""
    return api.post(path, data={"csrf_token": form.csrf, **data}, headers=HTML)


def test_the_scorecard_selector_form_works_with_no_script(api: httpx.Client) -> None:
    ledger = api.post("/v1/catalog-services", json={"name": "ledger", "display_name": "L"})
    # every kind's inputs are in the page, each in the block of its kind; every service first
    form = scorecard_form(api, "/scorecards")
    assert form.kinds == {
        "name": ["name_operator", "name_value"],
        "label": ["label_key", "label_operator", "label_value"],
        "ids": ["ids"],
        "json": ["selector_json"],
    }
    assert form.values["selector"] == "all"

    # refused: the page again with the chosen kind and its values
    base = {"template": "security_and_compliance", "name": "Pay"}
    sent = {"selector": "name", "name_operator": "contains", "name_value": "pay"}
    resp = post_form(api, "/scorecards", form, **{**sent, "template": ""})
    assert resp.status_code == 400, resp.text
    again = SelectorForm(resp.text)
    assert {k: again.values[k] for k in sent} == sent
    assert "Pick a scorecard template." in resp.text

    # a kind the form does not offer: a clear 400 next to the selector, nothing created
    for bad in ("bogus", ""):
        resp = post_form(api, "/scorecards", form, **base, selector=bad)
        assert resp.status_code == 400, resp.text
        # said once, next to the list (aria-invalid), which shows every service
        assert resp.text.count("Choose which services the scorecard selects.") == 1
        assert re.search(r'<select id="f-selector" name="selector" aria-invalid="true">', resp.text)
        assert SelectorForm(resp.text).values["selector"] == ""
    assert api.get("/v1/scorecards").json()["meta"]["page"]["total"] == 0

    # the chosen kind's inputs make the selector; the other kinds' are ignored
    resp = post_form(api, "/scorecards", form, **base, **sent, ids="x", label_key="team")
    assert resp.status_code == 303, resp.text
    card = resp.headers["location"].split("?")[0].rsplit("/", 1)[1]
    stored: Any = api.get(f"/v1/scorecards/{card}").json()["entity_selector"]
    assert stored == {
        "selector": "name",
        "selector_parameters": {"operator": "contains", "value": "pay"},
    }

    # the edit form: the stored kind chosen with its values; a bad kind refused; ids saved
    edit = scorecard_form(api, f"/scorecards/{card}/edit")
    assert {k: edit.values[k] for k in sent} == sent
    keep = {k: v for k, v in edit.values.items() if k != "csrf_token"}
    resp = post_form(api, f"/scorecards/{card}/edit", edit, **{**keep, "selector": "bogus"})
    assert resp.status_code == 400, resp.text
    assert "Choose which services the scorecard selects." in resp.text
    ids = ledger.json()["id"]
    resp = post_form(
        api, f"/scorecards/{card}/edit", edit, **{**keep, "selector": "ids", "ids": ids}
    )
    assert resp.status_code == 303, resp.text
    stored = api.get(f"/v1/scorecards/{card}").json()["entity_selector"]
    assert stored == {"selector": "ids", "selector_parameters": {"ids": [ids]}}
