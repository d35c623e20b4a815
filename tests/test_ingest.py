"""The set-based resource upsert shared by the sync engine and the push endpoint."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select

from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.db import Database
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import (
    canonical_json,
    content_hash,
    looks_like_resource_id,
    resource_id,
)
from service_catalog.resources.ingest import (
    known_resources,
    mark_vanished,
    prepare_records,
    upsert_resources,
)
from service_catalog.resources.models import Resource, ResourceMapping

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def instance(db: Database) -> IntegrationInstance:
    with db.session() as s:
        inst = IntegrationInstance(
            name=f"inst-{uuid.uuid4().hex[:6]}", display_name="Inst", integration_name="custom"
        )
        s.add(inst)
    return inst


def rec(
    n: int, *, data: Any = None, name: str | None = None, type: str = "thing"
) -> ResourceRecord:
    return ResourceRecord(
        type=type,
        config={"id": str(n)},
        name=name or f"thing-{n}",
        integration_data=data if data is not None else {"n": n},
    )


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements (and their executemany rows) on resources."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements: list[str] = []

    def __enter__(self) -> WriteCounter:
        event.listen(self.db.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._on)

    def _on(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        head = statement.lstrip().split(None, 3)
        verb = head[0].upper() if head else ""
        if verb in ("INSERT", "UPDATE", "DELETE") and "resources" in statement.split("(")[0]:
            self.statements.append(statement)


def test_ids_are_stable_and_16_base64url() -> None:
    iid = uuid.uuid4()
    a = resource_id(iid, "repo", {"b": 1, "a": [1, 2]})
    b = resource_id(str(iid), "repo", {"a": [1, 2], "b": 1})
    assert a == b and len(a) == 16 and looks_like_resource_id(a)
    assert resource_id(iid, "repo", {"a": [1, 2], "b": 2}) != a
    assert resource_id(iid, "other", {"a": [1, 2], "b": 1}) != a
    assert resource_id(uuid.uuid4(), "repo", {"a": [1, 2], "b": 1}) != a
    assert content_hash("x", {"k": 1, "j": 2}) == content_hash("x", {"j": 2, "k": 1})
    assert content_hash("x", {"k": 1}) != content_hash("y", {"k": 1})
    assert len(content_hash(None, None)) == 32


GOLDEN_INSTANCE = "6f1c2b7e-93a4-4c1e-8d2f-0a5b3c4d5e6f"


def test_ids_and_hashes_never_change_between_versions() -> None:
    """Ids and content hashes are stored: a release that computed them differently would
    orphan every mapping (ids) or rewrite every row on the next sync (hashes). These were
    computed by the first release; the bulk path must give the very same values."""
    assert resource_id(GOLDEN_INSTANCE, "repo", {"b": 1, "a": [1, 2]}) == "VrgD76iWQqr3MEEa"
    assert resource_id(GOLDEN_INSTANCE, "t", {"n": 2**70}) == "RizQ7qLabAeyhN3I"
    assert content_hash("x", {"k": 1, "j": 2}) == "e7f2ee433af5277784a3d63d047b9173"
    assert content_hash(None, None) == "037fa9819ef29d8c9c56a8e8e66cbcdb"
    assert content_hash('é"', {"v": [None, 1.5]}) == "7ed5fc9fe6eee7147d557a7fde186fa0"
    batch = prepare_records(
        GOLDEN_INSTANCE,
        [
            ResourceRecord(
                type="repo",
                config={"b": 1, "a": [1, 2]},
                name="x",
                integration_data={"k": 1, "j": 2},
            ),
            ResourceRecord(
                type="inventory_item",
                config={"item_id": "item-00001"},
                name="Item 1",
                integration_data={"kind": "server", "name": "Item 1", "tags": ["env:prod"]},
            ),
            ResourceRecord(
                type="t", config={"n": 2**70}, name='é"', integration_data={"v": [None, 1.5]}
            ),
            ResourceRecord(
                type="thing",
                config={"id": "a\x00"},
                name="n\x00",
                integration_data={"k\x00": "v\x00"},
            ),
            ResourceRecord(type="none", config={"id": None}, name=None, integration_data=None),
            ResourceRecord(
                type="big", config={"id": 1}, name="big", integration_data={"text": "x" * 5000}
            ),
        ],
    )
    assert {rid: row.content_hash for rid, row in batch.by_id.items()} == {
        "VrgD76iWQqr3MEEa": "e7f2ee433af5277784a3d63d047b9173",
        "vfQ_lMUa-XDSjKPG": "cecbdccc851847cd2633e0913f582165",
        "RizQ7qLabAeyhN3I": "7ed5fc9fe6eee7147d557a7fde186fa0",
        "w6aie0nchUh8O6oJ": "3b1b2f5ec739d1af4dd6f7d6c62b0700",
        resource_id(GOLDEN_INSTANCE, "none", {"id": None}): content_hash(None, None),
        resource_id(GOLDEN_INSTANCE, "big", {"id": 1}): content_hash("big", {"text": "x" * 5000}),
    }
    with pytest.raises(ValueError, match="NaN"):
        prepare_records(
            GOLDEN_INSTANCE,
            [
                ResourceRecord(
                    type="t",
                    config={"id": 1},
                    name="x",
                    integration_data={"v": [None, float("nan")]},
                )
            ],
        )


def test_canonical_json_is_one_text_per_value() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é", None]}) == '{"a":[1.5,"é",null],"b":1}'
    assert canonical_json({"a": {"z": 1, "y": 2}}) == canonical_json({"a": {"y": 2, "z": 1}})
    # What orjson cannot write goes through the strict encoder: big integers, lone
    # surrogates; NaN and infinities stay an error (never silently null).
    assert canonical_json({"n": 2**70}) == '{"n":1180591620717411303424}'
    assert canonical_json({"s": "\ud800"}) == '{"s":"\ud800"}'
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            canonical_json({"v": [bad]})
        with pytest.raises(ValueError):  # beside a real null too
            canonical_json({"v": [None, bad]})
    assert canonical_json(None) == "null"
    assert canonical_json({"b": None, "a": (1, None)}) == '{"a":[1,null],"b":null}'


def test_known_states_spare_lookups_and_follow_writes(
    db: Database, instance: IntegrationInstance
) -> None:
    """A sync reads the instance's (hash, discovered) once and passes it to every batch:
    the result is the same as with lookups, and ``known`` follows what was written."""
    with db.session() as s:
        upsert_resources(s, instance=instance, records=[rec(i) for i in range(10)], now=at(0))
        mark_vanished(
            s,
            instance=instance,
            seen_ids=set(
                upsert_resources(
                    s, instance=instance, records=[rec(i) for i in range(5)], now=at(1)
                ).ids
            ),
            now=at(1),
        )
    with db.session() as s:
        known = known_resources(s, instance.id)
    assert len(known) == 10 and sum(1 for _, d in known.values() if not d) == 5
    with WriteCounter(db) as wc, db.session() as s:
        r = upsert_resources(
            s,
            instance=instance,
            now=at(2),
            known=known,
            records=[
                *[rec(i) for i in range(4)],  # unchanged
                rec(4, data={"n": "changed"}),  # changed
                rec(5),  # vanished, back unchanged
                rec(20),
            ],
        )  # new
    assert (r.created, r.updated, r.unchanged, r.rediscovered) == (1, 1, 5, 1)
    assert len(wc.statements) == 2  # one upsert of the new and changed, one rediscovery
    assert len(known) == 11 and all(known[rid][1] for rid in r.ids)
    with db.session() as s:
        assert known == known_resources(s, instance.id)


def test_create_then_unchanged_costs_no_write(db: Database, instance: IntegrationInstance) -> None:
    with db.session() as s:
        r = upsert_resources(
            s, instance=instance, records=[rec(i) for i in range(50)], run_id=None, now=at(0)
        )
    assert (r.created, r.updated, r.unchanged) == (50, 0, 0)
    assert len(r.ids) == 50 and all(c.created and c.before is None for c in r.changes)
    assert r.ids[0] == resource_id(instance.id, "thing", {"id": "0"})

    with WriteCounter(db) as wc, db.session() as s:
        r2 = upsert_resources(
            s,
            instance=instance,
            records=[rec(i) for i in range(50)],
            run_id=uuid.uuid4(),
            now=at(5),
        )
        vanished = mark_vanished(s, instance=instance, seen_ids=set(r2.ids), now=at(5))
    assert (r2.created, r2.updated, r2.unchanged, vanished) == (0, 0, 50, 0)
    assert r2.changes == [] and r2.ids == r.ids
    assert wc.statements == []
    with db.session() as s:
        stamps = set(s.scalars(select(Resource.updated_at)))
        assert stamps == {at(0)}
        # Stored exactly as the ORM stores timestamps, so SQL comparisons match.
        assert s.scalar(select(func.count()).where(Resource.created_at == at(0))) == 50
        assert s.scalar(select(func.count()).where(Resource.last_discovered_at >= at(0))) == 50
        assert s.scalar(select(func.count()).where(Resource.instance_id == instance.id)) == 50
        assert s.scalar(select(func.count()).select_from(Resource)) == 50


def test_changed_records_update_and_report_before(
    db: Database, instance: IntegrationInstance
) -> None:
    with db.session() as s:
        upsert_resources(s, instance=instance, records=[rec(1), rec(2), rec(3)], now=at(0))
    run = uuid.uuid4()
    with WriteCounter(db) as wc, db.session() as s:
        r = upsert_resources(
            s,
            instance=instance,
            records=[rec(1), rec(2, data={"n": 22}), rec(3, name="renamed"), rec(4)],
            run_id=run,
            now=at(1),
        )
    assert (r.created, r.updated, r.unchanged) == (1, 2, 1)
    by_id = {c.id: c for c in r.changes}
    rid2 = resource_id(instance.id, "thing", {"id": "2"})
    assert by_id[rid2].before == {"n": 2} and by_id[rid2].record.integration_data == {"n": 22}
    assert not by_id[rid2].created
    # One INSERT ... ON CONFLICT for all three written rows.
    assert len(wc.statements) == 1 and "ON CONFLICT" in wc.statements[0].upper()
    with db.session() as s:
        row = s.get(Resource, rid2)
        assert row is not None
        assert row.integration_data == {"n": 22} and row.updated_at == at(1)
        assert row.created_at == at(0) and row.last_seen_run_id == run
        row1 = s.get(Resource, resource_id(instance.id, "thing", {"id": "1"}))
        assert row1 is not None and row1.updated_at == at(0) and row1.last_seen_run_id is None
        row3 = s.get(Resource, resource_id(instance.id, "thing", {"id": "3"}))
        assert row3 is not None and row3.name == "renamed"


def test_duplicates_in_a_batch_last_wins(db: Database, instance: IntegrationInstance) -> None:
    with db.session() as s:
        r = upsert_resources(
            s,
            instance=instance,
            records=[rec(1, data={"v": "first"}), rec(2), rec(1, data={"v": "last"})],
            now=at(0),
        )
    assert (r.created, r.updated, r.unchanged) == (2, 0, 0) and len(r.ids) == 2
    with db.session() as s:
        row = s.get(Resource, resource_id(instance.id, "thing", {"id": "1"}))
        assert row is not None and row.integration_data == {"v": "last"}


def test_initialized_resource_counts_as_updated_when_hydrated(
    db: Database, instance: IntegrationInstance
) -> None:
    rid = resource_id(instance.id, "thing", {"id": "7"})
    with db.session() as s:
        s.add(
            Resource(
                id=rid,
                instance_id=instance.id,
                integration_name="custom",
                type="thing",
                config={"id": "7"},
                created_at=at(0),
                updated_at=at(0),
            )
        )
    with db.session() as s:
        r = upsert_resources(s, instance=instance, records=[rec(7)], now=at(1))
    assert (r.created, r.updated, r.unchanged) == (0, 1, 0)
    assert r.changes[0].before is None and not r.changes[0].created
    with db.session() as s:
        row = s.get(Resource, rid)
        assert row is not None and row.name == "thing-7" and row.integration_data == {"n": 7}


def test_vanish_only_through_mark_vanished_and_mappings_stay(
    db: Database, instance: IntegrationInstance
) -> None:
    with db.session() as s:
        r = upsert_resources(s, instance=instance, records=[rec(i) for i in range(5)], now=at(0))
        svc = CatalogService(name="svc", display_name="Svc")
        s.add(svc)
        s.flush()
        gone_id = resource_id(instance.id, "thing", {"id": "4"})
        s.add(ResourceMapping(service_id=svc.id, resource_id=gone_id))
    # A partial batch alone marks nothing.
    with db.session() as s:
        part = upsert_resources(s, instance=instance, records=[rec(i) for i in range(4)], now=at(1))
    with db.session() as s:
        assert s.scalar(select(func.count()).where(Resource.discovered.is_(False))) == 0
    with db.session() as s:
        assert mark_vanished(s, instance=instance, seen_ids=part.ids, now=at(2)) == 1
    with db.session() as s:
        row = s.get(Resource, gone_id)
        assert row is not None and row.discovered is False and row.vanished_at == at(2)
        assert s.scalar(select(func.count()).select_from(ResourceMapping)) == 1
        # Marking again writes nothing and finds nothing new.
        assert mark_vanished(s, instance=instance, seen_ids=part.ids, now=at(3)) == 0
    # It comes back unchanged: rediscovered, counted unchanged, flag flipped back.
    with db.session() as s:
        back = upsert_resources(s, instance=instance, records=[rec(4)], now=at(4))
    assert (back.created, back.updated, back.unchanged, back.rediscovered) == (0, 0, 1, 1)
    with db.session() as s:
        row = s.get(Resource, gone_id)
        assert row is not None and row.discovered is True and row.vanished_at is None
        assert row.last_discovered_at == at(4)
    assert r.ids


def test_other_instances_are_untouched_by_mark_vanished(
    db: Database, instance: IntegrationInstance
) -> None:
    with db.session() as s:
        other = IntegrationInstance(name="other", display_name="Other", integration_name="custom")
        s.add(other)
        s.flush()
        upsert_resources(s, instance=other, records=[rec(1)], now=at(0))
        upsert_resources(s, instance=instance, records=[rec(1)], now=at(0))
    with db.session() as s:
        assert mark_vanished(s, instance=instance, seen_ids=set(), now=at(1)) == 1
        assert s.scalar(select(func.count()).where(Resource.discovered.is_(True))) == 1


def test_archived_resources_are_updated_but_stay_archived(
    db: Database, instance: IntegrationInstance
) -> None:
    rid = resource_id(instance.id, "thing", {"id": "1"})
    with db.session() as s:
        upsert_resources(s, instance=instance, records=[rec(1)], now=at(0))
        row = s.get(Resource, rid)
        assert row is not None
        row.archived = True
    with db.session() as s:
        r = upsert_resources(s, instance=instance, records=[rec(1, data={"x": 1})], now=at(1))
        assert r.updated == 1
    with db.session() as s:
        row = s.get(Resource, rid)
        assert row is not None and row.archived is True and row.integration_data == {"x": 1}


def test_large_batch_over_chunk_size(db: Database, instance: IntegrationInstance) -> None:
    with db.session() as s:
        r = upsert_resources(s, instance=instance, records=[rec(i) for i in range(1200)], now=at(0))
    assert r.created == 1200
    with db.session() as s:
        r2 = upsert_resources(
            s,
            instance=instance,
            records=[rec(i, data={"n": i + (i % 2)}) for i in range(1200)],
            now=at(1),
        )
    assert (r2.updated, r2.unchanged) == (600, 600)


def test_empty_batch(db: Database, instance: IntegrationInstance) -> None:
    with db.session() as s:
        r = upsert_resources(s, instance=instance, records=[], now=at(0))
    assert (r.created, r.updated, r.unchanged, r.ids) == (0, 0, 0, [])


def test_nul_characters_become_replacement_characters(
    db: Database, instance: IntegrationInstance
) -> None:
    record = ResourceRecord(
        type="thing", config={"id": "a\x00"}, name="n\x00", integration_data={"k\x00": "v\x00"}
    )
    with db.session() as s:
        first = upsert_resources(s, instance=instance, records=[record], now=at(0))
    with db.session() as s:
        again = upsert_resources(s, instance=instance, records=[record], now=at(1))
        row = s.get(Resource, first.ids[0])
        assert row is not None
        assert row.name == "n\ufffd" and row.config == {"id": "a\ufffd"}
        assert row.integration_data == {"k\ufffd": "v\ufffd"}
    assert first.created == 1 and again.unchanged == 1 and again.ids == first.ids
    with pytest.raises(ValueError, match="NaN"), db.session() as s:
        upsert_resources(
            s,
            instance=instance,
            records=[
                ResourceRecord(
                    type="thing", config={"id": "x"}, name="x", integration_data={"v": float("nan")}
                )
            ],
            now=at(2),
        )


def test_known_states_follow_what_other_writers_insert_or_delete(
    db: Database, instance: IntegrationInstance
) -> None:
    """A sync reads the stored states once; resources another writer initializes (or
    deletes) meanwhile are still counted right: hydrated ones as updated, not created."""
    other = IntegrationInstance(
        name=f"other-{uuid.uuid4().hex[:6]}", display_name="Other", integration_name="custom"
    )
    with db.session() as s:
        s.add(other)
        s.flush()
        upsert_resources(s, instance=instance, records=[rec(i) for i in range(5)], now=at(0))
    with db.session() as s:
        known = known_resources(s, instance.id)

    def initialize(n: int) -> None:
        with db.session() as s:
            s.add(
                Resource(
                    id=resource_id(instance.id, "thing", {"id": str(n)}),
                    instance_id=instance.id,
                    integration_name="custom",
                    type="thing",
                    config={"id": str(n)},
                    created_at=at(1),
                    updated_at=at(1),
                )
            )

    lookups: list[str] = []

    def on_sql(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "json_each" in statement or "unnest" in statement or " IN (" in statement:
            lookups.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_sql)
    try:
        with db.session() as s:  # nobody else wrote: nothing to look up on SQLite
            r = upsert_resources(
                s, instance=instance, known=known, now=at(2), records=[rec(i) for i in range(3, 8)]
            )
        assert (r.created, r.unchanged) == (3, 2)
        if db.dialect == "sqlite":
            assert lookups == []
        initialize(20)
        initialize(21)
        with db.session() as s:
            r = upsert_resources(
                s, instance=instance, known=known, now=at(3), records=[rec(20), rec(30)]
            )
        assert (r.created, r.updated) == (1, 1)
        with db.session() as s:  # inserted before the previous batch, met only now
            r = upsert_resources(s, instance=instance, known=known, now=at(4), records=[rec(21)])
        assert (r.created, r.updated) == (0, 1)
        # Rows above every resource of the instance deleted: lookups take over.
        with db.session() as s:
            upsert_resources(s, instance=other, records=[rec(i) for i in range(3)], now=at(5))
        with db.session() as s:
            s.execute(delete(Resource).where(Resource.instance_id == other.id))
        initialize(40)
        with db.session() as s:
            r = upsert_resources(
                s, instance=instance, known=known, now=at(6), records=[rec(40), rec(41)]
            )
        assert (r.created, r.updated) == (1, 1)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_sql)
    with db.session() as s:
        assert known == known_resources(s, instance.id)
