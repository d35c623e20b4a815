"""Many concurrent writers on the same hot rows: every request ends, and writers of the
same labels never wait for each other's commit. Writers that shared label values once
upserted the same facet value-count rows and queued on each other's row locks; with more
of them in flight than the server's request threads, the requests holding those locks
must still be able to commit (they once waited for a thread the waiters held, and the
server hung). Now a writer appends its count changes to a journal that one transaction at
a time folds in (``core/jsonindex.apply_value_counts``). PostgreSQL: SQLite has one
writer at a time by design."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import httpx
import pytest
from sqlalchemy import func, select, text

from service_catalog.auth.service import SYSTEM
from service_catalog.catalog_services import service
from service_catalog.catalog_services.models import (
    CatalogServiceValueCount,
    CatalogServiceValueCountDelta,
)
from service_catalog.catalog_services.schemas import CatalogServiceCreate
from service_catalog.core.db import Database

pytestmark = pytest.mark.postgres

WRITERS = 48  # more than the 40 threads of the request handlers' limiter
ROUNDS = 3
URL = "/v1/catalog-services"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_more_writers_on_the_same_labels_than_request_threads_all_finish(
    api: httpx.Client,
) -> None:
    def write(n: int) -> list[int]:  # one client shared by the threads: its pool holds 100
        statuses = []
        for r in range(ROUNDS):
            body = {
                "name": f"w{n}-{r}",
                "display_name": f"W {n} {r}",
                "labels": {"team": "hot", "tier": "one"},
            }
            made = api.post(URL, json=body)
            statuses.append(made.status_code)
            if made.status_code == 201:
                patched = api.patch(
                    f"{URL}/{made.json()['id']}",
                    json={"labels": {"team": "hot", "tier": "two"}},
                )
                statuses.append(patched.status_code)
        return statuses

    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(write, n) for n in range(WRITERS)]
        done, pending = wait(futures, timeout=180)
        assert not pending, f"{len(pending)} of {WRITERS} writers never finished: the server hung"
    statuses = [s for f in done for s in f.result()]
    assert statuses.count(201) == WRITERS * ROUNDS, sorted(set(statuses))
    assert statuses.count(200) == WRITERS * ROUNDS, sorted(set(statuses))
    listed = api.get(URL, params={"filter[labels.tier]": "two", "page[size]": 1})
    assert listed.json()["meta"]["page"]["total"] == WRITERS * ROUNDS
    facets = api.get(f"{URL}/facets", params={"field": "labels.tier"}).json()
    assert facets, facets


def _make(session: object, name: str, labels: dict[str, str]) -> None:
    service.create_service(
        session,  # type: ignore[arg-type]
        data=CatalogServiceCreate(name=name, display_name=name, labels=labels),
        actor=SYSTEM,
    )


def _facets(api: httpx.Client, field: str) -> dict[str, int]:
    resp = api.get(f"{URL}/facets", params={"field": field})
    assert resp.status_code == 200, resp.text
    return {v["value"]: v["count"] for v in resp.json()["data"]}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_writer_of_the_same_labels_does_not_wait_for_an_open_transaction(
    db: Database, api: httpx.Client
) -> None:
    """One writer holds its transaction open after creating a service labelled
    ``team=hot``; another creates, patches and deletes services with the same label and
    commits at once (it would wait on the first's count rows, and time out here, if the
    counts were updated in place). Facet counts and filtered totals are right throughout,
    and once every write has ended the journal is folded into the counts."""
    with db.session() as holder:
        _make(holder, "held", {"team": "hot", "tier": "one"})  # uncommitted: holds its locks
        with db.session() as other:
            other.execute(text("SET LOCAL lock_timeout = '3s'"))
            _make(other, "free-1", {"team": "hot", "tier": "one"})
            _make(other, "free-2", {"team": "hot", "tier": "two"})
        assert _facets(api, "labels.team") == {"hot": 2}  # the held one is not committed
        patched = api.patch(f"{URL}/free-2", json={"labels": {"team": "hot", "tier": "one"}})
        assert patched.status_code == 200, patched.text
        assert api.delete(f"{URL}/free-1").status_code == 204
        assert _facets(api, "labels.tier") == {"one": 1}
    assert _facets(api, "labels.team") == {"hot": 2}
    assert _facets(api, "labels.tier") == {"one": 2}
    listed = api.get(URL, params={"filter[labels.team]": "hot"}).json()
    assert sorted(s["name"] for s in listed["data"]) == ["free-2", "held"]
    assert listed["meta"]["page"]["total"] == 2
    # Whatever the writers left unfolded (they could not fold while "held" was folding),
    # the next write folds; then the counts alone hold every value.
    made = api.post(URL, json={"name": "last", "display_name": "Last", "labels": {"team": "x"}})
    assert made.status_code == 201, made.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogServiceValueCountDelta)) == 0
        counts = {
            (c.path, c.short): c.count
            for c in s.scalars(select(CatalogServiceValueCount)).all()
            if c.count
        }
    assert counts == {
        ("labels.team", "hot"): 2,
        ("labels.team", "x"): 1,
        ("labels.tier", "one"): 2,
    }
    assert _facets(api, "labels.team") == {"hot": 2, "x": 1}
