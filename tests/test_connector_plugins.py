"""Connectors as plugins: a connector shipped as a distribution of its own (installed into a
directory on ``sys.path``, with its own ``entry_points.txt``) is found through the
``service_catalog.connectors`` entry points like the built-in ones, and the catalog serves
all of it: its descriptor (``config_schema`` generated from its config model), config
validation, a sync, the generic children route and the routes it contributes."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import LiveServer
from contract import Contract
from service_catalog.core.db import Database
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import Integration
from service_catalog.settings import Settings
from sync_support import sync_now

PLUGIN = '''
"""A throwaway connector: shelves, each with books as children."""

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

from service_catalog.integrations.connectors.base import (
    ChildPage, ChildQuery, Connector, Integration, ResourceRecord, VerifyResult)
from service_catalog.integrations.connectors.config import ConnectorConfig, setting

BOOKS = [{"title": f"Book {i}"} for i in range(1, 8)]


class ShelvesConfig(ConnectorConfig):
    region: Literal["north", "south"] = setting(
        display_name="Region", description="Which library.",
        choices={"north": "North wing", "south": "South wing"})
    depth: int = setting(2, display_name="Depth", description="Shelves.", ge=1, le=5)


class ShelvesConnector(Connector):
    integration_name = "acme-shelves"
    child_kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {"shelf": ("books",)}

    def verify(self) -> VerifyResult:
        return VerifyResult("accepted")

    def discover(self) -> Iterator[list[ResourceRecord]]:
        yield [ResourceRecord("shelf", {"shelf_id": f"s{i}"}, f"Shelf {i}",
                              {"region": self.config["region"]})
               for i in range(1, int(self.config["depth"]) + 1)]

    def list_children(self, query: ChildQuery) -> ChildPage:
        return ChildPage(BOOKS[query.offset:query.offset + query.limit], len(BOOKS))


INTEGRATION = Integration(
    name="acme-shelves", display_name="Acme Shelves", description="Shelves and books.",
    connector=ShelvesConnector, config=ShelvesConfig,
    authorization={"type": "multi_key_auth", "config": {"headers": [
        {"name": "x-acme-key", "display_name": "Key", "description": "The key."}]}},
    resource_types={"shelf": {"display_name": "Shelf", "schema": {
        "type": "simple", "definition": {"shelf_id": "string"}}}},
    routes="acme_shelves.routes:router")
'''

ROUTES = """
from fastapi import APIRouter

router = APIRouter()


@router.get("/v1/acme/ping")
def ping() -> dict[str, bool]:
    return {"pong": True}
"""


@pytest.fixture
def acme(tmp_path: Path) -> Iterator[str]:
    """The ``acme-shelves`` distribution installed into a directory put on sys.path (plus a
    broken entry point of its own, which is skipped); the registry reads the entry points
    again, and once more when it is gone."""
    site = tmp_path / "site"
    pkg = site / "acme_shelves"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "routes.py").write_text(textwrap.dedent(ROUTES))
    info = site / "acme_shelves-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-shelves\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[service_catalog.connectors]\n"
        "acme-shelves = acme_shelves:INTEGRATION\n"
        "acme-broken = acme_shelves:NOT_THERE\n"
    )
    sys.path.insert(0, str(site))
    registry.reload()
    try:
        yield "acme-shelves"
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m.split(".")[0] == "acme_shelves"]:
            del sys.modules[name]
        registry.reload()


def test_a_connector_distribution_is_found_and_served(
    acme: str, settings: Settings, db: Database, contract: Contract
) -> None:
    assert "acme-broken" not in registry.integrations()
    live = LiveServer(settings, db).start()  # after the install: its routes are mounted
    try:
        with live.client() as api:
            listed = contract.check(
                api.get("/v1/integrations", params={"filter[name]": acme}),
                200,
                response="ListCatalogIntegrationsResponse",
            )
            [desc] = listed["data"]
            contract.validate(desc, schema="CatalogIntegration")
            assert desc["display_name"] == "Acme Shelves"
            assert desc["config_schema"] == {
                "region": {
                    "type": "enum",
                    "display_name": "Region",
                    "description": "Which library.",
                    "required": True,
                    "choices": [
                        {"value": "north", "display_name": "North wing"},
                        {"value": "south", "display_name": "South wing"},
                    ],
                },
                "depth": {
                    "type": "integer",
                    "display_name": "Depth",
                    "description": "Shelves.",
                    "required": False,
                    "default": 2,
                    "minimum": 1,
                    "maximum": 5,
                },
            }
            assert {i["name"] for i in api.get("/v1/integrations").json()["data"]} >= {
                "custom",
                "rest-inventory",
                "traceable",
                acme,
            }

            bad = api.post(
                "/v1/integration-instances",
                json={
                    "integration_name": acme,
                    "name": "shelves",
                    "display_name": "Shelves",
                    "config": {"region": "east", "depth": 9},
                },
            )
            problem = contract.check(bad, 400)
            assert [(p["field"], p["rule"]) for p in problem["invalid_parameters"]] == [
                ("config.region", "enum"),
                ("config.depth", "max"),
            ]

            created = api.post(
                "/v1/integration-instances",
                json={
                    "integration_name": acme,
                    "name": "shelves",
                    "display_name": "Shelves",
                    "config": {"region": "north"},
                },
            )
            assert created.status_code == 201, created.text
            iid = created.json()["id"]
            cred = api.post(
                f"/v1/integration-instances/{iid}/auth-credential",
                json={
                    "type": "multi_key_auth",
                    "config": {"headers": [{"name": "x-acme-key", "key": "k-123456"}]},
                },
            )
            assert cred.status_code == 201 and cred.json()["verified"] is True, cred.text
            run = sync_now(api, settings, db, iid)
            assert run["status"] == "succeeded" and run["created"] == 2, run

            shelves = api.get("/v1/resources", params={"filter[integration.name]": acme}).json()[
                "data"
            ]
            assert sorted(r["name"] for r in shelves) == ["Shelf 1", "Shelf 2"]
            books = api.get(
                f"/v1/resources/{shelves[0]['id']}/children/books",
                params={"page[size]": "3", "page[number]": "3"},
            )
            assert books.status_code == 200, books.text
            assert books.json() == {
                "data": [{"title": "Book 7"}],
                "meta": {"page": {"number": 3, "size": 3, "total": 7}},
            }
            other = contract.check(
                api.get(f"/v1/resources/{shelves[0]['id']}/children/endpoints"), 404
            )
            assert "[endpoints]" in other["detail"] and "books" in other["detail"]
            # Traceable's alias is Traceable's: a shelf has no endpoints there either.
            contract.check(api.get(f"/v1/resources/{shelves[0]['id']}/endpoints"), 404)

            assert api.get("/v1/acme/ping").json() == {"pong": True}
    finally:
        live.stop()


def test_declared_indexed_data_paths() -> None:
    """``Integration.indexed_data``: the installed integrations' paths, all together; a
    path no filter can reach is refused when the integration is declared."""
    paths = registry.indexed_data_paths()
    assert {"service_name", "vulnerabilities.open", "owner"} <= set(paths)
    assert list(paths) == sorted(set(paths))
    traceable = registry.get_integration("traceable")
    assert traceable is not None and "endpoints.total" in traceable.indexed_data
    for bad in ("", "a..b", "a.", "x" * 200):
        with pytest.raises(ValueError, match="dot path"):
            Integration(
                name="bad", display_name="Bad", description="", connector=None, indexed_data=(bad,)
            )
