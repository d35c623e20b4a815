"""The catalog file format (``apiVersion: service-catalog/v1``) and its loader.

A catalog file is YAML, one or more documents (``---``), each a ``CatalogService`` or a
``Team``. The pydantic models below are the format's one definition: the JSON Schema
shipped in the package (``catalog_as_code/schema.json``, :func:`json_schema`) is
generated from them, and a test keeps the two equal. Every loaded document remembers the
file and line it came from, so that every error names them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from service_catalog.catalog_services.schemas import Description, DisplayName, ServiceName
from service_catalog.core.validation import CustomFields, Labels

API_VERSION = "service-catalog/v1"
#: Errors reported at once before giving up (a broken file should not print thousands).
MAX_ERRORS = 20

# The C parser when PyYAML was built with libyaml (ten times faster on large trees).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Text = Annotated[str, StringConstraints(min_length=1, max_length=250, strict=True)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: Literal["service-catalog/v1"] = Field(alias="apiVersion")


class ResourceRef(BaseModel):
    """A resource by its natural key: the integration instance (id or name), the
    resource type and its config. Mapped to the service; created (and hydrated by the
    next sync that finds it) when it does not exist yet."""

    model_config = ConfigDict(extra="forbid")

    integration_instance: Text
    type: Text
    config: dict[str, Any]


class DependencyRef(BaseModel):
    """A dependency of the service on another catalog service (by name), with an optional
    label (``calls``, ``reads-from``)."""

    model_config = ConfigDict(extra="forbid")

    service: Text
    label: Text | None = None


class ApiRef(BaseModel):
    """An API the service provides or consumes (by the API's name, and version)."""

    model_config = ConfigDict(extra="forbid")

    api: Text
    version: Text | None = None
    relation: Literal["provides", "consumes"] = Field(
        default="provides",
        description="provides: an API mapping (Kong's /api-mappings). consumes: a consumed "
        "API, an extension kept apart from the mappings (Kong's have no direction) and read "
        "at /v1/catalog-services/{serviceId}/consumed-api-mappings.",
    )


class ServiceDoc(_Doc):
    """A catalog service. Declarative: what the document says is what the service holds
    (labels and custom fields absent mean none). ``resources``, when present, is the
    whole set of the service's resource mappings; absent, mappings are left as they are."""

    kind: Literal["CatalogService"]
    name: ServiceName
    display_name: DisplayName | None = None
    description: Description | None = None
    labels: Labels | None = None
    custom_fields: CustomFields | None = None
    owner: Text | None = Field(default=None, description="The owner team's name.")
    resources: list[ResourceRef] | None = None
    dependencies: list[DependencyRef] | None = None
    apis: list[ApiRef] | None = None


class TeamDoc(_Doc):
    """A team (as ``/v3/teams`` has it): owner of services."""

    kind: Literal["Team"]
    name: Text
    description: Annotated[str, StringConstraints(max_length=250, strict=True)] | None = None
    labels: Labels | None = None


Document = Annotated[ServiceDoc | TeamDoc, Field(discriminator="kind")]
_DOCUMENT: TypeAdapter[ServiceDoc | TeamDoc] = TypeAdapter(Document)


@dataclass(frozen=True)
class Located:
    """A document with the file and line (1-based) it starts at."""

    doc: ServiceDoc | TeamDoc
    file: str
    line: int


@dataclass
class FileError:
    """One error in a catalog file: where, and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class CatalogFileErrors(Exception):
    """Catalog files that cannot be applied as they are (bad YAML, a document the format
    refuses, a name given twice, a reference to nothing). ``status`` is the HTTP status
    the API answers with (400, or 409 for a conflict with what is stored)."""

    errors: list[FileError]
    status: int = 400
    more: int = field(default=0)

    def __str__(self) -> str:
        lines = [str(e) for e in self.errors]
        if self.more:
            lines.append(f"... and {self.more} more")
        return "\n".join(lines)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one catalog document (generated from the models)."""
    schema = _DOCUMENT.json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://service-catalog.dev/schemas/catalog-file-v1.json",
        "title": "service-catalog catalog file document (apiVersion service-catalog/v1)",
        **schema,
    }


