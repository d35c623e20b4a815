"""Catalog services over HTTP, on SQLite and PostgreSQL, validated against the contract."""

from __future__ import annotations

from typing import Any

import httpx

from contract import Contract


def create(api: httpx.Client, contract: Contract, **body: Any) -> dict[str, Any]:
    body.setdefault("display_name", body["name"].title())
    return contract.check(
        api.post("/v1/catalog-services", json=body), 201, response="CatalogServiceResponse"
    )


def test_create_get_patch_delete(api: httpx.Client, contract: Contract) -> None:
    svc = create(
        api,
        contract,
        name="user-svc",
        display_name="User Service",
        labels={"env": "prod"},
        custom_fields={"owner": "John", "dashboard": {"name": "D", "link": "https://d"}},
    )
    assert svc["labels"] == {"env": "prod"}
    got = contract.check(
        api.get(f"/v1/catalog-services/{svc['id']}"), 200, response="CatalogServiceResponse"
    )
    assert got == svc
    patched = contract.check(
        api.patch(
            f"/v1/catalog-services/{svc['id']}",
            json={"labels": {"env": None, "team": "core"}, "description": "Users"},
        ),
        200,
        response="CatalogServiceResponse",
    )
    assert patched["labels"] == {"team": "core"}
    assert patched["description"] == "Users"
    assert patched["updated_at"] >= svc["updated_at"]
    assert api.delete(f"/v1/catalog-services/{svc['id']}").status_code == 204
    contract.check(api.get(f"/v1/catalog-services/{svc['id']}"), 404)


def test_duplicate_name_is_409(api: httpx.Client, contract: Contract) -> None:
    create(api, contract, name="dup")
    body = contract.check(
        api.post("/v1/catalog-services", json={"name": "dup", "display_name": "x"}), 409
    )
    assert "dup" in body["detail"]


def test_list_filters_and_paging(api: httpx.Client, contract: Contract) -> None:
    for i in range(12):
        create(api, contract, name=f"svc-{i:02d}", labels={"tier": "gold" if i % 2 else "silver"})
    page = contract.check(
        api.get(
            "/v1/catalog-services", params={"page[size]": 5, "page[number]": 3, "sort": "name desc"}
        ),
        200,
        response="ListCatalogServicesResponse",
    )
    assert page["meta"]["page"] == {"number": 3, "size": 5, "total": 12}
    assert [s["name"] for s in page["data"]] == ["svc-01", "svc-00"]
    gold = api.get(
        "/v1/catalog-services", params={"filter[labels.tier]": "gold", "page[size]": 100}
    ).json()
    assert gold["meta"]["page"]["total"] == 6
    assert all(s["labels"]["tier"] == "gold" for s in gold["data"])
    bad = contract.check(api.get("/v1/catalog-services", params={"filter[nope][eq]": "x"}), 400)
    assert bad["invalid_parameters"][0]["field"] == "filter[nope][eq]"


# --- field rules ------------------------------------------------------------------

URL = "/v1/catalog-services"


def bad(
    api: httpx.Client, contract: Contract, method: str, path: str, body: Any, status: int = 400
) -> dict[str, Any]:
    """Send ``body`` and assert a contract-shaped problem with ``status``."""
    return contract.check(api.request(method, path, json=body), status)


def rules(problem: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["field"], p.get("rule")) for p in problem["invalid_parameters"]]


def test_name_pattern_and_lengths(api: httpx.Client, contract: Contract) -> None:
    for name in ("a", "a" * 120, "user-svc.v2", "0-9"):
        create(api, contract, name=name, display_name="X")
    for name, rule in (
        ("", "min_length"),
        ("a" * 121, "max_length"),
        ("User", "matches_regex"),
        ("a b", "matches_regex"),
        ("a_b", "matches_regex"),
        ("ü", "matches_regex"),
    ):
        body = bad(api, contract, "POST", URL, {"name": name, "display_name": "X"})
        assert ("name", rule) in rules(body), (name, body)
        assert body["invalid_parameters"][0]["source"] == "body"
    p = bad(api, contract, "POST", URL, {"name": "", "display_name": "X"})["invalid_parameters"]
    assert p[0]["minimum"] == 1
    p = bad(api, contract, "POST", URL, {"name": "a" * 121, "display_name": "X"})
    assert p["invalid_parameters"][0]["maximum"] == 120
    # nothing was stored by the refused requests
    total = api.get(URL).json()["meta"]["page"]["total"]
    assert total == 4


