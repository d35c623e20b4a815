"""Backstage import: ``catalog-info.yaml`` entities turned into catalog documents.

Reads files, folders (every ``catalog-info.yaml``/``.yml`` under them) and URLs (fetched
with httpx under the catalog's outbound policy, redirects not followed), follows
``Location`` entities' ``target``/``targets`` (relative to the Location), and maps:

- ``Component`` -> a catalog service: name, ``metadata.title`` as display name,
  description, labels plus ``system``, ``lifecycle``, ``type`` (and the system's
  ``domain``) as labels, annotations as custom fields, ``spec.owner`` -> owner team;
  ``dependsOn``/``dependencyOf`` between components -> dependencies;
  ``providesApis`` -> API mappings; ``consumesApis`` -> consumed APIs (stored apart from
  Kong's direction-less mappings, :mod:`.consumers`) and, for each Component of the
  import that provides the API, a dependency labelled ``consumes`` on it (unless the
  consumer declares a dependency on that Component already);
- ``Group`` -> a team (``spec.parent``/``spec.children`` as the label ``parent``: the
  parent's team name), with its members; ``User`` -> an identity user (by
  ``spec.profile.email``; name from ``spec.profile.displayName``, else
  ``metadata.name``), member of the teams of its Groups (``spec.memberOf`` and Groups'
  ``spec.members`` together, :mod:`.people`); ``API`` -> an API with its definition;
  ``System``, ``Domain``, ``Resource`` are read for references only.

Entity references resolve as Backstage resolves them (``[kind:][namespace/]name``, the
default kind depending on the field, the default namespace the referring entity's,
compared without case). Every error names the file, line and entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import ValidationError

from service_catalog.catalog_as_code.documents import (
    API_VERSION,
    MAX_ERRORS,
    CatalogFileErrors,
    FileError,
    Located,
    ServiceDoc,
    TeamDoc,
    parse_yaml,
)
from service_catalog.catalog_as_code.people import DeclaredPeople, DeclaredUser
from service_catalog.catalog_as_code.relations import DeclaredApi, Where
from service_catalog.core.outbound import OutboundRefused, check_request_url

DEFAULT_NAMESPACE = "default"
KINDS = {"component", "system", "domain", "group", "user", "api", "resource", "location"}
_NOT_LABEL = re.compile(r"[^a-zA-Z0-9\-._]+")
_NOT_NAME = re.compile(r"[^0-9a-z.-]+")
FETCH_TIMEOUT = 30.0


@dataclass
class Entity:
    """One Backstage entity and where it was read."""

    kind: str  # lower case
    namespace: str
    name: str
    body: dict[str, Any]
    file: str
    line: int

    @property
    def ref(self) -> str:
        """``kind:namespace/name`` as Backstage writes it."""
        return f"{self.kind}:{self.namespace}/{self.name}"

    @property
    def key(self) -> tuple[str, str, str]:
        """The lookup key (compared without case, as Backstage does)."""
        return (self.kind, self.namespace.lower(), self.name.lower())

    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    def meta(self) -> dict[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}


@dataclass
class Imported:
    """What a Backstage tree becomes: catalog documents, APIs and warnings."""

    docs: list[Located] = field(default_factory=list)
    apis: list[DeclaredApi] = field(default_factory=list)
    people: DeclaredPeople = field(default_factory=DeclaredPeople)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    entities: int = 0


class _Errors:
    def __init__(self) -> None:
        self.errors: list[FileError] = []

    def add(self, entity: Entity | None, file: str, line: int | None, message: str) -> None:
        prefix = f"{entity.ref}: " if entity is not None else ""
        self.errors.append(FileError(file, line, prefix + message))

    def raise_any(self) -> None:
        if self.errors:
            shown = self.errors[:MAX_ERRORS]
            raise CatalogFileErrors(shown, more=len(self.errors) - len(shown))


# --- reading ----------------------------------------------------------------------------


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def fetch_url(url: str, client: httpx.Client) -> str:
    """The text at ``url`` (checked against the outbound policy, no redirects)."""
    try:
        check_request_url(url)
        response = client.get(url)
    except OutboundRefused as exc:
        raise CatalogFileErrors([FileError(url, None, f"refused: the URL {exc}")]) from None
    except httpx.HTTPError as exc:
        raise CatalogFileErrors([FileError(url, None, f"cannot be fetched: {exc}")]) from None
    if response.status_code != 200:
        raise CatalogFileErrors(
            [FileError(url, None, f"cannot be fetched: HTTP {response.status_code}")]
        )
    return response.text


def _folder_files(folder: Path) -> list[Path]:
    found = sorted(
        p for p in folder.rglob("*") if p.name in ("catalog-info.yaml", "catalog-info.yml")
    )
    if not found:
        raise CatalogFileErrors(
            [FileError(str(folder), None, "no catalog-info.yaml or catalog-info.yml under it")]
        )
    return found


def read_entities(sources: Iterable[str], *, client: httpx.Client | None = None) -> list[Entity]:
    """Every entity of ``sources`` (paths, folders, URLs) and of the Locations they hold,
    each file read once."""
    own = client is None
    http = client or httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False)
    errors = _Errors()
    entities: list[Entity] = []
    seen: set[str] = set()
    queue: list[str] = []
    for given in sources:
        if _is_url(given):
            queue.append(given)
            continue
        path = Path(given)
        if path.is_dir():
            queue.extend(str(p) for p in _folder_files(path))
        elif path.exists():
            queue.append(str(path))
        else:
            raise CatalogFileErrors([FileError(given, None, "no such file, folder or URL")])
    try:
        while queue:
            where = queue.pop(0)
            if where in seen:
                continue
            seen.add(where)
            text = fetch_url(where, http) if _is_url(where) else _read_file(where)
            for value, node in parse_yaml(text, where):
                if value is None:
                    continue
                entity = _entity(value, where, int(node.start_mark.line) + 1, errors)
                if entity is None:
                    continue
                entities.append(entity)
                if entity.kind == "location":
                    queue.extend(_targets(entity, errors))
    finally:
        if own:
            http.close()
    errors.raise_any()
    return entities


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogFileErrors([FileError(path, None, f"cannot be read ({exc})")]) from None


def _entity(value: Any, file: str, line: int, errors: _Errors) -> Entity | None:
    if not isinstance(value, dict):
        errors.add(None, file, line, "an entity must be a mapping (apiVersion, kind, metadata)")
        return None
    kind = value.get("kind")
    meta = value.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str) or not name:
        errors.add(None, file, line, "an entity needs a kind and a metadata.name")
        return None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return Entity(
        kind=kind.lower(),
        namespace=namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE,
        name=name,
        body=value,
        file=file,
        line=line,
    )


def _targets(location: Entity, errors: _Errors) -> list[str]:
    spec = location.spec()
    targets = list(spec.get("targets") or [])
    if spec.get("target"):
        targets.append(spec["target"])
    out: list[str] = []
    for target in targets:
        if not isinstance(target, str):
            errors.add(location, location.file, location.line, "targets must be strings")
            continue
        if _is_url(target):
            out.append(target)
        elif _is_url(location.file):
            out.append(urljoin(location.file, target))
        else:
            out.append(str((Path(location.file).parent / target).resolve()))
    return out


# --- references ---------------------------------------------------------------------------


def parse_ref(
    ref: Any, *, default_kind: str | None, default_namespace: str
) -> tuple[str, str, str] | None:
    """``(kind, namespace, name)`` of an entity reference (``[kind:][namespace/]name``, or
    a ``{kind, namespace, name}`` mapping), kind in lower case; None when it is not one
    (no kind where the field has no default)."""
    if isinstance(ref, dict):
        kind, namespace, name = ref.get("kind"), ref.get("namespace"), ref.get("name")
    elif isinstance(ref, str) and ref:
        kind, rest = ref.split(":", 1) if ":" in ref else (None, ref)
        namespace, name = rest.split("/", 1) if "/" in rest else (None, rest)
    else:
        return None
    kind = kind or default_kind
    if not isinstance(kind, str) or not kind or not isinstance(name, str) or not name:
        return None
    ns = namespace if isinstance(namespace, str) and namespace else default_namespace
    return kind.lower(), ns, name


def _key(parsed: tuple[str, str, str]) -> tuple[str, str, str]:
    return (parsed[0], parsed[1].lower(), parsed[2].lower())


def service_name(namespace: str, name: str) -> str:
    """A catalog service name for a Component: lower case, ``_`` and other characters
    outside ``[0-9a-z.-]`` as ``-``, prefixed with ``<namespace>.`` outside the default
    namespace."""
    base = name if namespace.lower() == DEFAULT_NAMESPACE else f"{namespace}.{name}"
    return _NOT_NAME.sub("-", base.lower())[:120]


def team_name(namespace: str, name: str) -> str:
    """A team name for a Group (``<namespace>/<name>`` outside the default namespace)."""
    return name if namespace.lower() == DEFAULT_NAMESPACE else f"{namespace}/{name}"


def _label_text(text: str) -> str:
    cleaned = _NOT_LABEL.sub("-", text).strip("-._")[:63].rstrip("-._")
    return cleaned or "x"


# --- mapping ------------------------------------------------------------------------------


@dataclass
class _Context:
    index: dict[tuple[str, str, str], Entity]
    errors: _Errors
    result: Imported
    deps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skipped: dict[str, list[Any]] = field(default_factory=dict)
    #: the Components (service names) providing each API, by the API's key
    providers: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    #: (consumer service name, the API's key) of each ``consumesApis``
    consumed: list[tuple[str, tuple[str, str, str]]] = field(default_factory=list)
    #: each Group's parent Group, by key (``spec.parent``, or a parent's ``spec.children``)
    parents: dict[tuple[str, str, str], Entity] = field(default_factory=dict)

    def warn(self, what: str, example: str) -> None:
        """Count one thing left out of the import (warned once per kind of thing)."""
        seen = self.skipped.setdefault(what, [0, example])
        seen[0] += 1


def convert(entities: list[Entity]) -> Imported:
    """Catalog documents (services and teams), APIs and warnings for ``entities``;
    :class:`CatalogFileErrors` naming file, line and entity for what cannot be mapped."""
    errors = _Errors()
    result = Imported(entities=len(entities))
    index = _index(entities, result, errors)
    ctx = _Context(index=index, errors=errors, result=result)
    services: list[tuple[Entity, dict[str, Any]]] = []
    _parents(ctx)
    for entity in index.values():
        if entity.kind == "group":
            _group(entity, ctx)
        elif entity.kind == "component":
            services.append((entity, _component(entity, ctx)))
        elif entity.kind == "api":
            _api(entity, ctx)
    _people(ctx)
    _consumes_edges(ctx)
    for entity, doc in services:
        if doc["name"] in ctx.deps:
            doc["dependencies"] = ctx.deps[doc["name"]]
        try:
            located = Located(ServiceDoc.model_validate(doc), entity.file, entity.line)
        except ValidationError as exc:
            for err in exc.errors():
                path = ".".join(str(p) for p in err.get("loc", ()))
                errors.add(entity, entity.file, entity.line, f"{path}: {err.get('msg')}")
            continue
        result.docs.append(located)
    for what, (count, example) in sorted(ctx.skipped.items()):
        result.warnings.append(
            {"file": None, "line": None, "message": f"{count} {what} (e.g. {example})"}
        )
    errors.raise_any()
    return result


def _index(
    entities: list[Entity], result: Imported, errors: _Errors
) -> dict[tuple[str, str, str], Entity]:
    """The entities by key; a kind not imported is a warning, a key given twice an error."""
    index: dict[tuple[str, str, str], Entity] = {}
    for entity in entities:
        if entity.kind not in KINDS:
            result.warnings.append(
                {
                    "file": entity.file,
                    "line": entity.line,
                    "message": f"{entity.ref}: kind {entity.body.get('kind')} is not imported",
                }
            )
            continue
        first = index.setdefault(entity.key, entity)
        if first is not entity:
            errors.add(
                entity,
                entity.file,
                entity.line,
                f"declared twice (also at {first.file}:{first.line})",
            )
    return index


def _group(entity: Entity, ctx: _Context) -> None:
    profile = entity.spec().get("profile")
    shown = profile.get("displayName") if isinstance(profile, dict) else None
    description = entity.meta().get("description") or shown
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Team",
        "name": team_name(entity.namespace, entity.name),
        "description": str(description)[:250] if description else None,
    }
    parent = ctx.parents.get(entity.key)
    if parent is not None:
        body["labels"] = {"parent": _label_text(team_name(parent.namespace, parent.name))}
    doc = TeamDoc.model_validate(body)
    ctx.result.docs.append(Located(doc, entity.file, entity.line))
    ctx.result.people.members.setdefault(doc.name, set())


def _parents(ctx: _Context) -> None:
    """Each Group's parent, from its ``spec.parent`` and its parent's ``spec.children``;
    two different parents (or a Group its own parent) is an error naming the Group."""
    for group in [e for e in ctx.index.values() if e.kind == "group"]:
        spec = group.spec()
        if spec.get("parent"):
            parent = _resolve(group, spec["parent"], "group", "spec.parent", ctx)
            _set_parent(ctx, group, parent, group)
        for ref in spec.get("children") or []:
            child = _resolve(group, ref, "group", "spec.children", ctx)
            if child is not None:
                _set_parent(ctx, child, group, group)


def _set_parent(ctx: _Context, child: Entity, parent: Entity | None, said_by: Entity) -> None:
    if parent is None:
        return
    if child.kind != "group" or parent.kind != "group":
        ctx.warn("parents and children that are not Groups were left out", said_by.ref)
        return
    if child.key == parent.key:
        ctx.errors.add(said_by, said_by.file, said_by.line, "a Group cannot be its own parent")
        return
    known = ctx.parents.setdefault(child.key, parent)
    if known.key != parent.key:
        ctx.errors.add(
            said_by,
            said_by.file,
            said_by.line,
            f"{child.ref} has two parents: {known.ref} and {parent.ref}",
        )


def _people(ctx: _Context) -> None:
    """Users with an e-mail as identity users; Group ``spec.members`` and User
    ``spec.memberOf`` as the members of the Groups' teams."""
    emails: dict[tuple[str, str, str], str] = {}
    for person in [e for e in ctx.index.values() if e.kind == "user"]:
        profile = person.spec().get("profile")
        profile = profile if isinstance(profile, dict) else {}
        email = profile.get("email")
        if not isinstance(email, str) or not email.strip():
            ctx.warn("Users without spec.profile.email were left out", person.ref)
            continue
        shown = profile.get("displayName")
        full_name = str(shown) if isinstance(shown, str) and shown.strip() else person.name
        emails[person.key] = email.strip()
        ctx.result.people.users.append(
            DeclaredUser(email.strip(), full_name[:250], person.ref, person.file, person.line)
        )
    pairs: list[tuple[Entity | None, Entity | None, Entity]] = []
    for entity in ctx.index.values():
        if entity.kind == "group":
            for ref in entity.spec().get("members") or []:
                pairs.append((entity, _resolve(entity, ref, "user", "spec.members", ctx), entity))
        elif entity.kind == "user":
            for ref in entity.spec().get("memberOf") or []:
                pairs.append((_resolve(entity, ref, "group", "spec.memberOf", ctx), entity, entity))
    for group, user, said_by in pairs:
        if group is None or user is None:
            continue
        if group.kind != "group" or user.kind != "user":
            ctx.warn("memberships that are not of a User in a Group were left out", said_by.ref)
            continue
        if user.key in emails:
            team = team_name(group.namespace, group.name)
            ctx.result.people.members.setdefault(team, set()).add(emails[user.key])