def shipped_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (``catalog_as_code/schema.json``)."""
    text = resources.files("service_catalog.catalog_as_code").joinpath("schema.json").read_text()
    result: dict[str, Any] = json.loads(text)
    return result


def _line_of(node: yaml.Node, loc: Iterable[Any]) -> int:
    """The line (1-based) of the value at ``loc`` inside a composed YAML ``node`` (the
    deepest one found: a missing key reports its mapping's line)."""
    current = node
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if getattr(key, "value", None) == part:
                    nxt = value if isinstance(value, yaml.CollectionNode) else key
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            nxt = current.value[part]
        if nxt is None:
            break
        current = nxt
    return int(current.start_mark.line) + 1


def _message(err: Any) -> tuple[tuple[Any, ...], str]:
    """The location (without the union tag) and the message of one pydantic error."""
    loc = tuple(err.get("loc", ()))
    if loc and loc[0] in ("CatalogService", "Team"):
        loc = loc[1:]
    ctx = err.get("ctx") or {}
    if ctx.get("key") is not None:
        loc = (*loc, ctx["key"])
    path = ".".join(str(p) for p in loc)
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        msg = "is not a known property"
    elif err.get("type") == "union_tag_invalid":
        msg = "kind must be CatalogService or Team"
    elif err.get("type") == "union_tag_not_found":
        msg = "kind is missing (CatalogService or Team)"
    return loc, (f"{path}: {msg}" if path else msg)


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_TAGS = yaml.resolver.Resolver()  # the safe loaders' implicit tags, without path resolvers


class _FastLoader(_Loader):  # type: ignore[misc]
    """The safe loader, faster on large trees: scalars' tags resolved once per distinct
    text, and strings, mappings and lists built straight from the composed nodes
    (PyYAML's generic constructor costs more than libyaml's parsing). Other tags, and a
    mapping with a merge key (``<<``), go through the safe constructor, so what it builds
    is what ``yaml.safe_load`` builds; an alias shares its value, as there."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._built: dict[int, Any] = {}
        if not self.yaml_path_resolvers:
            # libyaml asks for the tag of every node; the answer depends on the text only
            # (no path resolvers), so a per-file C-level cache answers repeats (keys, and
            # most values) without running Python. (It holds no reference to the loader.)
            self.resolve = functools.lru_cache(maxsize=None)(_TAGS.resolve)

    def build(self, node: yaml.Node) -> Any:
        """The Python value of one composed document."""
        try:
            return self._build(node)
        finally:
            self._built = {}
            self.constructed_objects: dict[yaml.Node, Any] = {}
            self.recursive_objects: dict[yaml.Node, None] = {}

    def _build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR and type(node) is yaml.ScalarNode:
            return node.value
        built = self._built.get(id(node))
        if built is not None:
            return built
        if tag == _MAP and type(node) is yaml.MappingNode:
            out: dict[Any, Any] = {}
            self._built[id(node)] = out
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:  # (rare: the safe constructor merges)
                    out = self._built[id(node)] = self.construct_object(node, deep=True)
                    return out
                key = self._build(key_node)
                try:
                    out[key] = self._build(value_node)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "found unhashable key",
                        key_node.start_mark,
                    ) from None
            return out
        elif tag == _SEQ and type(node) is yaml.SequenceNode:
            items: list[Any] = []
            self._built[id(node)] = items
            items.extend(self._build(child) for child in node.value)
            return items
        value = self.construct_object(node, deep=True)
        self._built[id(node)] = value
        return value


def parse_yaml(text: str, file: str) -> Iterator[tuple[Any, yaml.Node]]:
    """The documents of a YAML stream, each with its composed node (for line numbers).
    Bad YAML raises :class:`CatalogFileErrors` naming the file and line."""
    loader = _FastLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yield loader.build(node), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise CatalogFileErrors(
            [FileError(file, line, f"not valid YAML: {exc.problem or exc.context}")]
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogFileErrors([FileError(file, None, f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def validate_document(value: Any, node: yaml.Node, file: str) -> Located | list[FileError]:
    """One parsed YAML document as a catalog document, or its errors (file and line)."""
    line = int(node.start_mark.line) + 1
    if not isinstance(value, dict):
        return [FileError(file, line, "a document must be a mapping (apiVersion, kind, ...)")]
    if value.get("apiVersion") != API_VERSION:
        found = value.get("apiVersion")
        return [
            FileError(
                file,
                _line_of(node, ("apiVersion",)),
                f"apiVersion must be {API_VERSION}" + (f", not {found}" if found else ""),
            )
        ]
    try:
        doc = _DOCUMENT.validate_python(value)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc, msg = _message(err)
            errors.append(FileError(file, _line_of(node, loc), msg))
        return errors
    return Located(doc, file, line)


def load_documents(files: Iterable[tuple[str, str]]) -> list[Located]:
    """Every document of ``files`` (``(name, YAML text)`` pairs), validated; all errors
    (up to :data:`MAX_ERRORS`) raised together as :class:`CatalogFileErrors`."""
    docs: list[Located] = []
    errors: list[FileError] = []
    for name, text in files:
        for value, node in parse_yaml(text, name):
            if value is None:
                continue
            result = validate_document(value, node, name)
            if isinstance(result, Located):
                docs.append(result)
            else:
                errors.extend(result)
    if errors:
        raise CatalogFileErrors(errors[:MAX_ERRORS], more=max(0, len(errors) - MAX_ERRORS))
    return docs


def dump_documents(docs: Iterable[dict[str, Any]]) -> str:
    """Documents as one YAML stream (``---`` between documents), keys in the given order."""
    return yaml.dump_all(
        docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True, explicit_start=True
    )