def test_display_name_and_description(api: httpx.Client, contract: Contract) -> None:
    svc = create(api, contract, name="d", display_name="Any thing: ü & 🙂 " + "x" * 100)
    assert svc["description"] is None
    assert ("display_name", "min_length") in rules(
        bad(api, contract, "POST", URL, {"name": "e", "display_name": ""})
    )
    assert ("display_name", "max_length") in rules(
        bad(api, contract, "POST", URL, {"name": "e", "display_name": "x" * 121})
    )
    assert ("display_name", "required") in rules(bad(api, contract, "POST", URL, {"name": "e"}))
    assert ("description", "max_length") in rules(
        bad(
            api,
            contract,
            "POST",
            URL,
            {"name": "e", "display_name": "E", "description": "x" * 2049},
        )
    )
    ok = create(api, contract, name="e", display_name="E", description="x" * 2048)
    assert len(ok["description"]) == 2048
    # PATCH description to null clears it; display_name null is refused
    patched = contract.check(
        api.patch(f"{URL}/{ok['id']}", json={"description": None}),
        200,
        response="CatalogServiceResponse",
    )
    assert patched["description"] is None
    refused = bad(api, contract, "PATCH", f"{URL}/{ok['id']}", {"display_name": None})
    assert refused["invalid_parameters"][0]["field"] == "display_name"
    assert api.get(f"{URL}/{ok['id']}").json()["display_name"] == "E"


def test_labels_rules(api: httpx.Client, contract: Contract) -> None:
    good = {"env": "prod", "a": "b", "Team.Name-1_x": "V.v-1_z", "k" * 63: "v" * 63}
    svc = create(api, contract, name="lab", labels=good)
    assert svc["labels"] == good
    for labels in (
        {"-x": "v"},
        {"x-": "v"},
        {"k" * 64: "v"},
        {"a b": "v"},
        {"env": "-v"},
        {"env": "v" * 64},
        {"env": ""},
        {"": "v"},
        {"kong-x": "v"},
        {"konnect": "v"},
        {"mesh.a": "v"},
        {"kic1": "v"},
        {"_x": "v"},
        {"KONG": "v"},
    ):
        body = bad(api, contract, "POST", URL, {"name": "x", "display_name": "X", "labels": labels})
        assert body["invalid_parameters"][0]["field"].startswith("labels"), body
    for wrong in ({"env": 1}, {"env": True}, {"env": None}, {"env": {"a": "b"}}, ["env"], "env"):
        bad(api, contract, "POST", URL, {"name": "x", "display_name": "X", "labels": wrong})
    fifty = {f"k{i}": "v" for i in range(50)}
    create(api, contract, name="fifty", labels=fifty)
    body = bad(
        api,
        contract,
        "POST",
        URL,
        {"name": "x", "display_name": "X", "labels": {**fifty, "one-more": "v"}},
    )
    assert "50" in body["detail"]
    # PATCH: null removes a key, other keys merge; going over 50 by merging is refused
    fid = api.get(URL, params={"filter[name]": "fifty"}).json()["data"][0]["id"]
    over = bad(api, contract, "PATCH", f"{URL}/{fid}", {"labels": {"extra": "v"}})
    assert "50" in over["detail"]
    swapped = contract.check(
        api.patch(f"{URL}/{fid}", json={"labels": {"k0": None, "new": "v"}}),
        200,
        response="CatalogServiceResponse",
    )
    assert "k0" not in swapped["labels"] and swapped["labels"]["new"] == "v"
    assert len(swapped["labels"]) == 50
    cleared = contract.check(
        api.patch(f"{URL}/{fid}", json={"labels": None}), 200, response="CatalogServiceResponse"
    )
    assert cleared["labels"] == {}
    bad(api, contract, "PATCH", f"{URL}/{svc['id']}", {"labels": {"kong": "x"}})
    assert api.get(f"{URL}/{svc['id']}").json()["labels"] == good