def _consumes_edges(ctx: _Context) -> None:
    """A dependency labelled ``consumes`` from each consumer of an API to each Component
    of the import providing it, unless the consumer depends on that Component already."""
    for consumer, api_key in ctx.consumed:
        for provider in ctx.providers.get(api_key, []):
            edges = ctx.deps.setdefault(consumer, [])
            if provider != consumer and all(e["service"] != provider for e in edges):
                edges.append({"service": provider, "label": "consumes"})


def _resolve(
    entity: Entity, ref: Any, default_kind: str | None, field_name: str, ctx: _Context
) -> Entity | None:
    parsed = parse_ref(ref, default_kind=default_kind, default_namespace=entity.namespace)
    if parsed is None:
        ctx.errors.add(
            entity,
            entity.file,
            entity.line,
            f"{field_name}: [{ref}] is not an entity reference ([kind:][namespace/]name"
            + ("" if default_kind else ", the kind is required here")
            + ")",
        )
        return None
    found = ctx.index.get(_key(parsed))
    if found is None:
        ctx.warn(
            "references to entities not in the import were left out",
            f"{field_name} {parsed[0]}:{parsed[1]}/{parsed[2]} of {entity.ref}",
        )
    return found


def _labels(entity: Entity, ctx: _Context) -> dict[str, str]:
    labels: dict[str, str] = {}
    raw = entity.meta().get("labels")
    for key, value in raw.items() if isinstance(raw, dict) else []:
        clean = _label_text(str(key).replace("/", "_"))
        if clean.lower().startswith(("kong", "konnect", "mesh", "kic", "_")):
            clean = "backstage-" + clean
        labels[clean[:63]] = _label_text(str(value))
    spec = entity.spec()
    for key in ("type", "lifecycle"):
        if isinstance(spec.get(key), str):
            labels[key] = _label_text(spec[key])
    if spec.get("system"):
        system = _resolve(entity, spec["system"], "system", "spec.system", ctx)
        name = system.name if system is not None else str(spec["system"]).split("/")[-1]
        labels["system"] = _label_text(name)
        domain = system.spec().get("domain") if system is not None else None
        if domain:
            labels["domain"] = _label_text(str(domain).split("/")[-1].split(":")[-1])
    return dict(list(labels.items())[:50])


