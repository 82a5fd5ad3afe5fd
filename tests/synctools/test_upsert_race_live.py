"""Concurrent upserts of one new id against a running site (gunicorn, two workers) never answer 409.

The source site of the synctools tests serves the tracker too, on a SQLite file (WAL, IMMEDIATE transactions)
or on PostgreSQL, so the race runs on both databases with real processes.
"""

from __future__ import annotations

import pytest
import requests

from tests.tracker.test_upsert_race import race

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

    def write(round_: int, slot: int) -> int:
        response = requests.post(
            source.url("api/upsert/"),
            json=[{"_id": f"live-race-{round_}", f"by_{slot}": True}],
            headers=headers,
            timeout=120,
        )
        return response.status_code

    statuses = race(write, writers=WRITERS, rounds=ROUNDS)
    assert statuses.count(200) == WRITERS * ROUNDS, statuses
    read = requests.post(
        source.url("api/read/"), json=[f"live-race-{r}" for r in range(ROUNDS)], headers=headers, timeout=30
    ).json()
    for node in read:
        assert {k for k in node if k.startswith("by_")} == {f"by_{slot}" for slot in range(WRITERS)}