def test_custom_fields(api: httpx.Client, contract: Contract) -> None:
    fields = {
        "owner": "John",
        "tier": 2,
        "cost": 12.5,
        "oncall": True,
        "legacy": False,
        "dashboard": {"name": "On-Call", "link": "https://dash.example/1"},
    }
    svc = create(api, contract, name="cf", custom_fields=fields)
    assert svc["custom_fields"] == fields
    got = api.get(f"{URL}/{svc['id']}").json()
    assert got["custom_fields"] == fields
    assert isinstance(got["custom_fields"]["tier"], int)
    assert got["custom_fields"]["oncall"] is True
    for value in (
        {"name": "x"},
        {"link": "https://x"},
        {"name": 1, "link": "x"},
        {"name": "x", "link": "y", "other": 1},
        [1, 2],
        {"a": {"b": 1}},
    ):
        body = bad(
            api,
            contract,
            "POST",
            URL,
            {"name": "x", "display_name": "X", "custom_fields": {"f": value}},
        )
        assert body["invalid_parameters"][0]["field"].startswith("custom_fields"), body
    bad(api, contract, "POST", URL, {"name": "x", "display_name": "X", "custom_fields": [1]})
    bad(api, contract, "POST", URL, {"name": "x", "display_name": "X", "custom_fields": "x"})
    bad(
        api,
        contract,
        "POST",
        URL,
        {"name": "x", "display_name": "X", "custom_fields": {"f": "x" * 5000}},
    )
    # PATCH merges; null removes one field
    patched = contract.check(
        api.patch(f"{URL}/{svc['id']}", json={"custom_fields": {"owner": None, "tier": 3}}),
        200,
        response="CatalogServiceResponse",
    )
    assert "owner" not in patched["custom_fields"]
    assert patched["custom_fields"]["tier"] == 3
    assert patched["custom_fields"]["dashboard"] == fields["dashboard"]


def test_unique_name_on_rename(api: httpx.Client, contract: Contract) -> None:
    a = create(api, contract, name="alpha")
    create(api, contract, name="beta")
    body = contract.check(api.patch(f"{URL}/{a['id']}", json={"name": "beta"}), 409)
    assert "beta" in body["detail"]
    assert api.get(f"{URL}/{a['id']}").json()["name"] == "alpha"
    renamed = contract.check(
        api.patch(f"{URL}/{a['id']}", json={"name": "gamma"}),
        200,
        response="CatalogServiceResponse",
    )
    assert renamed["name"] == "gamma"
    # renaming to its own name is no conflict
    contract.check(
        api.patch(f"{URL}/{a['id']}", json={"name": "gamma"}),
        200,
        response="CatalogServiceResponse",
    )
    create(api, contract, name="alpha")  # the old name is free again


def test_not_found_and_bad_ids(api: httpx.Client, contract: Contract) -> None:
    for ident in ("7f9fd312-a987-4628-b4c5-bb4f4fddd5f7", "not-a-uuid", "1"):
        body = contract.check(api.get(f"{URL}/{ident}"), 404, response="NotFound")
        assert ident in body["detail"]
        contract.check(api.patch(f"{URL}/{ident}", json={"display_name": "x"}), 404)
        contract.check(api.delete(f"{URL}/{ident}"), 404)


# --- lists: paging, filters, sort -------------------------------------------------


def names(resp: httpx.Response, contract: Contract) -> list[str]:
    body = contract.check(resp, 200, response="ListCatalogServicesResponse")
    return sorted(s["name"] for s in body["data"])


