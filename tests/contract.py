"""Validate our responses against the schemas of Kong's published contract."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _contract_path() -> Path:
    for candidate in (ROOT.parent / "shared" / "contracts", ROOT / "contracts"):
        p = candidate / "konnect-service-catalog-v1.openapi.yaml"
        if p.exists():
            return p
    raise FileNotFoundError("konnect-service-catalog-v1.openapi.yaml not found")


def _to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable`` becomes a null alternative."""
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_jsonschema(v) for k, v in node.items()
           if k not in ("nullable", "example", "examples", "x-examples", "readOnly", "writeOnly",
                        "discriminator", "x-speakeasy-unknown-values", "x-convert-oneOf")}
    if node.get("nullable"):
        if "type" in out and isinstance(out["type"], str) and not any(
            k in out for k in ("allOf", "oneOf", "anyOf", "$ref")
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
    def load(cls) -> Contract:
        """Load the contract from shared/contracts."""
        return cls(yaml.safe_load(_contract_path().read_text()))

    def schema(self, name: str) -> dict[str, Any]:
        """A validating schema for ``components/schemas/<name>``."""
        return {"$ref": f"#/components/schemas/{name}", "components": self.components}

    def response_schema(self, name: str) -> dict[str, Any]:
        """A validating schema for ``components/responses/<name>``."""
        resp = self.components["responses"][name]["content"]
        media = resp.get("application/json") or resp.get("application/problem+json")
        return {**media["schema"], "components": self.components}

    def validate(self, instance: Any, *, schema: str | None = None,
                 response: str | None = None) -> None:
        """Raise when ``instance`` breaks the named schema or response."""
        sch = self.schema(schema) if schema else self.response_schema(response or "")
        jsonschema.Draft4Validator(sch).validate(instance)

    def check(self, resp: httpx.Response, status: int, *, schema: str | None = None,
              response: str | None = None) -> Any:
        """Assert ``resp`` has ``status`` and its body matches the contract; return the body."""
        assert resp.status_code == status, f"{resp.status_code} != {status}: {resp.text[:2000]}"
        body = resp.json()
        if status >= 400:
            assert resp.headers["content-type"].startswith("application/problem+json")
            self.validate(body, schema="BadRequestError" if status == 400 else "BaseError")
        if schema or response:
            self.validate(body, schema=schema, response=response)
        return body
