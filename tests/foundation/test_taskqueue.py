"""Task leases, exclusive registered tasks and the at-least-once queue settings (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.tasks import async_task
from rest_framework import serializers

from syncsite import schedules, taskqueue
from syncsite.config import q_cluster
from syncsite.models import TaskLease

pytestmark = pytest.mark.django_db

CALLS: list[tuple] = []


def probe(url: str, seconds: int | None = None) -> dict:
    """A registered task the tests queue; it records that it ran and whether its lease was held meanwhile."""
    CALLS.append((url, seconds, list(TaskLease.objects.values_list("name", flat=True))))
    return {"url": url}


class ProbeArguments(serializers.Serializer):
    url = serializers.CharField()
    seconds = serializers.IntegerField(required=False)


@pytest.fixture
def exclusive_probe():
    CALLS.clear()
    path = f"{__name__}.probe"
    schedules.register_task(path, arguments=ProbeArguments, exclusive="url")
    yield path
    schedules.unregister_task(path)


def test_a_lease_is_held_once_and_released():
    with taskqueue.lease("job") as first:
        assert first
        with taskqueue.lease("job") as second:
            assert second is None
        assert TaskLease.objects.get(name="job").holder == first
    assert not TaskLease.objects.filter(name="job").exists()
    assert taskqueue.acquire("job")


def test_an_expired_lease_of_a_killed_worker_is_taken_over():
    past = timezone.now() - timedelta(seconds=5)
    TaskLease.objects.create(name="job", holder="dead-worker", acquired=past, expires=past)
    token = taskqueue.acquire("job")
    assert token and TaskLease.objects.get(name="job").holder == token
    assert taskqueue.acquire("job") is None  # now live again
    taskqueue.release("job", "dead-worker")  # the dead holder cannot release the new one's lease
    assert TaskLease.objects.filter(name="job", holder=token).exists()


def test_an_exclusive_task_runs_under_its_lease_keyed_by_an_argument(exclusive_probe):
    async_task(exclusive_probe, "https://a.example/sync/hosts", seconds=3)
    async_task(exclusive_probe, url="https://b.example/sync/hosts")
    assert [(url, seconds) for url, seconds, _ in CALLS] == [
        ("https://a.example/sync/hosts", 3),
        ("https://b.example/sync/hosts", None),
    ]
    assert CALLS[0][2] == [f"{exclusive_probe}:https://a.example/sync/hosts"]
    assert CALLS[1][2] == [f"{exclusive_probe}:https://b.example/sync/hosts"]
    assert not TaskLease.objects.exists()


def test_an_exclusive_task_is_skipped_while_another_run_holds_its_lease(exclusive_probe):
    with taskqueue.lease(taskqueue.lease_name(exclusive_probe, "https://a.example/")):
        async_task(exclusive_probe, url="https://a.example/")
        async_task(exclusive_probe, url="https://other.example/")
    assert [url for url, _s, _l in CALLS] == ["https://other.example/"]


def test_the_site_tasks_that_must_not_overlap_are_exclusive():
    registered = schedules.registered_tasks()
    assert registered["synctools.tasks.pull"].exclusive == "url"
    assert registered["syncthing_bridge.tasks.listen"].exclusive is True
    assert registered["syncthing_bridge.tasks.refresh_all"].exclusive is True


def test_exclusive_must_name_an_argument():
    with pytest.raises(ValueError, match="names no argument"):
        schedules.register_task(f"{__name__}.probe", arguments=ProbeArguments, exclusive="nope")


def test_the_database_broker_delivers_at_least_once_with_bounded_prefetch():
    config = q_cluster(None, workers=2, timeout=600, sync=False)
    assert config["orm"] == "default" and config["bulk"] == 1 and config["queue_limit"] == 1
    assert config["ack_failures"] is False and config["max_attempts"] == 3
    assert config["retry"] == 660
    # one worker: a task taken ahead waits up to one timeout behind the running one, then runs
    assert q_cluster(None, workers=1, timeout=600, sync=False)["retry"] == 1260
    with pytest.raises(ValueError, match="must be greater than 1200"):
        q_cluster(None, workers=1, timeout=600, retry=900, sync=False)
    with pytest.raises(ValueError, match="greater than Q_TIMEOUT"):
        q_cluster(None, workers=4, timeout=600, retry=600, sync=False)
    with pytest.raises(ValueError, match="Q_MAX_ATTEMPTS"):
        q_cluster(None, workers=4, timeout=600, sync=False, max_attempts=0)


def test_a_started_task_is_handed_out_again_only_retry_seconds_after_its_start():
    """The worker's pre_execute moves the queue row's lock: a task taken ahead is not re-delivered while it runs."""
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.signals import pre_execute

    if not Conf.ORM:
        pytest.skip("the database broker is not configured (REDIS_URL is set)")
    taken_long_ago = timezone.now() - timedelta(seconds=Conf.RETRY - 1)
    row = OrmQ.objects.create(key=Conf.CLUSTER_NAME, payload="signed task", lock=taken_long_ago)
    before = timezone.now()
    pre_execute.send(sender="django_q", func=probe, task={"ack_id": row.pk, "name": "t"})
    row.refresh_from_db()
    assert before + timedelta(seconds=Conf.RETRY) <= row.lock <= timezone.now() + timedelta(seconds=Conf.RETRY)
    pre_execute.send(sender="django_q", func=probe, task={"name": "inline, no queue row"})  # sync runs: nothing