def test_paging_meta(api: httpx.Client, contract: Contract) -> None:
    for i in range(23):
        create(api, contract, name=f"p{i:02d}")
    first = contract.check(api.get(URL), 200, response="ListCatalogServicesResponse")
    assert first["meta"]["page"] == {"number": 1, "size": 10, "total": 23}
    assert len(first["data"]) == 10
    seen: list[str] = []
    for number in (1, 2, 3):
        page = contract.check(
            api.get(URL, params={"page[size]": 10, "page[number]": number, "sort": "name"}),
            200,
            response="ListCatalogServicesResponse",
        )
        assert page["meta"]["page"] == {"number": number, "size": 10, "total": 23}
        seen += [s["name"] for s in page["data"]]
    assert seen == [f"p{i:02d}" for i in range(23)]
    beyond = api.get(URL, params={"page[number]": 9}).json()
    assert beyond["data"] == [] and beyond["meta"]["page"]["total"] == 23
    ok = api.get(URL, params={"page[size]": 1000})
    assert len(contract.check(ok, 200, response="ListCatalogServicesResponse")["data"]) == 23
    for params, field in (
        ({"page[size]": 1001}, "page[size]"),
        ({"page[size]": 0}, "page[size]"),
        ({"page[size]": "x"}, "page[size]"),
        ({"page[number]": 0}, "page[number]"),
        ({"page[number]": "-1"}, "page[number]"),
    ):
        body = contract.check(api.get(URL, params=params), 400)
        assert body["invalid_parameters"][0]["field"] == field
        assert body["invalid_parameters"][0]["source"] == "query"
    assert "1000" in contract.check(api.get(URL, params={"page[size]": 5000}), 400)["detail"]


def _seed(api: httpx.Client, contract: Contract) -> dict[str, dict[str, Any]]:
    out = {}
    out["users"] = create(
        api,
        contract,
        name="users",
        display_name="User Service",
        labels={"env": "prod", "team": "core"},
        custom_fields={
            "owner": "alice",
            "tier": 1,
            "oncall": True,
            "dashboard": {"name": "Dash", "link": "https://grafana.example/u"},
        },
    )
    out["billing"] = create(
        api,
        contract,
        name="billing",
        display_name="Billing API",
        labels={"env": "staging", "team": "money"},
        custom_fields={
            "owner": "bob",
            "tier": 2,
            "oncall": False,
            "dashboard": {"name": "Dash", "link": "https://kibana.example/b"},
        },
    )
    out["user-admin"] = create(
        api,
        contract,
        name="user-admin",
        display_name="Admin of users",
        labels={"env": "prod"},
        custom_fields={"owner": "carol", "tier": 3.5},
    )
    out["search"] = create(api, contract, name="search", display_name="Search")
    return out


def test_string_filters(api: httpx.Client, contract: Contract) -> None:
    _seed(api, contract)
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"filter[name]": "users"}, ["users"]),
        ({"filter[name][eq]": "users"}, ["users"]),
        ({"filter[name][neq]": "users"}, ["billing", "search", "user-admin"]),
        ({"filter[name][contains]": "user"}, ["user-admin", "users"]),
        ({"filter[name][contains]": "USER"}, ["user-admin", "users"]),
        ({"filter[name][oeq]": "users,search,nope"}, ["search", "users"]),
        ({"filter[name][ocontains]": "bill,sea"}, ["billing", "search"]),
        ({"filter[display_name]": "Search"}, ["search"]),
        ({"filter[display_name][eq]": "Billing API"}, ["billing"]),
        ({"filter[display_name][neq]": "Search"}, ["billing", "user-admin", "users"]),
        ({"filter[display_name][contains]": "user"}, ["user-admin", "users"]),
        ({"filter[display_name][oeq]": "Search,Billing API"}, ["billing", "search"]),
        ({"filter[display_name][ocontains]": "api,admin"}, ["billing", "user-admin"]),
        # LIKE wildcards are literal characters
        ({"filter[name][contains]": "%"}, []),
        ({"filter[name][contains]": "_"}, []),
        # several filters combine with AND
        ({"filter[name][contains]": "user", "filter[labels.team]": "core"}, ["users"]),
    ]
    for params, expected in cases:
        assert names(api.get(URL, params=params), contract) == expected, params


