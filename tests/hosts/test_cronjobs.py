"""Cronjobs: the registry, runs with their log and traceback, the lock, and schedules made in the admin."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from hosts import cronjobs
from hosts.models import CronjobLock, CronjobRun
from syncerapi.v1 import register_cronjob

CALLS: list = []


def job_ok(account=None):
    CALLS.append(account)
    print("printed by the job")
    logging.getLogger("some.plugin").info("logged by the job")
    return "done"


def job_fails():
    print("about to fail")
    raise RuntimeError("the source is down")


@pytest.fixture(autouse=True)
def _jobs():
    CALLS.clear()
    register_cronjob("test: ok", job_ok)
    register_cronjob("test: fails", job_fails)
    yield
    cronjobs.unregister_cronjob("test: ok")
    cronjobs.unregister_cronjob("test: fails")
    cronjobs.unregister_cronjob("test: slow")


def test_register_cronjob_validates():
    with pytest.raises(ValueError):
        register_cronjob("", job_ok)
    with pytest.raises(ValueError):
        register_cronjob("x", "not callable")
    with pytest.raises(ValueError, match="already registered"):
        register_cronjob("test: ok", job_fails)
    assert register_cronjob("test: ok", job_ok) is job_ok  # same function again is fine
    assert "test: ok" in cronjobs.registered_cronjobs()
    assert "Purge old log entries" in cronjobs.registered_cronjobs()


@pytest.mark.django_db
def test_successful_run_is_recorded_with_its_output():
    assert cronjobs.run_cronjob("test: ok", account="acc1") == "done"
    run = CronjobRun.objects.get()
    assert run.status == "success" and run.success is True
    assert run.account == "acc1"
    assert run.ended >= run.started
    assert "printed by the job" in run.log
    assert "logged by the job" in run.log
    assert CALLS == ["acc1"]
    assert not CronjobLock.objects.exists()


@pytest.mark.django_db
def test_without_account_the_job_gets_no_argument():
    cronjobs.run_cronjob("test: ok")
    assert CALLS == [None]


@pytest.mark.django_db
def test_failed_run_keeps_the_traceback():
    with pytest.raises(RuntimeError):
        cronjobs.run_cronjob("test: fails")
    run = CronjobRun.objects.get()
    assert run.status == "failed" and run.success is False
    assert "RuntimeError: the source is down" in run.traceback
    assert "about to fail" in run.log
    assert not CronjobLock.objects.exists()


@pytest.mark.django_db
def test_unknown_job_is_recorded_as_failed():
    with pytest.raises(cronjobs.CronjobNotFound):
        cronjobs.run_cronjob("test: nope")
    assert CronjobRun.objects.get().status == "failed"


@pytest.mark.django_db
def test_a_held_lock_skips_the_run():
    token = cronjobs.acquire_lock("test: ok")
    assert token
    assert cronjobs.acquire_lock("test: ok") is None
    assert cronjobs.run_cronjob("test: ok") is None
    assert CALLS == []
    assert CronjobRun.objects.get().status == "skipped"
    cronjobs.release_lock("test: ok", token)
    cronjobs.run_cronjob("test: ok")
    assert CALLS == [None]


@pytest.mark.django_db
def test_an_abandoned_lock_is_taken_over(settings):
    settings.HOSTS_CRONJOB_LOCK_TIMEOUT = 60
    cronjobs.acquire_lock("test: ok")
    CronjobLock.objects.update(acquired=timezone.now() - timedelta(seconds=120))
    cronjobs.run_cronjob("test: ok")
    assert CALLS == [None]


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_run_the_same_job_at_once(require_postgres):
    """Real concurrency needs a real server database: two threads, two connections, one runs."""
    started = threading.Event()

    def slow(account=None):
        started.set()
        time.sleep(1.0)
        CALLS.append("slow")

    register_cronjob("test: slow", slow)
    errors: list = []

    def worker():
        try:
            cronjobs.run_cronjob("test: slow")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=worker)
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=worker)
    second.start()
    first.join()
    second.join()
    assert errors == []
    assert CALLS == ["slow"]
    assert sorted(CronjobRun.objects.values_list("status", flat=True)) == ["skipped", "success"]


@pytest.mark.django_db
def test_schedule_made_in_the_admin_runs_the_job(admin_client):
    from hosts.models import Account

    Account.objects.create(name="acc1")
    page = admin_client.get("/admin/hosts/cronjobschedule/add/")
    assert page.status_code == 200
    assert b"test: ok" in page.content and b"test: fails" in page.content

    response = admin_client.post(
        "/admin/hosts/cronjobschedule/add/",
        {
            "name": "",
            "job": "test: ok",
            "account": "acc1",
            "schedule_type": "C",
            "cron": "*/5 * * * *",
            "repeats": "-1",
            "next_run_0": "2020-01-01",
            "next_run_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = Schedule.objects.get(func="hosts.tasks.run_cronjob")
    assert schedule.name == "test: ok"
    assert schedule.cron == "*/5 * * * *"

    # make it due now (django-q2 moves a cron schedule's next_run to the next cron time on save), then let
    # django-q2's scheduler (inline in tests) create the task, which runs the job
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(minutes=1))
    from django_q.scheduler import scheduler

    scheduler()
    assert CALLS == ["acc1"]
    assert CronjobRun.objects.get().status == "success"

    listing = admin_client.get("/admin/hosts/cronjobschedule/")
    assert b"test: ok" in listing.content
    change = admin_client.get(f"/admin/hosts/cronjobschedule/{schedule.pk}/change/")
    assert b'value="acc1" selected' in change.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"schedule_type": "C", "cron": "not a cron"}, b"is not a valid cron expression"),
        ({"schedule_type": "I", "minutes": ""}, b"needs a number of minutes"),
        ({"schedule_type": "I", "minutes": "10", "job": "unknown"}, b"Select a valid choice"),
    ],
)
def test_admin_rejects_bad_schedules(admin_client, fields, error):
    data = {"name": "x", "job": "test: ok", "repeats": "-1", "next_run_0": "2020-01-01", "next_run_1": "00:00:00"}
    response = admin_client.post("/admin/hosts/cronjobschedule/add/", {**data, **fields})
    assert response.status_code == 200
    assert error in response.content
    assert not Schedule.objects.filter(func="hosts.tasks.run_cronjob").exists()


@pytest.mark.django_db
def test_failed_runs_show_their_traceback_in_the_admin(admin_client):
    with pytest.raises(RuntimeError):
        cronjobs.run_cronjob("test: fails")
    run = CronjobRun.objects.get()
    listing = admin_client.get("/admin/hosts/cronjobrun/?status__exact=failed")
    assert b"test: fails" in listing.content
    detail = admin_client.get(f"/admin/hosts/cronjobrun/{run.pk}/change/")
    assert detail.status_code == 200
    assert b"RuntimeError: the source is down" in detail.content


@pytest.mark.django_db
def test_purge_schedule_exists_and_purges(settings):
    from hosts.models import LogEntry
    from hosts.services import write_log

    assert Schedule.objects.filter(func="hosts.tasks.purge_log_entries", schedule_type="D").exists()
    settings.HOSTS_LOG_RETENTION_DAYS = 10
    old = write_log("old run", "test")
    LogEntry.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=11))
    write_log("new run", "test")
    from hosts.tasks import purge_log_entries

    assert purge_log_entries() == 1
    assert list(LogEntry.objects.values_list("name", flat=True)) == ["new run"]


@pytest.mark.django_db
def test_run_now_from_the_admin(admin_client, django_capture_on_commit_callbacks):
    schedule = Schedule.objects.create(
        name="nightly ok",
        func="hosts.tasks.run_cronjob",
        kwargs=repr({"job": "test: ok", "account": "a1"}),
        schedule_type="D",
    )
    with django_capture_on_commit_callbacks(execute=True):  # queued when the (test's) transaction commits
        response = admin_client.post(
            "/admin/hosts/cronjobschedule/", {"action": "run_now", "_selected_action": [str(schedule.pk)]}
        )
    assert response.status_code == 302
    assert CALLS == ["a1"]
    assert CronjobRun.objects.get().status == "success"


@pytest.mark.django_db
def test_queue_cronjob_waits_for_the_callers_commit(django_capture_on_commit_callbacks):
    from hosts import services
    from hosts.models import Account

    Account.objects.create(name="a2")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.queue_cronjob("test: ok", "a2") == ""  # inside a transaction: nothing queued yet
        assert CALLS == []
    assert CALLS == ["a2"]
    with pytest.raises(LookupError, match="no cronjob named 'nope'"):
        services.queue_cronjob("nope")
    with pytest.raises(LookupError, match="account 'zz' does not exist"):
        services.queue_cronjob("test: ok", "zz")


@pytest.mark.django_db
def test_a_manual_edit_of_labels_clears_the_attribute_cache():
    from hosts import services
    from hosts.models import Host

    host = Host.objects.create(hostname="edited.example.com", cache={"rules_version": 3, "attributes": {}})
    services.record_manual_edit(host, ["locked"], "ann")
    assert host.cache and not host.log
    services.record_manual_edit(host, ["labels"], "ann")
    assert host.cache == {} and "edited by ann" in host.log[0]["message"]
