"""Many concurrent writers on the same hot rows: every request ends. Writers that share
label keys upsert the same facet value-count rows, so they queue on each other's row
locks; with more of them in flight than the server's request threads, the requests holding
those locks must still be able to commit (they once waited for a thread the waiters held,
and the server hung). PostgreSQL: SQLite has one writer at a time by design."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import httpx
import pytest

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