def test_label_and_custom_field_filters(api: httpx.Client, contract: Contract) -> None:
    _seed(api, contract)
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"filter[labels.env]": "prod"}, ["user-admin", "users"]),
        ({"filter[labels.env][eq]": "staging"}, ["billing"]),
        ({"filter[labels.env][neq]": "prod"}, ["billing", "search"]),
        ({"filter[labels.env][contains]": "stag"}, ["billing"]),
        ({"filter[labels.env][oeq]": "staging,dev"}, ["billing"]),
        ({"filter[labels.team][ocontains]": "mon,cor"}, ["billing", "users"]),
        ({"filter[labels.missing]": "x"}, []),
        ({"filter[custom_fields.owner]": "alice"}, ["users"]),
        ({"filter[custom_fields.owner][neq]": "alice"}, ["billing", "search", "user-admin"]),
        ({"filter[custom_fields.owner][contains]": "o"}, ["billing", "user-admin"]),
        ({"filter[custom_fields.owner][oeq]": "bob,carol"}, ["billing", "user-admin"]),
        ({"filter[custom_fields.owner][ocontains]": "ali,car"}, ["user-admin", "users"]),
        ({"filter[custom_fields.dashboard.link][contains]": "grafana"}, ["users"]),
        ({"filter[custom_fields.dashboard.link][contains]": "https"}, ["billing", "users"]),
        ({"filter[custom_fields.dashboard.name]": "Dash"}, ["billing", "users"]),
        ({"filter[custom_fields.tier]": "2"}, ["billing"]),
        ({"filter[custom_fields.tier][eq]": "3.5"}, ["user-admin"]),
        ({"filter[custom_fields.tier][gte]": "2"}, ["billing", "user-admin"]),
        ({"filter[custom_fields.tier][gt]": "2"}, ["user-admin"]),
        ({"filter[custom_fields.tier][lt]": "2"}, ["users"]),
        ({"filter[custom_fields.tier][lte]": "2"}, ["billing", "users"]),
        # a text field never compares as a number
        ({"filter[custom_fields.owner][gte]": "0"}, []),
        ({"filter[custom_fields.oncall]": "true"}, ["users"]),
        ({"filter[custom_fields.oncall][eq]": "false"}, ["billing"]),
    ]
    for params, expected in cases:
        assert names(api.get(URL, params=params), contract) == expected, params
    body = contract.check(api.get(URL, params={"filter[custom_fields.tier][gte]": "abc"}), 400)
    assert body["invalid_parameters"][0]["field"] == "filter[custom_fields.tier][gte]"


def test_created_at_and_id_filters(api: httpx.Client, contract: Contract) -> None:
    seeded = _seed(api, contract)
    order = sorted(seeded.values(), key=lambda s: s["created_at"])
    first, second = order[0], order[1]
    everyone = sorted(seeded)
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"filter[created_at][gte]": first["created_at"]}, everyone),
        ({"filter[created_at][gt]": first["created_at"]}, sorted(s["name"] for s in order[1:])),
        (
            {"filter[created_at][lte]": second["created_at"]},
            sorted([first["name"], second["name"]]),
        ),
        ({"filter[created_at][lt]": second["created_at"]}, [first["name"]]),
        ({"filter[created_at][eq]": second["created_at"]}, [second["name"]]),
        ({"filter[created_at]": second["created_at"]}, [second["name"]]),
        ({"filter[created_at][gte]": "2000-01-01T00:00:00Z"}, everyone),
        ({"filter[created_at][lt]": "2000-01-01T00:00:00+02:00"}, []),
        ({"filter[updated_at][gte]": first["updated_at"]}, everyone),
        ({"filter[id]": seeded["users"]["id"]}, ["users"]),
        ({"filter[id][eq]": seeded["search"]["id"]}, ["search"]),
        (
            {"filter[id][oeq]": f"{seeded['users']['id']},{seeded['billing']['id']}"},
            ["billing", "users"],
        ),
        ({"filter[id][neq]": seeded["users"]["id"]}, ["billing", "search", "user-admin"]),
    ]
    for params, expected in cases:
        assert names(api.get(URL, params=params), contract) == expected, params
    for params in (
        {"filter[created_at][gte]": "yesterday"},
        {"filter[id]": "nope"},
        {"filter[id][oeq]": f"{seeded['users']['id']},x"},
    ):
        body = contract.check(api.get(URL, params=params), 400)
        assert body["invalid_parameters"][0]["field"] == next(iter(params))


