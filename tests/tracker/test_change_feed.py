"""GET /api/changes over a live HTTP server: long-poll latency, labels, per-user filtering, bounds."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tracker import services

pytestmark = pytest.mark.django_db(transaction=True)


def _token(live_server, make_user, name: str, user_class: str) -> dict:
    make_user(name, user_class)
    answer = requests.post(
        f"{live_server.url}/api/signIn/", data={"username": name, "password": "pw-Secret-123"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_a_listener_sees_each_change_within_a_second_with_its_label(live_server, make_user):
    guest = _token(live_server, make_user, "gina", "guest")
    url = f"{live_server.url}/api/changes"
    start = requests.get(url, headers=guest, timeout=10).json()
    assert start["events"] == [] and start["cursor"].startswith("v1.")

    def later():
        time.sleep(0.5)
        services.publish("/p/a.exr", origin="paris", author="alice")

    writer = threading.Thread(target=later)
    writer.start()
    began = time.monotonic()
    answer = requests.get(url, params={"since": start["cursor"], "wait": 10}, headers=guest, timeout=30).json()
    waited = time.monotonic() - began
    writer.join()
    assert 0.4 < waited < 1.5  # answered as soon as the publish committed (it came 0.5 s in)
    assert [e["event"] for e in answer["events"]][:1] == ["publish"]
    assert answer["events"][0]["_id"] == "/p/a.exr" and answer["events"][0]["node"]["origin"] == "paris"

    cursor = answer["cursor"]
    services.lock_nodes(["/p/a.exr"], services.Actor("alice", "admin"))
    services.delete_nodes(["/p/a.exr"])
    rest = requests.get(url, params={"since": cursor, "wait": 0}, headers=guest, timeout=10).json()
    assert [(e["event"], e["_id"]) for e in rest["events"]][:1] == [("lock", "/p/a.exr")]
    assert ("delete", "/p/a.exr") in [(e["event"], e["_id"]) for e in rest["events"]]
    # Nothing new: an empty answer after `wait`, with a cursor to resume from.
    empty = requests.get(url, params={"since": rest["cursor"], "wait": 0.3}, headers=guest, timeout=10).json()
    assert empty["events"] == [] and empty["cursor"]


def test_author_mode_readers_see_only_their_nodes_and_bad_input_is_refused(live_server, make_user, settings):
    settings.TRACKER_AUTHOR_MODE = True
    bob = _token(live_server, make_user, "bob", "user")
    url = f"{live_server.url}/api/changes"
    cursor = requests.get(url, headers=bob, timeout=10).json()["cursor"]
    services.publish("/p/alice.exr", origin="paris", author="alice")
    services.publish("/p/bob.exr", origin="paris", author="bob")
    seen = requests.get(url, params={"since": cursor, "wait": 0}, headers=bob, timeout=10).json()["events"]
    assert {e["_id"] for e in seen if e["event"] == "publish" and "#parent" not in e.get("node", {})} == {"/p/bob.exr"}

    assert requests.get(url, timeout=10).status_code == 401
    for params in ({"since": "12"}, {"since": "v1.x."}, {"since": cursor, "wait": "soon"}):
        answer = requests.get(url, params=params, headers=bob, timeout=10)
        assert answer.status_code == 400 and answer.json()["detail"]
    assert requests.post(url, headers=bob, timeout=10).status_code == 405


def test_a_user_holds_at_most_the_cap_of_open_requests(live_server, make_user, settings):
    settings.TRACKER_CHANGES_MAX_OPEN = 1
    guest = _token(live_server, make_user, "gus", "guest")
    url = f"{live_server.url}/api/changes"
    cursor = requests.get(url, headers=guest, timeout=10).json()["cursor"]
    holder = threading.Thread(
        target=requests.get, args=(url,), kwargs={"params": {"since": cursor, "wait": 2}, "headers": guest}
    )
    holder.start()
    time.sleep(0.5)
    second = requests.get(url, params={"since": cursor, "wait": 0}, headers=guest, timeout=10)
    holder.join()
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert requests.get(url, params={"since": cursor, "wait": 0}, headers=guest, timeout=10).status_code == 200
    from syncsite.models import TaskLease

    assert not TaskLease.objects.filter(name__startswith="tracker:changes-open:").exists()  # every slot given back


def test_the_cap_counts_requests_held_by_other_workers_and_a_dead_workers_slot_expires(
    live_server, make_user, settings
):
    """Slots are rows in the database: a request another worker (or host) holds counts here too."""
    from datetime import timedelta

    from django.utils import timezone

    from syncsite import taskqueue
    from syncsite.models import TaskLease

    settings.TRACKER_CHANGES_MAX_OPEN = 2
    guest = _token(live_server, make_user, "gwen", "guest")
    url = f"{live_server.url}/api/changes"
    cursor = requests.get(url, headers=guest, timeout=10).json()["cursor"]
    held = [taskqueue.acquire(f"tracker:changes-open:gwen:{n}", seconds=60) for n in range(2)]
    assert all(held)  # as two open requests on other workers would hold them
    assert requests.get(url, params={"since": cursor, "wait": 0}, headers=guest, timeout=10).status_code == 429
    other = _token(live_server, make_user, "otto", "guest")  # the cap is per user
    assert requests.get(url, params={"since": cursor, "wait": 0}, headers=other, timeout=10).status_code == 200
    # a worker killed while it held a slot never releases it: the lease expires and the slot is taken over
    TaskLease.objects.filter(name="tracker:changes-open:gwen:1").update(expires=timezone.now() - timedelta(seconds=1))
    assert requests.get(url, params={"since": cursor, "wait": 0}, headers=guest, timeout=10).status_code == 200
    taskqueue.release("tracker:changes-open:gwen:0", held[0])


def test_server_sent_events_under_asgi_stream_each_change(make_user, settings):
    """Django's ASGI handler (AsyncClient; no ASGI server is installed here): the stream stays open and sends
    each event as it comes, `id:` being the cursor to resume from."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    settings.TRACKER_CHANGES_MAX_WAIT = 2
    make_user("sse", "guest")
    from django.test import Client

    signed = Client().post("/api/signIn/", {"username": "sse", "password": "pw-Secret-123"}).json()["token"]
    headers = {"Authorization": f"Bearer {signed}", "Accept": "text/event-stream"}
    cursor = Client().get("/api/changes", headers={"Authorization": f"Bearer {signed}"}).json()["cursor"]

    async def listen() -> tuple[str, float]:
        response = await AsyncClient().get("/api/changes", {"since": cursor, "wait": "2"}, headers=headers)
        assert response["Content-Type"] == "text/event-stream"
        text, began, waited = "", time.monotonic(), None
        publish = asyncio.ensure_future(sync_to_async(_publish_elsewhere, thread_sensitive=False)())
        async for chunk in response.streaming_content:  # to the end of the wait: the slot is given back then
            text += chunk.decode()
            if waited is None and "event: change" in text:
                waited = time.monotonic() - began
        await publish
        from django.db import connections

        await sync_to_async(connections.close_all)()  # the handler's sync thread's connection
        return text, waited

    def _publish_elsewhere() -> None:
        from django.db import connection

        try:
            services.publish("/sse/a.exr", origin="paris", author="alice")
        finally:
            connection.close()  # this thread's own connection

    text, waited = asyncio.run(listen())
    from syncsite.models import TaskLease

    assert not TaskLease.objects.filter(name__startswith="tracker:changes-open:").exists()
    assert waited is not None and waited < 2 and '"_id": "/sse/a.exr"' in text and '"event": "publish"' in text
    assert "\nid: v1." in "\n" + text
