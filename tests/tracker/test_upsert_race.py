"""Concurrent upserts of one new id: one creates it, the others update it; nobody is told it already exists."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tracker import services
from tracker.models import Node

# Threads need a database that takes several connections: PostgreSQL here (the in-memory SQLite test database
# locks whole tables); tests/synctools/test_upsert_race_live.py runs the race against a live site on both.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

WRITERS = 4
ROUNDS = 25


def race(write, *, writers: int = WRITERS, rounds: int = ROUNDS) -> list:
    """`write(round, writer)` from every writer thread, round after round, each round started together."""
    results: list = []
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def writer(slot: int) -> None:
        try:
            for round_ in range(rounds):
                start.wait(60)
                results.append(write(round_, slot))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            start.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    return results


def test_concurrent_upserts_of_a_new_id_create_once_and_update(require_postgres):
    def write(round_: int, slot: int) -> dict:
        actor = services.Actor("alice", "admin")
        return services.upsert_nodes([{"_id": f"race-{round_}", f"by_{slot}": True}], actor)[0]

    results = race(write)
    assert len(results) == WRITERS * ROUNDS
    assert not [r for r in results if isinstance(r, services.TrackerError)]
    assert Node.objects.filter(node_id__startswith="race-").count() == ROUNDS
    for node in Node.objects.filter(node_id__startswith="race-"):
        assert {k for k in node.data if k.startswith("by_")} == {f"by_{slot}" for slot in range(WRITERS)}


def test_concurrent_upserts_over_http_never_answer_409(live_server, make_user, require_postgres):
    import requests

    make_user("boss", "admin")
    signed_in = requests.post(
        f"{live_server.url}/api/signIn/", data={"username": "boss", "password": "pw-Secret-123"}, timeout=30
    )
    assert signed_in.status_code == 200, signed_in.text
    tracker_admin_token = signed_in.json()["token"]

    def write(round_: int, slot: int) -> int:
        response = requests.post(
            f"{live_server.url}/api/upsert/",
            json=[{"_id": f"http-race-{round_}", f"by_{slot}": True}],
            headers={"Authorization": f"Bearer {tracker_admin_token}"},
            timeout=60,
        )
        return response.status_code

    statuses = race(write)
    assert set(statuses) == {200}, statuses
    assert Node.objects.filter(node_id__startswith="http-race-").count() == ROUNDS
