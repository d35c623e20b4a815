"""A simulator of Traceable's GraphQL API: a real HTTP server on loopback.

Used by tests, benchmarks and the demo; never by production code. It serves
``POST /graphql`` exactly as ``contracts/traceable-subset.graphql`` describes: the body
``{"query", "variables", "operationName"}`` is parsed and validated with graphql-core
against the subset schema (a query the schema rejects gets GraphQL ``errors``, as
Traceable answers), then executed over a :class:`~service_catalog.testing.traceable_tenant.Tenant`
of plain dicts. The header ``Authorization`` must be the raw token (no ``Bearer``);
anything else is HTTP 401.

Usage::

    from service_catalog.testing.traceable_sim import TraceableSimulator

    with TraceableSimulator(services=50, endpoints_per_service=4, token="t") as sim:
        sim.url                      # "http://127.0.0.1:<port>" -> config base_url
        sim.tenant.rename_service("svc-00001", "auth-v2")
        ...

Constructor: ``TraceableSimulator(services=10, endpoints_per_service=5, token="sim-token",
*, tenant=None, host="127.0.0.1", port=0, **tenant_kwargs)``; ``tenant_kwargs`` go to
:class:`Tenant` (``inactive_every``, ``vulnerable_every``, ``missing_attributes``, ``seed``,
``risk_naming``).

Attributes, settable while the server runs (each takes effect on the next request):

- ``sim.tenant``: the data; change it through its methods (``rename_service``,
  ``remove_service``, ``add_service``, ``set_inactive``, ``add_endpoint``,
  ``open_vulnerability``, ``fix_vulnerability``, ``drop_attribute``).
- ``sim.token``: the accepted token; ``sim.reject_status`` (401) answers a wrong one;
  ``sim.reject_shape = "error"`` or ``"errors"`` answers it with HTTP 200 and
  ``{"error": "Forbidden"}`` or a GraphQL error saying Unauthorized instead.
- ``sim.row_cap = n``: Hypertrace's row cap on ``entities`` (Traceable's is 10,000): at
  most n rows, ``total`` at most n (``sim.row_cap_counts_all = True``: every match), an
  offset at or beyond n dropped (the first page again). None (no cap) by default.
- ``sim.rate_limit_next = n``: the next n requests get 429 with ``Retry-After:
  sim.retry_after`` (default ``"1"``).
- ``sim.fail_next = n``: the next n requests get ``sim.fail_status`` (default 503).
- ``sim.fail_on(operation, offset=None, status=500, times=None)``: requests of that
  ``operationName`` (and page ``offset``, when given) fail; ``times`` limits how often.
- ``sim.malformed_next = n``: the next n requests get a truncated, invalid JSON body.
- ``sim.delay = seconds``: sleep before answering every request.
- ``sim.max_limit``: the largest ``limit`` accepted (10,000; more is a GraphQL error).
- ``sim.requests``: one dict per request answered ``{"operation", "variables", "query",
  "status"}`` (never headers, never the token).

Run alone (benchmarks run it in its own process)::

    python -m service_catalog.testing.traceable_sim --services 10000 --endpoints 20

prints one JSON line ``{"url": ..., "token": ...}`` and serves until killed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute,
    get_named_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

from service_catalog.integrations.connectors.traceable.graphql import subset_schema
from service_catalog.testing.serving import Serving, SimHandler
from service_catalog.testing.traceable_tenant import VULN_FIELD_TYPES, Tenant

__all__ = ["TraceableSimulator"]

DEFAULT_LIMIT = 50


class GraphQLFailure(Exception):
    """A GraphQL error the simulator answers in ``errors``."""


Getter = Callable[[Any], Any]
Plan = list[tuple[str, Getter]]


def _complete(obj: Any, plan: Plan) -> dict[str, Any]:
    return {key: get(obj) for key, get in plan}


def _parse_time(value: Any, what: str) -> int:
    if not isinstance(value, str):
        raise GraphQLFailure(f"{what} must be an ISO-8601 date-time string")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLFailure(f"{what} is not an ISO-8601 date-time: {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _compare(actual: Any, op: str, value: Any) -> bool:
    if op == "EQUALS":
        return bool(actual == value)
    if op == "NOT_EQUALS":
        return bool(actual != value)
    if op in ("IN", "NOT_IN"):
        values = value if isinstance(value, list) else [value]
        return (actual in values) == (op == "IN")
    if op == "LIKE":
        try:
            return actual is not None and re.search(str(value), str(actual)) is not None
        except re.error:
            raise GraphQLFailure(f"LIKE value {value!r} is not a valid pattern") from None
    if op in ("LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO"):
        if not isinstance(actual, int | float) or not isinstance(value, int | float):
            return False
        return {
            "LESS_THAN": actual < value,
            "LESS_THAN_OR_EQUAL_TO": actual <= value,
            "GREATER_THAN": actual > value,
            "GREATER_THAN_OR_EQUAL_TO": actual >= value,
        }[op]
    raise GraphQLFailure(f"Filter operator {op} is not supported here")


class _Execution:
    """One request's execution: builds a plan of getters from the validated document,
    then runs it over the tenant's dicts (no per-object argument coercion)."""

    def __init__(
        self,
        sim: TraceableSimulator,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Any,
    ) -> None:
        self.sim = sim
        self.tenant = sim.tenant
        self.schema = subset_schema()
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.operation = operation
        self.scope = ""

    # -- field collection -------------------------------------------------------------

    def _included(self, node: Any) -> bool:
        for d in node.directives or ():
            directive = self.schema.get_directive(d.name.value)
            if directive is None:
                continue
            args = get_argument_values(directive, d, self.variables)
            if d.name.value == "skip" and args.get("if"):
                return False
            if d.name.value == "include" and not args.get("if"):
                return False
        return True

    def _collect(
        self,
        type_name: str,
        sets: list[SelectionSetNode],
        out: OrderedDict[str, list[FieldNode]] | None = None,
    ) -> OrderedDict[str, list[FieldNode]]:
        out = OrderedDict() if out is None else out
        for sel_set in sets:
            for sel in sel_set.selections:
                if not self._included(sel):
                    continue
                if isinstance(sel, FieldNode):
                    key = sel.alias.value if sel.alias else sel.name.value
                    out.setdefault(key, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    cond = sel.type_condition
                    if cond is None or cond.name.value == type_name:
                        self._collect(type_name, [sel.selection_set], out)
                elif isinstance(sel, FragmentSpreadNode):
                    frag = self.fragments[sel.name.value]
                    if frag.type_condition.name.value == type_name:
                        self._collect(type_name, [frag.selection_set], out)
        return out

    # -- plans ---------------------------------------------------------------------------

    def plan(self, type_name: str, sets: list[SelectionSetNode]) -> Plan:
        """Getters computing each response key of ``type_name`` from a source object."""
        gql_type = self.schema.type_map[type_name]
        assert isinstance(gql_type, GraphQLObjectType)
        plan: Plan = []
        for key, nodes in self._collect(type_name, sets).items():
            fname = nodes[0].name.value
            if fname == "__typename":
                plan.append((key, lambda _o, t=type_name: t))  # type: ignore[misc]
                continue
            field = gql_type.fields[fname]
            args = get_argument_values(field, nodes[0], self.variables)
            if type_name == "Query" and fname == "entities":
                self.scope = str(args.get("scope") or args.get("type") or "")
            resolver = self._resolver(type_name, fname, args)
            inner = get_named_type(field.type)
            ftype = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if not isinstance(inner, GraphQLObjectType):
                plan.append((key, resolver))
                continue
            sub_sets = [n.selection_set for n in nodes if n.selection_set]
            sub = self.plan(inner.name, sub_sets)
            if isinstance(ftype, GraphQLList):
                plan.append(
                    (
                        key,
                        lambda o, r=resolver, p=sub: (
                            None
                            if (v := r(o)) is None  # type: ignore[misc]
                            else [None if x is None else _complete(x, p) for x in v]
                        ),
                    )
                )
            else:
                plan.append(
                    (
                        key,
                        lambda o, r=resolver, p=sub: (
                            None
                            if (v := r(o)) is None  # type: ignore[misc]
                            else _complete(v, p)
                        ),
                    )
                )
        return plan

    def _resolver(self, type_name: str, fname: str, args: dict[str, Any]) -> Getter:
        if type_name == "Query":
            if fname == "entities":
                return lambda _o, scope=self.scope: self.entities(args, scope)  # type: ignore[misc]
            if fname == "metadata":
                return lambda _o: self.metadata()
            if fname == "vulnerabilitiesV3":
                return lambda _o: self.vulnerabilities(args)
        if type_name == "Entity":
            return self._entity_resolver(fname, args)
        if type_name == "MetricContainer":
            return lambda m: m
        if type_name == "BaselinedMetricAggregation":
            return lambda v: v
        if type_name == "VulnerabilityV3":
            key = args["key"]
            ftype = VULN_FIELD_TYPES[key]
            return lambda v: {"type": ftype, "value": v.get(key)}
        return lambda o: o.get(fname)

    def _entity_resolver(self, fname: str, args: dict[str, Any]) -> Getter:
        scope = self.scope
        if fname == "id":
            return lambda e: e["id"]
        if fname == "type":
            return lambda _e: scope
        if fname == "labels":
            return lambda _e: {"count": 0, "total": 0, "results": []}
        expr = args.get("expression") or {}
        key = args.get("key") or expr.get("key")
        if not key:
            raise GraphQLFailure(f"Entity.{fname} needs a key or an expression")
        if fname == "attribute":
            if key not in self.tenant.attribute_types(scope):
                raise GraphQLFailure(f"Attribute {scope}.{key} is not defined for this tenant")
            return lambda e: e.get(key)
        if key not in self.tenant.metric_names(scope):
            raise GraphQLFailure(f"Metric {scope}.{key} is not defined for this tenant")
        return lambda e: e["_metrics"].get(key)

    # -- root fields ---------------------------------------------------------------------

    def _page_args(self, args: dict[str, Any]) -> tuple[int, int]:
        limit = args.get("limit")
        offset = args.get("offset") or 0
        limit = DEFAULT_LIMIT if limit is None else limit
        if limit < 0 or offset < 0:
            raise GraphQLFailure("limit and offset must not be negative")
        if limit > self.sim.max_limit:
            raise GraphQLFailure(f"limit must be at most {self.sim.max_limit}")
        return limit, offset

    def entities(self, args: dict[str, Any], scope: str) -> dict[str, Any]:
        if not scope:
            raise GraphQLFailure("entities needs a type or a scope")
        between = args["between"]
        start = _parse_time(between.get("startTime"), "between.startTime")
        end = _parse_time(between.get("endTime"), "between.endTime")
        if end < start:
            raise GraphQLFailure("between.endTime is before between.startTime")
        limit, offset = self._page_args(args)
        cap = self.sim.row_cap
        if cap is not None and offset >= cap:
            offset = 0  # as Hypertrace's gateway: an offset beyond the cap is dropped
        inactive = bool(args.get("includeInactive"))
        filters = args.get("filterBy") or []
        orders = self.sim.order_override.get(scope, args.get("orderBy") or [])
        # Cached per minute of startTime: a client's pages share one view (as its window
        # is fixed), and so do clients asking within the same minute (activity in the
        # simulator is never that close to a window's edge).
        view = self.sim.cached_view(
            ("entities", scope, inactive, start // 60_000, filters, orders),
            lambda: self._entity_view(scope, inactive, start, filters, orders),
        )
        end = offset + limit if cap is None else min(offset + limit, cap)
        page = view[offset:end]
        total = len(view) if cap is None or self.sim.row_cap_counts_all else min(len(view), cap)
        return {"count": len(page), "total": total, "results": page}

    def _entity_view(
        self, scope: str, inactive: bool, start: int, filters: list[Any], orders: list[Any]
    ) -> list[dict[str, Any]]:
        rows = self.tenant.entities_of(scope)
        if not inactive:
            rows = [e for e in rows if e["_last"] >= start]
        known = self.tenant.attribute_types(scope)
        for f in filters:
            if f is None:
                continue
            key = f.get("key") or (f.get("keyExpression") or {}).get("key")
            if f.get("type") == "ID":
                key = "id"
            elif key not in known:
                raise GraphQLFailure(f"Attribute {scope}.{key} is not defined for this tenant")
            op, value = f["operator"], f["value"]
            if (
                op in ("IN", "NOT_IN")
                and isinstance(value, list)
                and all(isinstance(v, str) for v in value)
            ):
                wanted, keep = set(value), op == "IN"  # a set: lists of 10,000 ids
                rows = [e for e in rows if (e.get(key) in wanted) == keep]
                continue
            rows = [e for e in rows if _compare(e.get(key), op, value)]
        for o in reversed([o for o in orders if o]):
            key = o.get("key") or (o.get("keyExpression") or {}).get("key")
            if key not in known:
                raise GraphQLFailure(f"Cannot order by unknown attribute {scope}.{key}")
            desc = o.get("direction") == "DESC"
            present = sorted(
                (e for e in rows if e.get(key) is not None), key=itemgetter(key), reverse=desc
            )
            rows = present + [e for e in rows if e.get(key) is None]
        return rows

    def metadata(self) -> list[dict[str, Any]]:
        out = []
        for scope in ("SERVICE", "API"):
            for name, atype in self.tenant.attribute_types(scope).items():
                out.append(_attribute_meta(name, scope, atype, metric=False))
            for name in self.tenant.metric_names(scope):
                out.append(_attribute_meta(name, scope, "LONG", metric=True))
        return out

    def vulnerabilities(self, args: dict[str, Any]) -> dict[str, Any]:
        limit, offset = self._page_args(args)
        flt = args.get("filter")
        orders = args.get("orderBy") or []
        seen = args.get("lastSeenBetween")
        window = None
        if seen:
            window = (
                _parse_time(seen.get("startTime"), "lastSeenBetween.startTime"),
                _parse_time(seen.get("endTime"), "lastSeenBetween.endTime"),
            )

        def build() -> list[dict[str, Any]]:
            rows = list(self.tenant.vulnerabilities.values())
            if window:
                rows = [
                    v
                    for v in rows
                    if window[0] <= (v["LAST_SEEN_TIMESTAMP_MILLIS"] or 0) <= window[1]
                ]
            if flt:
                rows = [v for v in rows if _vuln_match(v, flt)]
            for o in reversed([o for o in orders if o]):
                key = o["key"]
                present = sorted(
                    (v for v in rows if v.get(key) is not None),
                    key=itemgetter(key),
                    reverse=o["direction"] == "DESC",
                )
                rows = present + [v for v in rows if v.get(key) is None]
            return rows

        view = self.sim.cached_view(("vulns", flt, orders, window), build)
        page = view[offset : offset + limit]
        return {"count": len(page), "total": len(view), "results": page}


def _vuln_match(v: dict[str, Any], flt: dict[str, Any]) -> bool:
    logical = flt.get("logicalFilter")
    if logical:
        subs = [f for f in logical["filters"] if f]
        op = logical["operator"]
        if op == "AND":
            ok = all(_vuln_match(v, f) for f in subs)
        elif op == "OR":
            ok = any(_vuln_match(v, f) for f in subs)
        else:
            ok = not any(_vuln_match(v, f) for f in subs)
        if not ok:
            return False
    rel = flt.get("relationalFilter")
    if rel:
        return _compare(v.get(rel["key"]), rel["operator"], rel["value"])
    return True


def _attribute_meta(name: str, scope: str, atype: str, *, metric: bool) -> dict[str, Any]:
    return {
        "name": name,
        "scope": scope,
        "displayName": name,
        "type": atype,
        "groupable": not metric,
        "onlySupportsAggregation": metric,
        "onlySupportsGrouping": False,
        "isCustom": False,
        "units": "",
        "description": None,
        "supportedAggregations": ["SUM", "AVG", "MIN", "MAX", "COUNT"] if metric else [],
    }


class TraceableSimulator(Serving):
    """Traceable's GraphQL API over a generated tenant, on a loopback port (see module doc)."""

    thread_name = "traceable-sim"

    def __init__(
        self,
        services: int = 10,
        endpoints_per_service: int = 5,
        token: str = "sim-token",
        *,
        tenant: Tenant | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **tenant_kwargs: Any,
    ) -> None:
        self.tenant = tenant or Tenant(services, endpoints_per_service, **tenant_kwargs)
        self.token = token
        self.reject_status = 401
        self.rate_limit_next = 0
        self.retry_after = "1"
        self.fail_next = 0
        self.fail_status = 503
        self.malformed_next = 0
        self.delay = 0.0
        self.max_limit = 10_000
        # Hypertrace's cap on one entity query: with it set, an ``entities`` answer lists
        # at most ``row_cap`` rows (``total`` says at most that many too) and an offset at
        # or beyond it is dropped (the first page comes back). Traceable's is 10,000.
        self.row_cap: int | None = None
        # With the cap, whether ``total`` still counts every match (the rows stop at the
        # cap and later offsets repeat the first page) instead of at most ``row_cap``.
        self.row_cap_counts_all = False
        # How a wrong token is answered: "status" (HTTP ``reject_status``), or HTTP 200
        # with {"error": "Forbidden"} ("error") or GraphQL errors saying Unauthorized
        # ("errors"), as some gateways in front of Traceable answer.
        self.reject_shape = "status"
        self.requests: list[dict[str, Any]] = []
        # Called with (operation, variables) before each GraphQL request is answered: a
        # test's way to change the tenant at an exact point of a client's paging.
        self.before_answer: Callable[[str | None, dict[str, Any]], None] | None = None
        # scope -> the orderBy used instead of the client's (an upstream that ignores or
        # overrides a client's ordering).
        self.order_override: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._docs: OrderedDict[str, tuple[DocumentNode | None, list[dict[str, Any]]]] = (
            OrderedDict()
        )
        self._views: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._views_version = -1
        self._serve_on(host, port)
        self._bind()  # the URL is known before ``start``

    def fail_on(
        self, operation: str, offset: int | None = None, status: int = 500, times: int | None = None
    ) -> None:
        """Fail requests of ``operation`` (at page ``offset``) with ``status``."""
        self.fail_when(status, times, operation=operation, offset=offset)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._rules.clear()
            self.rate_limit_next = self.fail_next = self.malformed_next = 0
            self.delay = 0.0

    def calls(self, operation: str) -> int:
        """How many requests of ``operation`` were answered."""
        return sum(1 for r in self.requests if r["operation"] == operation)

    # -- used by the executor ----------------------------------------------------------

    def cached_view(
        self, key: Any, build: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """A filtered, ordered entity list, cached until the tenant changes."""
        skey = json.dumps(key, sort_keys=True, default=str)
        with self._lock:
            if self._views_version != self.tenant.version:
                self._views.clear()
                self._views_version = self.tenant.version
            view = self._views.get(skey)
            if view is not None:
                self._views.move_to_end(skey)
                return view
        with self.tenant.lock:
            view = build()
        with self._lock:
            self._views[skey] = view
            while len(self._views) > 16:
                self._views.popitem(last=False)
        return view

    def _document(self, query: str) -> tuple[DocumentNode | None, list[dict[str, Any]]]:
        with self._lock:
            hit = self._docs.get(query)
        if hit is not None:
            return hit
        try:
            doc: DocumentNode | None = parse(query)
            assert doc is not None
            errors: list[dict[str, Any]] = [
                dict(e.formatted) for e in validate(subset_schema(), doc)
            ]
        except Exception as exc:  # a syntax error is a GraphQL error
            doc, errors = None, [{"message": str(exc)}]
        with self._lock:
            self._docs[query] = (doc, errors)
            while len(self._docs) > 256:
                self._docs.popitem(last=False)
        return doc, errors

    def execute(self, body: Any) -> dict[str, Any]:
        """The GraphQL response to a request body (a dict)."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return {"errors": [{"message": "The body must be a JSON object with a 'query'"}]}
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return {"errors": [{"message": "'variables' must be an object"}]}
        doc, errors = self._document(body["query"])
        if errors or doc is None:
            return {"errors": errors}
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        name = body.get("operationName")
        chosen = [o for o in ops if (o.name.value if o.name else None) == name] if name else ops
        if len(chosen) != 1:
            return {"errors": [{"message": "Provide a single operation or a valid operationName"}]}
        op = chosen[0]
        if op.operation.value != "query":
            return {"errors": [{"message": f"{op.operation.value} is not supported"}]}
        if any(
            isinstance(s, FieldNode)
            and (s.name.value.startswith("__schema") or s.name.value == "__type")
            for s in op.selection_set.selections
        ):
            result = execute(subset_schema(), doc, variable_values=variables, operation_name=name)
            assert isinstance(result, ExecutionResult)
            out: dict[str, Any] = {"data": result.data}
            if result.errors:
                out["errors"] = [e.formatted for e in result.errors]
            return out
        coerced = get_variable_values(subset_schema(), op.variable_definitions or (), variables)
        if isinstance(coerced, list):
            return {"errors": [e.formatted for e in coerced]}
        run = _Execution(self, doc, op, coerced)
        try:
            plan = run.plan("Query", [op.selection_set])
            return {"data": _complete(None, plan)}
        except GraphQLFailure as exc:
            return {"errors": [{"message": str(exc)}], "data": None}

    def fault_for(self, operation: str | None, variables: dict[str, Any]) -> int | None:
        """The status an injected rule makes this request fail with, if any."""
        return self._failure(operation=operation, offset=variables.get("offset", 0))


class _Handler(SimHandler):
    simulator: TraceableSimulator
    server_version = "TraceableSim/1"

    _entry: dict[str, Any] | None = None

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        entry, self._entry = self._entry, None
        if entry is not None:
            # Recorded before the answer leaves: a client that has its answer finds its
            # request in ``sim.requests``.
            entry["status"] = status
            self.simulator.requests.append(entry)
        self._reply(status, body, headers, "application/json")

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload, separators=(",", ":")).encode(), headers)

    def do_GET(self) -> None:
        self._json(405, {"errors": [{"message": "Use POST /graphql"}]}, {"Allow": "POST"})

    def do_POST(self) -> None:
        sim = self.simulator
        raw = self._body()
        if self.path.split("?", 1)[0].rstrip("/") != "/graphql":
            self._json(404, {"errors": [{"message": "Not found"}]})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        operation = body.get("operationName") if isinstance(body, dict) else None
        variables = body.get("variables") if isinstance(body, dict) else None
        variables = variables if isinstance(variables, dict) else {}
        query = body.get("query") if isinstance(body, dict) else None
        entry: dict[str, Any] = {
            "operation": operation,
            "variables": variables,
            "query": query if isinstance(query, str) else None,
            "status": 0,
        }
        self._entry = entry
        self._answer(sim, body, raw, operation, variables)

    def _throttled(self, sim: TraceableSimulator) -> bool:
        """Answer a request the simulator was told to rate-limit (429) or fail; whether it
        did."""
        limited = sim._take("rate_limit_next")
        failing = not limited and sim._take("fail_next")
        if limited:
            self._json(
                429,
                {"errors": [{"message": "Too many requests"}]},
                {"Retry-After": sim.retry_after},
            )
        elif failing:
            self._json(sim.fail_status, {"errors": [{"message": "Internal error"}]})
        return limited or failing

    def _reject_token(self, sim: TraceableSimulator) -> None:
        """Refuse a wrong token the way the simulator was told to (see ``reject_shape``)."""
        if sim.reject_shape == "error":
            self._json(200, {"error": "Forbidden"})
        elif sim.reject_shape == "errors":
            self._json(
                200,
                {
                    "data": None,
                    "errors": [{"message": "Authorization failed: Unauthorized API token"}],
                },
            )
        else:
            self._json(
                sim.reject_status,
                {"errors": [{"message": "Unauthorized: invalid or expired API token"}]},
            )

    def _answer(
        self,
        sim: TraceableSimulator,
        body: Any,
        raw: bytes,
        operation: str | None,
        variables: dict[str, Any],
    ) -> None:
        if sim.delay:
            time.sleep(sim.delay)
        if self._throttled(sim):
            return
        if self.headers.get("Authorization") != sim.token:
            self._reject_token(sim)
            return
        if body is None:
            self._json(400, {"errors": [{"message": "The body is not valid JSON"}]})
            return
        if sim.before_answer is not None:
            sim.before_answer(operation, variables)
        rule_status = sim.fault_for(operation, variables)
        if rule_status is not None:
            self._json(rule_status, {"errors": [{"message": "Injected failure"}]})
            return
        if sim._take("malformed_next"):
            self._send(200, b'{"data": {"entities": {"count": 3, "results": [')
            return
        self._json(200, sim.execute(body))


TraceableSimulator.handler = _Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a generated tenant until killed; print ``{"url", "token"}`` as one JSON line."""
    parser = argparse.ArgumentParser(description="Simulated Traceable GraphQL API")
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--token", default="sim-token")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--inactive-every", type=int, default=5)
    parser.add_argument(
        "--row-cap",
        type=int,
        default=None,
        help="enforce Hypertrace's row cap on entity queries (e.g. 10000)",
    )
    args = parser.parse_args(argv)
    sim = TraceableSimulator(
        args.services,
        args.endpoints,
        args.token,
        port=args.port,
        inactive_every=args.inactive_every,
    )
    sim.row_cap = args.row_cap
    sim.serve_until_killed("token")


if __name__ == "__main__":
    main()