def test_sort(api: httpx.Client, contract: Contract) -> None:
    for name, display in (("b", "Same"), ("a", "Same"), ("c", "Other"), ("a2", "Zed")):
        create(api, contract, name=name, display_name=display)

    def order(sort: str | None) -> list[str]:
        params = {"sort": sort} if sort is not None else {}
        body = contract.check(
            api.get(URL, params=params), 200, response="ListCatalogServicesResponse"
        )
        return [s["name"] for s in body["data"]]

    assert order("name desc,created_at") == ["c", "b", "a2", "a"]
    assert order("name") == ["a", "a2", "b", "c"]
    assert order("name asc") == ["a", "a2", "b", "c"]
    assert order("display_name,name desc") == ["c", "b", "a", "a2"]
    assert order("created_at") == ["b", "a", "c", "a2"]
    assert order("created_at desc") == ["a2", "c", "a", "b"]
    default = order(None)  # display_name, then the id as a stable tiebreak
    assert default[0] == "c" and default[-1] == "a2" and set(default[1:3]) == {"a", "b"}
    assert order(None) == default
    for sort in ("nope", "name sideways", "name desc extra"):
        body = contract.check(api.get(URL, params={"sort": sort}), 400)
        assert body["invalid_parameters"][0]["field"] == "sort"


def test_unknown_filter_field_and_operator(api: httpx.Client, contract: Contract) -> None:
    body = contract.check(api.get(URL, params={"filter[colour]": "red"}), 400)
    assert "colour" in body["detail"]
    assert body["invalid_parameters"][0]["field"] == "filter[colour]"
    assert body["invalid_parameters"][0]["source"] == "query"
    body = contract.check(api.get(URL, params={"filter[name][like]": "x"}), 400)
    assert "like" in body["detail"] and "name" in body["detail"]
    assert body["invalid_parameters"][0]["field"] == "filter[name][like]"
    body = contract.check(api.get(URL, params={"filter[created_at][contains]": "2024"}), 400)
    assert "contains" in body["detail"]
    body = contract.check(api.get(URL, params={"filter[id][contains]": "x"}), 400)
    assert "contains" in body["detail"]
    for key in (
        "filter[labels.]",
        "filter[custom_fields..x]",
        "filter[name][eq][x]",
        "filter",
        "filter[]",
        "filter[labels]",
    ):
        contract.check(api.get(URL, params={key: "x"}), 400)


def test_lookup_by_name_or_id_pages_like_any_list(api: httpx.Client, contract: Contract) -> None:
    """``filter[name][eq]`` and ``filter[id]`` alone answer at most one service (read by its
    key): the same body as GET by id, and the page's meta as any list would give it."""
    seeded = _seed(api, contract)
    users = api.get(f"{URL}/{seeded['users']['id']}").json()
    for params in (
        {"filter[name]": "users"},
        {"filter[name][eq]": "users", "sort": "name desc", "page[size]": "1"},
        {"filter[id]": users["id"]},
        {"filter[id][eq]": users["id"]},
    ):
        body = contract.check(api.get(URL, params=params), 200)
        assert body["data"] == [users], params
        assert body["meta"]["page"]["total"] == 1, params
    second = contract.check(
        api.get(URL, params={"filter[name]": "users", "page[number]": "2"}), 200
    )
    assert second["data"] == [] and second["meta"]["page"] == {"number": 2, "size": 10, "total": 1}
    none = contract.check(api.get(URL, params={"filter[name][eq]": "nobody"}), 200)
    assert none["data"] == [] and none["meta"]["page"]["total"] == 0
    # Still checked like any list: a bad sort or page is a 400, not a lookup.
    for params in (
        {"filter[name]": "users", "sort": "nope"},
        {"filter[name]": "users", "page[size]": "0"},
    ):
        contract.check(api.get(URL, params=params), 400)
