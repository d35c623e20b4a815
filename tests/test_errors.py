"""Errors as the contract shapes them: problem+json for every kind of bad request, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contract import Contract

URL = "/v1/catalog-services"


def problem(resp: httpx.Response, status: int, contract: Contract) -> dict[str, Any]:
    """Assert the problem's shape: status, title, detail, instance == the x-trace-id header."""
    body = contract.check(resp, status)
    assert body["status"] == status
    assert body["title"] and body["detail"]
    trace = resp.headers["x-trace-id"]
    assert body["instance"] == f"kong:trace:{trace}"
    assert "Traceback" not in resp.text
    if status == 400:
        for p in body["invalid_parameters"]:
            assert {"field", "reason"} <= set(p)
            assert p["source"] in ("body", "query", "path", "header")
            assert p.get("rule")
    return body


def post_raw(
    api: httpx.Client, content: bytes, ctype: str = "application/json", path: str = URL
) -> httpx.Response:
    return api.post(path, content=content, headers={"content-type": ctype})


def test_malformed_json(api: httpx.Client, contract: Contract) -> None:
    for raw in (b"{", b'{"name": "x",}', b"{name: 1}", b"nul", b'{"a": 1} trailing'):
        body = problem(post_raw(api, raw), 400, contract)
        assert body["invalid_parameters"][0]["field"] == "body"
        assert "JSON" in body["detail"] or "JSON" in body["invalid_parameters"][0]["reason"]
    # the same through PATCH
    svc = api.post(URL, json={"name": "p", "display_name": "P"}).json()
    problem(
        api.patch(
            f"{URL}/{svc['id']}", content=b"{oops", headers={"content-type": "application/json"}
        ),
        400,
        contract,
    )


def test_empty_body(api: httpx.Client, contract: Contract) -> None:
    body = problem(post_raw(api, b""), 400, contract)
    assert body["invalid_parameters"][0]["field"] in ("body", "name")


@pytest.mark.parametrize("raw", [b"[]", b'[{"name": "x"}]', b'"a string"', b"42", b"true", b"null"])
def test_non_object_body(api: httpx.Client, contract: Contract, raw: bytes) -> None:
    body = problem(post_raw(api, raw), 400, contract)
    p = body["invalid_parameters"][0]
    assert p["field"] == "body"
    assert p["rule"] in ("is_object", "type")


def test_wrong_types(api: httpx.Client, contract: Contract) -> None:
    cases = [
        ({"name": 5, "display_name": "X"}, "name", "is_string"),
        ({"name": ["a"], "display_name": "X"}, "name", "is_string"),
        ({"name": "a", "display_name": True}, "display_name", "is_string"),
        ({"name": "a", "display_name": "X", "description": 1}, "description", "is_string"),
        ({"name": "a", "display_name": "X", "labels": "x"}, "labels", "is_object"),
        ({"name": "a", "display_name": "X", "custom_fields": 3}, "custom_fields", "is_object"),
    ]
    for payload, field, rule in cases:
        body = problem(api.post(URL, json=payload), 400, contract)
        found = [(p["field"], p["rule"]) for p in body["invalid_parameters"]]
        assert (field, rule) in found, (payload, found)


def test_bad_utf8(api: httpx.Client, contract: Contract) -> None:
    for raw in (b'{"name": "\xff\xfe", "display_name": "X"}', b"\xc3\x28", b'{"n":"\xed\xa0\x80"}'):
        body = problem(post_raw(api, raw), 400, contract)
        assert "UTF-8" in body["detail"]
    # also when the client claims something other than JSON
    problem(post_raw(api, b"\xff", "text/plain"), 400, contract)


def test_body_over_limit_is_413(api: httpx.Client, server: Any, contract: Contract) -> None:
    limit = server.settings.max_body_bytes
    big = b'{"name": "x", "display_name": "' + b"x" * limit + b'"}'
    body = problem(post_raw(api, big), 413, contract)
    assert str(limit) in body["detail"]

    def chunks() -> Any:  # no Content-Length: the limit holds on the streamed body too
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    resp = api.post(URL, content=chunks(), headers={"content-type": "application/json"})
    problem(resp, 413, contract)
    # a body just under the limit is read (and then judged on its content)
    near = b'{"name": "x", "display_name": "x", "description": "' + b"x" * (limit - 100) + b'"}'
    problem(post_raw(api, near), 400, contract)


