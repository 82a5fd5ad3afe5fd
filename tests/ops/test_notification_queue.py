"""Queued notifications (NOTIFICATIONS_DELIVERY = "queue", the default): the raising run never waits for a
receiver; the worker's task sends the message. The queue is django-q2's database broker, as in production;
its tasks are run here the way a worker runs them (the signed package's function and arguments)."""

from __future__ import annotations

import time

import pytest
from django.utils.module_loading import import_string
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from notifications.models import Channel, Delivery, Incident, Rule
from syncsite import events
from tests.conftest import free_port

pytestmark = [pytest.mark.django_db(transaction=True)]


def run_queued() -> int:
    """Run the queued notification tasks as a worker would, then acknowledge them; how many ran."""
    ran = 0
    for row in OrmQ.objects.order_by("id"):
        task = SignedPackage.loads(row.payload)
        if task.get("group") != "notifications":
            continue
        import_string(task["func"])(*task["args"], **task["kwargs"])
        row.delete()
        ran += 1
    return ran


@pytest.fixture
def queued(settings, monkeypatch):
    """The production setting, and tasks left in the queue (the suite otherwise runs them at once)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    settings.NOTIFICATIONS_DELIVERY = "queue"
    return settings


def test_a_failing_webhook_does_not_hold_the_run_that_raised_the_event(queued):
    queued.NOTIFICATIONS_WEBHOOK_BACKOFF = 0.3  # sent inline, the 3 retries would take 0.3 + 0.6 + 1.2 s
    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=f"http://127.0.0.1:{free_port()}/h")
    Rule.objects.create(name="all").channels.set([channel])

    started = time.monotonic()
    events.emit("tracker.agent_silent", "Z", "agent Z silent")
    assert time.monotonic() - started < 1.0
    assert not Delivery.objects.exists() and Incident.objects.get().pending  # recorded, not sent yet

    assert run_queued() == 1
    delivery = Delivery.objects.get()
    assert not delivery.ok and delivery.attempts == 4 and "ConnectionError" in delivery.error
    assert Incident.objects.get().pending == []


def test_occurrences_before_the_worker_runs_go_out_as_one_digest_and_recovered_is_queued_too(queued, webhook_receiver):
    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=webhook_receiver.url)
    Rule.objects.create(name="all", cooldown_minutes=0).channels.set([channel])
    events.emit("hosts.run_failed", "import-x", "import-x failed", lines=["a"])
    events.emit("hosts.run_failed", "import-x", "import-x failed", lines=["b"])
    assert webhook_receiver.received == []

    assert run_queued() == 2  # the first sends both occurrences, the second finds nothing left to send
    assert len(webhook_receiver.received) == 1
    body = webhook_receiver.received[0][0]
    assert body["subject"].startswith("[Syncsite] digest:") and body["lines"] == ["a", "b"]

    events.resolve("hosts.run_failed", "import-x", title="import-x works again")
    assert len(webhook_receiver.received) == 1 and Incident.objects.get().resolved is not None
    assert run_queued() == 1
    assert webhook_receiver.received[1][0]["status"] == "recovered"
    assert webhook_receiver.received[1][0]["title"] == "import-x works again"


def test_a_failure_that_recovers_before_the_worker_runs_is_told_then_recovered(queued, webhook_receiver):
    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=webhook_receiver.url)
    Rule.objects.create(name="all").channels.set([channel])
    events.emit("hosts.run_failed", "export-y", "export-y failed")
    events.resolve("hosts.run_failed", "export-y")
    run_queued()
    assert [body["status"] for body, _, _ in webhook_receiver.received] == ["failing", "recovered"]


def test_a_rule_switched_off_before_the_worker_runs_sends_nothing(queued, webhook_receiver):
    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=webhook_receiver.url)
    rule = Rule.objects.create(name="all", cooldown_minutes=0)
    rule.channels.set([channel])
    events.emit("hosts.run_failed", "export-z", "export-z failed")
    events.resolve("hosts.run_failed", "export-z")  # queued: the failure, then its recovery from that task
    Rule.objects.filter(pk=rule.pk).update(enabled=False)
    assert run_queued() == 1
    assert webhook_receiver.received == [] and not Delivery.objects.exists()

    rule.enabled = True
    rule.save()
    events.emit("hosts.run_failed", "export-z", "export-z failed again")
    assert run_queued() == 1 and len(webhook_receiver.received) == 1  # told, so its recovery will be too
    events.resolve("hosts.run_failed", "export-z")
    Rule.objects.filter(pk=rule.pk).update(enabled=False)
    assert run_queued() == 1 and len(webhook_receiver.received) == 1  # the queued recovery is silenced as well


def test_what_a_lost_task_did_not_send_goes_out_with_the_next_flush(queued, webhook_receiver):
    from notifications import services

    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=webhook_receiver.url)
    Rule.objects.create(name="all").channels.set([channel])
    events.emit("replication.pull_failed", "https://a.example/sync/", "pull failed")
    OrmQ.objects.all().delete()  # the task is lost (a Redis broker's cluster killed while holding it)

    assert services.flush() == 1
    assert len(webhook_receiver.received) == 1 and Incident.objects.get().pending == []


def test_flush_leaves_the_held_back_occurrences_of_a_switched_off_rule(queued, webhook_receiver):
    from notifications import services

    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=webhook_receiver.url)
    Rule.objects.create(name="all", enabled=False).channels.set([channel])
    Rule.objects.create(name="on").channels.set([channel])
    events.emit("replication.pull_failed", "https://b.example/sync/", "pull failed")
    Rule.objects.filter(name="on").update(enabled=False)
    OrmQ.objects.all().delete()
    assert services.flush() == 0 and webhook_receiver.received == []


def test_a_queue_that_refuses_the_task_sends_from_the_raising_process(queued, webhook_receiver, monkeypatch):
    import django_q.tasks

    def refuse(*args, **kwargs):  # a broker that is down (Redis unreachable) cannot be made on purpose here
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(django_q.tasks, "async_task", refuse)
    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=webhook_receiver.url)
    Rule.objects.create(name="all").channels.set([channel])
    events.emit("tracker.agent_silent", "Y", "agent Y silent")
    assert len(webhook_receiver.received) == 1 and Delivery.objects.get().ok


def test_the_setting_takes_only_its_two_values():
    import subprocess
    import sys

    from tests.ops.test_backup import ROOT

    check = [
        sys.executable,
        "-c",
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='syncsite.settings'; django.setup()",
    ]
    result = subprocess.run(check, cwd=ROOT, env={"NOTIFICATIONS_DELIVERY": "later", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0 and "NOTIFICATIONS_DELIVERY must be 'queue' or 'inline'" in result.stderr
