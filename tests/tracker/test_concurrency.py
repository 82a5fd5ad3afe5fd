"""Two agents claiming the same site's queue at once never get the same file (PostgreSQL row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tracker import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_concurrent_claims_never_overlap(require_postgres):
    for name in ("paris", "tokyo"):
        services.create_volume(name, url=f"ssh://{name}/p/")
    paths = [f"/cc/{i:04d}" for i in range(400)]
    services.publish_many([{"_id": p, "origin": "paris"} for p in paths], author="x")
    claimed: list[list[str]] = [[], [], []]
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def agent(slot: int) -> None:
        try:
            start.wait()
            while batch := services.pending_for_site("tokyo", 7):
                claimed[slot].extend(n["_id"] for n in batch)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    everything = [p for batch in claimed for p in batch]
    assert len(everything) == len(set(everything)) == len(paths)
    assert sum(1 for c in claimed if c) >= 2, "both agents should have taken part"
