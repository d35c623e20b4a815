"""Traceable batches say which answers they were built from (``source_digest``), so an
unchanged re-sync skips their shaping; their records are built when first read, from what
the connector knew when it yielded them. Against the Traceable simulator on loopback."""

from __future__ import annotations

import pickle
from typing import Any

from service_catalog.integrations.connectors.base import Credential, ResourceRecord, UpstreamHTTP
from service_catalog.integrations.connectors.traceable import TraceableConnector
from service_catalog.testing.traceable_sim import TraceableSimulator

TOKEN = "tr-digest-token-5"


def connector(sim: TraceableSimulator, **config: Any) -> TraceableConnector:
    return TraceableConnector(
        config={"base_url": sim.url, **config},
        credential=Credential("multi_key_auth", headers={"authorization": TOKEN}),
        http=UpstreamHTTP(timeout=5, retries=3, backoff=0.01, max_sleep=2),
    )


def batches(sim: TraceableSimulator, **config: Any) -> list[list[ResourceRecord]]:
    """Every batch of one listing, read only once the listing is over."""
    return list(connector(sim, **config).discover())


def digests(found: list[list[ResourceRecord]]) -> list[bytes | None]:
    return [getattr(b, "source_digest", None) for b in found]


def by_service(found: list[list[ResourceRecord]]) -> dict[str, ResourceRecord]:
    return {r.config["service_id"]: r for b in found for r in b}


def test_an_unchanged_tenant_gives_the_same_digests_and_a_change_moves_them() -> None:
    with TraceableSimulator(60, 4, TOKEN, inactive_every=0, vulnerable_every=3) as sim:
        first = batches(sim, page_size=20)
        again = batches(sim, page_size=20)
        assert len(first) == 3
        assert all(d is not None and len(d) == 16 for d in digests(first))
        assert len(set(digests(first))) == 3
        assert digests(again) == digests(first)
        assert by_service(again) == by_service(first)

        sid = sorted(by_service(first))[-1]  # in the last batch
        sim.tenant.rename_service(sid, "renamed-service")
        renamed = batches(sim, page_size=20)
    # The service list changed: every batch was built from different answers.
    assert all(a != b for a, b in zip(digests(renamed), digests(first), strict=True))
    assert by_service(renamed)[sid].name == "renamed-service"


def test_a_batch_read_late_holds_what_was_known_when_it_was_yielded() -> None:
    """Read after the whole listing (endpoints interleaved across services, so services come
    back late and are yielded again), every batch holds the records it held when yielded:
    the same as a listing whose batches are read as they come."""
    with TraceableSimulator(80, 4, TOKEN, inactive_every=0, vulnerable_every=2) as sim:
        sim.order_override = {"API": [{"keyExpression": {"key": "riskScore"}, "direction": "DESC"}]}
        as_they_come = [list(b) for b in connector(sim, page_size=25).discover()]
        read_late = batches(sim, page_size=25)
    assert sum(len(b) for b in as_they_come) > 80  # some services were yielded twice
    assert [[r.integration_data for r in b] for b in read_late] == [
        [r.integration_data for r in b] for b in as_they_come
    ]


def test_a_batch_is_a_list_of_records() -> None:
    """Whatever reads a batch first (comparing, adding, measuring...) reads its records."""
    with TraceableSimulator(12, 2, TOKEN, inactive_every=0) as sim:
        fresh = [batches(sim, page_size=5)[0] for _ in range(5)]
    first, second, third, fourth, fifth = fresh
    assert first == second  # both unread until compared
    records = list(first)
    assert len(records) == 5 and records == second and bool(first)
    assert records + third == records * 2  # a plain list added to an unread batch
    assert fourth * 1 == records and fourth[0] is fourth[:1][0]
    assert records[0] in first and first.index(records[1]) == 1
    assert [*reversed(first)] == records[::-1]
    assert pickle.loads(pickle.dumps(first)) == records
    fifth.append(records[0])
    assert len(fifth) == 6 and fifth[:5] == records
