"""Validate our responses against the schemas of Kong's published contract."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]


SPEC = "konnect-service-catalog-v1.openapi.yaml"
SHARED_SPEC = ROOT.parent / "shared" / "contracts" / SPEC
"""Where the team's shared copy of Kong's spec lives, beside the repo (a clone has none)."""
VENDORED_SPEC = Path(__file__).resolve().parent / "contracts" / SPEC
"""The copy shipped with the tests, so a fresh clone validates against the contract too."""


IDENTITY_SPEC = "konnect-identity-v3.openapi.yaml"
"""Kong's published Konnect Identity spec, which ``/v3`` serves."""


def contract_path(spec: str = SPEC) -> Path | None:
    """Kong's published spec ``spec`` (the Service Catalog's by default): the shared copy
    when it is there, else the copy under ``tests/contracts``; None when neither exists."""
    shared = ROOT.parent / "shared" / "contracts" / spec
    vendored = Path(__file__).resolve().parent / "contracts" / spec
    for p in (shared, vendored):
        if p.exists():
            return p
    return None


def _to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable`` becomes a null alternative."""
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _to_jsonschema(v)
        for k, v in node.items()
        if k
        not in (
            "nullable",
            "example",
            "examples",
            "x-examples",
            "readOnly",
            "writeOnly",
            "discriminator",
            "x-speakeasy-unknown-values",
            "x-convert-oneOf",
        )
    }
    if node.get("nullable"):
        if (
            "type" in out
            and isinstance(out["type"], str)
            and not any(k in out for k in ("allOf", "oneOf", "anyOf", "$ref"))
        ):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    """The contract's components, ready for jsonschema."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components = _to_jsonschema(copy.deepcopy(doc["components"]))

    @classmethod
    def load(cls, path: Path) -> Contract:
        """Load the contract from ``path`` (see :func:`contract_path`)."""
        return cls(yaml.safe_load(path.read_text()))

    def schema(self, name: str) -> dict[str, Any]:
        """A validating schema for ``components/schemas/<name>``."""
        return {"$ref": f"#/components/schemas/{name}", "components": self.components}

    def response_schema(self, name: str) -> dict[str, Any]:
        """A validating schema for ``components/responses/<name>``."""
        resp = self.components["responses"][name]["content"]
        media = resp.get("application/json") or resp.get("application/problem+json")
        return {**media["schema"], "components": self.components}

    def validate(
        self, instance: Any, *, schema: str | None = None, response: str | None = None
    ) -> None:
        """Raise when ``instance`` breaks the named schema or response."""
        sch = self.schema(schema) if schema else self.response_schema(response or "")
        jsonschema.Draft4Validator(sch).validate(instance)

    def check(
        self,
        resp: httpx.Response,
        status: int,
        *,
        schema: str | None = None,
        response: str | None = None,
    ) -> dict[str, Any]:
        """Assert ``resp`` has ``status`` and its body (a JSON object) matches the contract;
        return the body."""
        assert resp.status_code == status, f"{resp.status_code} != {status}: {resp.text[:2000]}"
        body = resp.json()
        assert isinstance(body, dict), body
        if status >= 400:
            assert resp.headers["content-type"].startswith("application/problem+json")
            self.validate(body, schema="BadRequestError" if status == 400 else "BaseError")
        if schema or response:
            self.validate(body, schema=schema, response=response)
        return body