def test_unknown_path_and_wrong_method(api: httpx.Client, contract: Contract) -> None:
    for path in ("/v1/nope", "/nope", "/v1/catalog-services/x/y/z", "/v2"):
        body = problem(api.get(path), 404, contract)
        assert path in body["detail"]
    body = problem(api.put(URL, json={}), 405, contract)
    assert "PUT" in body["detail"]
    problem(api.delete(URL), 405, contract)
    problem(api.post(f"{URL}/x", json={}), 405, contract)
    problem(api.request("PATCH", "/health"), 405, contract)


def test_unknown_property(api: httpx.Client, contract: Contract) -> None:
    body = problem(
        api.post(URL, json={"name": "a", "display_name": "A", "colour": "red"}), 400, contract
    )
    assert body["invalid_parameters"] == [
        {
            "field": "colour",
            "rule": "unknown_property",
            "reason": "is not a known property",
            "source": "body",
        }
    ]
    svc = api.post(URL, json={"name": "a", "display_name": "A"}).json()
    body = problem(api.patch(f"{URL}/{svc['id']}", json={"id": "x"}), 400, contract)
    assert body["invalid_parameters"][0]["rule"] == "unknown_property"
    assert body["invalid_parameters"][0]["field"] == "id"


def test_required(api: httpx.Client, contract: Contract) -> None:
    body = problem(api.post(URL, json={}), 400, contract)
    found = {(p["field"], p["rule"]) for p in body["invalid_parameters"]}
    assert found == {("name", "required"), ("display_name", "required")}
    assert "and 1 more" in body["detail"]


def test_matches_regex_and_lengths(api: httpx.Client, contract: Contract) -> None:
    body = problem(api.post(URL, json={"name": "Bad Name", "display_name": "X"}), 400, contract)
    p = body["invalid_parameters"][0]
    assert (p["field"], p["rule"]) == ("name", "matches_regex")
    assert "^[0-9a-z.-]+$" in p["reason"]
    body = problem(api.post(URL, json={"name": "", "display_name": "X"}), 400, contract)
    assert body["invalid_parameters"][0] == {
        "field": "name",
        "rule": "min_length",
        "minimum": 1,
        "reason": "must have at least 1 character",
        "source": "body",
    }
    body = problem(api.post(URL, json={"name": "a", "display_name": "X" * 121}), 400, contract)
    p = body["invalid_parameters"][0]
    assert (p["field"], p["rule"], p["maximum"]) == ("display_name", "max_length", 120)


def test_unauthenticated_problem_shape(server: Any, contract: Contract) -> None:
    with server.client(token="") as anon:
        body = problem(anon.get(URL), 401, contract)
        assert body["title"] == "Unauthorized"


def test_form_encoded_body_is_415(api: httpx.Client) -> None:
    # curl -d sends application/x-www-form-urlencoded; the API speaks only JSON and says so
    # (issue 8, item 7: a body that is not declared JSON is a 415, not guessed at)
    for raw in (b'{"name": "curl", "display_name": "Curl"}', b"name=x&display_name=y"):
        resp = post_raw(api, raw, "application/x-www-form-urlencoded")
        assert resp.status_code == 415, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert "application/json" in resp.json()["detail"]
    assert api.get(URL).json()["meta"]["page"]["total"] == 0


def test_unstorable_text_is_400(api: httpx.Client, contract: Contract) -> None:
    # PostgreSQL cannot store NUL; unpaired surrogates are not UTF-8: both are a 400 everywhere
    for raw, field in (
        (b'{"name": "a", "display_name": "x\\u0000"}', "display_name"),
        (b'{"name": "a", "display_name": "x\\ud800"}', "display_name"),
        (
            b'{"name": "a", "display_name": "x", "custom_fields": {"k": "\\u0000"}}',
            "custom_fields.k",
        ),
        (b'{"name": "a", "display_name": "x", "labels": {"\\u0000": "v"}}', "labels"),
    ):
        body = problem(post_raw(api, raw), 400, contract)
        assert body["invalid_parameters"][0]["field"] == field
    problem(api.get(URL, params={"filter[name]": "a\x00b"}), 400, contract)
    problem(api.get(f"{URL}/a%00b"), 400, contract)
    ok = post_raw(api, b'{"name": "a", "display_name": "caf\\u00e9 \\ud83d\\ude00"}')
    assert contract.check(ok, 201, response="CatalogServiceResponse")["display_name"] == "café 😀"


def test_deeply_nested_json_is_400(api: httpx.Client, contract: Contract) -> None:
    for raw in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"x": "\\u00e9", "a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ):
        problem(post_raw(api, raw), 400, contract)
