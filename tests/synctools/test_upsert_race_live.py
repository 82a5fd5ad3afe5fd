"""Concurrent upserts of one new id against a running site (gunicorn, two workers) never answer 409.

The source site of the synctools tests serves the tracker too, on a SQLite file (WAL, IMMEDIATE transactions)
or on PostgreSQL, so the race runs on both databases with real processes.
"""

from __future__ import annotations

import threading

import pytest
import requests

pytestmark = [pytest.mark.integration]

WRITERS = 4
ROUNDS = 15


def test_concurrent_upserts_of_one_new_id_on_a_running_site(source):
    source.run("tracker_admin")
    signed_in = requests.post(
        source.url("api/signIn/"), data={"username": "boss", "password": "pw-Secret-123"}, timeout=30
    )
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    statuses: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(slot: int) -> None:
        session = requests.Session()
        try:
            for round_ in range(ROUNDS):
                start.wait(60)
                response = session.post(
                    source.url("api/upsert/"),
                    json=[{"_id": f"live-race-{round_}", f"by_{slot}": True}],
                    headers=headers,
                    timeout=120,
                )
                statuses.append(response.status_code)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert statuses.count(200) == WRITERS * ROUNDS, statuses
    read = requests.post(
        source.url("api/read/"), json=[f"live-race-{r}" for r in range(ROUNDS)], headers=headers, timeout=30
    ).json()
    for node in read:
        assert {k for k in node if k.startswith("by_")} == {f"by_{slot}" for slot in range(WRITERS)}