def _custom_fields(entity: Entity) -> dict[str, Any]:
    raw = entity.meta().get("annotations")
    fields: dict[str, Any] = {}
    for key, value in raw.items() if isinstance(raw, dict) else []:
        name = str(key).replace(".", "_")[:120]
        fields[name] = value if isinstance(value, bool | int | float) else str(value)[:2048]
    return dict(list(fields.items())[:100])


def _component(entity: Entity, ctx: _Context) -> dict[str, Any]:
    meta, spec = entity.meta(), entity.spec()
    name = service_name(entity.namespace, entity.name)
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "CatalogService",
        "name": name,
        "display_name": str(meta.get("title") or entity.name)[:120],
        "labels": _labels(entity, ctx),
        "custom_fields": _custom_fields(entity),
    }
    if meta.get("description"):
        doc["description"] = str(meta["description"])[:2048]
    if spec.get("owner"):
        owner = _resolve(entity, spec["owner"], "group", "spec.owner", ctx)
        if owner is not None and owner.kind == "group":
            doc["owner"] = team_name(owner.namespace, owner.name)
        elif owner is not None:
            ctx.warn("owners that are not Groups were left out", f"{owner.ref} of {entity.ref}")
    _relations(entity, name, spec, ctx)
    apis: list[dict[str, Any]] = []
    for relation, key in (("provides", "providesApis"), ("consumes", "consumesApis")):
        for ref in spec.get(key) or []:
            api = _resolve(entity, ref, "api", f"spec.{key}", ctx)
            if api is not None and api.kind != "api":
                ctx.warn(
                    "APIs that are not API entities were left out", f"{api.ref} of {entity.ref}"
                )
            elif api is not None:
                apis.append({"api": api.name, "relation": relation})
                if relation == "provides":
                    ctx.providers.setdefault(api.key, []).append(name)
                else:
                    ctx.consumed.append((name, api.key))
    if apis:
        doc["apis"] = apis
    return doc


