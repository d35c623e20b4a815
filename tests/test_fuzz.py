"""Fuzzing: generated and malformed requests against every endpoint of our own OpenAPI.

Fails on any 5xx and on any response that breaks the schema we publish. Bounded:
a few dozen examples per operation (SERVICE_CATALOG_FUZZ_EXAMPLES to change).
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.internal.result import Err, Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES = int(os.environ.get("SERVICE_CATALOG_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _seed(api: httpx.Client) -> None:
    for i in range(3):
        api.post(
            "/v1/catalog-services",
            json={
                "name": f"seed-{i}",
                "display_name": f"Seed {i}",
                "labels": {"env": "prod"},
                "custom_fields": {"owner": "x", "tier": i},
            },
        )


def test_every_operation_of_our_openapi(server: Any, api: httpx.Client) -> None:
    _seed(api)
    schema = schemathesis.from_uri(
        f"{server.url}/v1/openapi.json",
        base_url=server.url,
        force_schema_version="30",
        data_generation_methods=[
            schemathesis.DataGenerationMethod.positive,
            schemathesis.DataGenerationMethod.negative,
        ],
    )
    token = server.token("fuzz")
    headers = {"Authorization": f"Bearer {token}"}
    results = list(schema.get_all_operations())
    assert not [r.err() for r in results if isinstance(r, Err)]
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 8  # catalog services (5) and operations endpoints at least
    failures: list[str] = []
    session = requests.Session()
    for operation in operations:
        if operation.path in ("/metrics",):
            continue  # plain text, no schema

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(session=session, headers=headers, timeout=30)
            case.validate_response(
                response, checks=(not_a_server_error, response_schema_conformance)
            )

        try:
            run()
        except Exception as exc:  # collect every failing operation, then fail
            detail = "; ".join(str(e) for e in getattr(exc, "exceptions", [])) or str(exc)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}: {detail}"[:3000])
    assert not failures, "\n\n".join(failures)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["name", "display_name", "description", "labels", "custom_fields", "id", "created_at", "x"]
)
BODY = st.one_of(JSON, st.dictionaries(FIELDS, JSON, max_size=6))
QUERY_KEY = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda f, op: f"filter[{f}]" + (f"[{op}]" if op else ""),
        st.sampled_from(
            [
                "name",
                "display_name",
                "labels.env",
                "custom_fields.tier",
                "custom_fields.a.b",
                "created_at",
                "id",
                "x",
                "",
            ]
        ),
        st.sampled_from(["", "eq", "neq", "contains", "oeq", "ocontains", "lt", "gte", "zz"]),
    ),
    st.sampled_from(["sort", "page[size]", "page[number]"]),
)
QUERY = st.lists(st.tuples(QUERY_KEY, st.text(max_size=40)), max_size=5)


def test_random_bodies_and_queries_never_5xx(server: Any, api: httpx.Client) -> None:
    _seed(api)
    target = api.get("/v1/catalog-services", params={"filter[name]": "seed-0"}).json()
    sid = target["data"][0]["id"]

    @FUZZ
    @given(body=BODY, query=QUERY, raw=st.binary(max_size=64), which=st.integers(0, 3))
    def run(body: Any, query: list[tuple[str, str]], raw: bytes, which: int) -> None:
        if which == 0:
            resp = api.post(
                "/v1/catalog-services",
                content=json.dumps(body),
                headers={"content-type": "application/json"},
            )
        elif which == 1:
            resp = api.patch(
                f"/v1/catalog-services/{sid}",
                content=json.dumps(body),
                headers={"content-type": "application/json"},
            )
        elif which == 2:
            resp = api.post(
                "/v1/catalog-services", content=raw, headers={"content-type": "application/json"}
            )
        else:
            resp = api.get("/v1/catalog-services", params=tuple(query))
        assert resp.status_code < 500, (resp.status_code, resp.text, body, query, raw)
        if resp.status_code >= 400:
            problem = resp.json()
            assert problem["status"] == resp.status_code
            assert problem["instance"] == f"kong:trace:{resp.headers['x-trace-id']}"

    run()
    # the target survives whatever the fuzzer did to it, and stays readable
    assert api.get(f"/v1/catalog-services/{sid}").status_code == 200
    listing = api.get("/v1/catalog-services", params={"page[size]": 1000})
    assert listing.status_code == 200


@pytest.mark.parametrize("path", ["/v1/catalog-services", "/v1/catalog-services/x"])
def test_random_methods_and_paths(server: Any, api: httpx.Client, path: str) -> None:
    @FUZZ
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
        suffix=st.text(alphabet="abc/%?&=[]._-~", max_size=12),
    )
    def run(method: str, suffix: str) -> None:
        resp = api.request(method, path + suffix)
        assert resp.status_code < 500, (method, path + suffix, resp.text)

    run()
