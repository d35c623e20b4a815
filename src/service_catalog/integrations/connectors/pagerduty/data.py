"""What a PagerDuty Service resource holds (its ``integration_data``) and the events a
PagerDuty log entry becomes.

A service's record is built from its ``/services`` entry, the current on-calls of its
escalation policy (``/oncalls``), its incidents created in the window (``/incidents`` with
``since``/``until``), its open incidents whenever created (``statuses[]`` triggered and
acknowledged, ``date_range=all``) and the first acknowledgement of each incident in the
window (``acknowledge_log_entry`` entries of ``/log_entries``: an incident's
``acknowledgements`` are emptied once it is resolved, so the log is the only record of when
a resolved incident was acknowledged).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import msgspec

RESOURCE_TYPE = "pagerduty_service"
EVENT_TRIGGERED = "incident_triggered"
EVENT_ACKNOWLEDGED = "incident_acknowledged"
EVENT_RESOLVED = "incident_resolved"
#: Log entry type -> (event type, verb of the event's detail).
LOG_EVENTS: dict[str, tuple[str, str]] = {
    "trigger_log_entry": (EVENT_TRIGGERED, "triggered"),
    "acknowledge_log_entry": (EVENT_ACKNOWLEDGED, "acknowledged"),
    "resolve_log_entry": (EVENT_RESOLVED, "resolved"),
}


class _Ref(TypedDict, total=False):
    id: Any


class _Ack(TypedDict, total=False):
    at: Any


class Incident(TypedDict, total=False):
    """The fields of an incident the figures read (of PagerDuty's ~1.3 KB incident object:
    its references to the service, the policy, the assignees are not read)."""

    id: Any
    status: Any
    urgency: Any
    created_at: Any
    resolved_at: Any
    service: _Ref
    acknowledgements: list[_Ack]


class _IncidentPage(TypedDict, total=False):
    incidents: list[Incident]
    more: Any
    total: Any


class _AckEntry(TypedDict, total=False):
    type: Any
    created_at: Any
    incident: _Ref


class _AckEntryPage(TypedDict, total=False):
    log_entries: list[_AckEntry]
    more: Any
    total: Any


class _EventIncident(TypedDict, total=False):
    id: Any
    incident_number: Any
    title: Any
    summary: Any
    urgency: Any
    status: Any
    html_url: Any
    service: _Ref


class _EventEntry(TypedDict, total=False):
    id: Any
    type: Any
    created_at: Any
    service: _Ref
    incident: _EventIncident


class _EventEntryPage(TypedDict, total=False):
    log_entries: list[_EventEntry]
    more: Any
    total: Any


#: Decoders of a listing page into only the fields the connector reads: msgspec skips the
#: rest while parsing (an acknowledgement log page decodes about 2.5x faster than in full
#: with orjson, an incidents page about 1.7x, and far fewer objects are made). A page
#: whose shape they refuse (a field of another type than expected, e.g. a null reference)
#: is decoded in full instead, and read as before.
INCIDENT_PAGE = msgspec.json.Decoder(_IncidentPage)
ACK_ENTRY_PAGE = msgspec.json.Decoder(_AckEntryPage)
EVENT_ENTRY_PAGE = msgspec.json.Decoder(_EventEntryPage)


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time PagerDuty sends; None when absent or
    not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _text(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else None


def reference(obj: Any) -> dict[str, Any] | None:
    """A PagerDuty reference (``{id, summary, html_url}``) as the catalog keeps it:
    ``{id, name, html_url}``; None when it has no id."""
    oid = _text(obj, "id")
    if not oid:
        return None
    return {"id": oid, "name": _text(obj, "summary"), "html_url": _text(obj, "html_url")}


@dataclass(slots=True)
class IncidentFigures:
    """One service's incident figures, folded incident by incident."""

    open_ids: set[str] = field(default_factory=set)
    triggered: int = 0
    acknowledged: int = 0
    in_window: int = 0
    high_urgency: int = 0
    ack_seconds: float = 0.0
    acked: int = 0
    resolve_seconds: float = 0.0
    resolved: int = 0
    last_created: float | None = None

    def add_open(self, incident: Mapping[str, Any]) -> None:
        """An open incident (triggered or acknowledged), whenever it was created."""
        iid = _text(incident, "id")
        if not iid or iid in self.open_ids:
            return
        self.open_ids.add(iid)
        if incident.get("status") == "acknowledged":
            self.acknowledged += 1
        else:
            self.triggered += 1

    def add_in_window(self, incident: Mapping[str, Any], first_ack: float | None) -> None:
        """An incident created in the window; ``first_ack`` from the log, if any."""
        self.in_window += 1
        if incident.get("urgency") == "high":
            self.high_urgency += 1
        status = incident.get("status")
        if status in ("triggered", "acknowledged"):
            self.add_open(incident)
        created = parse_time(incident.get("created_at"))
        if created is None:
            return
        if self.last_created is None or created > self.last_created:
            self.last_created = created
        acks = [
            t
            for a in incident.get("acknowledgements") or ()
            if (t := parse_time(a.get("at") if isinstance(a, Mapping) else None)) is not None
        ]
        if first_ack is not None:
            acks.append(first_ack)
        if acks:
            self.acked += 1
            self.ack_seconds += max(0.0, min(acks) - created)
        resolved = parse_time(incident.get("resolved_at"))
        if status == "resolved" and resolved is not None:
            self.resolved += 1
            self.resolve_seconds += max(0.0, resolved - created)

    def as_data(self, window_days: int) -> dict[str, Any]:
        """The ``incidents`` object of the service's integration_data."""
        return {
            "open": len(self.open_ids),
            "triggered": self.triggered,
            "acknowledged": self.acknowledged,
            "window_days": window_days,
            "in_window": self.in_window,
            "high_urgency_in_window": self.high_urgency,
            "acknowledged_in_window": self.acked,
            "resolved_in_window": self.resolved,
            "mean_seconds_to_acknowledge": round(self.ack_seconds / self.acked, 1)
            if self.acked
            else None,
            "mean_seconds_to_resolve": round(self.resolve_seconds / self.resolved, 1)
            if self.resolved
            else None,
            "last_incident_at": _iso(self.last_created) if self.last_created is not None else None,
        }


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def on_call_levels(oncalls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The on-call users of one escalation policy by level, ``[{level, users}]`` in level
    order, each user once per level."""
    levels: dict[int, dict[str, dict[str, Any]]] = {}
    for row in oncalls:
        level = row.get("escalation_level")
        user = reference(row.get("user"))
        if type(level) is not int or user is None:
            continue
        levels.setdefault(level, {}).setdefault(user["id"], user)
    return [{"level": lv, "users": list(users.values())} for lv, users in sorted(levels.items())]


def integration_data(
    service: Mapping[str, Any],
    levels: list[dict[str, Any]],
    figures: IncidentFigures,
    window_days: int,
) -> dict[str, Any]:
    """A PagerDuty Service resource's integration_data."""
    status = _text(service, "status")
    teams = [
        ref["name"] or ref["id"]
        for t in service.get("teams") or ()
        if (ref := reference(t)) is not None
    ]
    return {
        "service_id": _text(service, "id"),
        "name": _text(service, "name"),
        "description": _text(service, "description"),
        "status": status,
        "enabled": status != "disabled",
        "html_url": _text(service, "html_url"),
        "teams": teams,
        "escalation_policy": reference(service.get("escalation_policy")),
        "on_call_now": any(level["users"] for level in levels),
        "on_call": levels,
        "incidents": figures.as_data(window_days),
    }