def _relations(entity: Entity, name: str, spec: dict[str, Any], ctx: _Context) -> None:
    """``dependsOn`` and ``dependencyOf`` as dependencies between components."""
    for ref in spec.get("dependsOn") or []:
        target = _resolve(entity, ref, None, "spec.dependsOn", ctx)
        _depend(ctx, entity, name, target)
    for ref in spec.get("dependencyOf") or []:
        source = _resolve(entity, ref, None, "spec.dependencyOf", ctx)
        if source is not None and source.kind == "component":
            _depend(ctx, source, service_name(source.namespace, source.name), entity)
        elif source is not None:
            ctx.warn("dependencies of entities that are not Components were left out", source.ref)


def _depend(ctx: _Context, source: Entity, source_name: str, target: Entity | None) -> None:
    if target is None:
        return
    if target.kind != "component":
        ctx.warn(
            "dependencies on entities that are not Components were left out",
            f"{target.ref} of {source.ref}",
        )
        return
    edges = ctx.deps.setdefault(source_name, [])
    edge = {"service": service_name(target.namespace, target.name)}
    if edge not in edges:
        edges.append(edge)


def _api(entity: Entity, ctx: _Context) -> None:
    spec = entity.spec()
    definition = spec.get("definition")
    if definition is not None and not isinstance(definition, str):
        ctx.warn("API definitions that are not inline text were left out", entity.ref)
        definition = None
    ctx.result.apis.append(
        DeclaredApi(
            name=entity.name,
            version=None,
            description=entity.meta().get("description"),
            spec_type=spec.get("type") if isinstance(spec.get("type"), str) else None,
            definition=definition,
            where=Where(entity.file, entity.line),
        )
    )
