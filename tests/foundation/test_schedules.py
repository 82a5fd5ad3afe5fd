"""Schedules run code: only registered tasks, with checked arguments, by users holding the model permission."""

from __future__ import annotations

import inspect

import pytest
from django.contrib.auth.models import Permission
from django.utils.module_loading import import_string
from django_q.models import OrmQ, Schedule
from django_q.signing import SignedPackage
from rest_framework.test import APIClient

from syncsite import schedules

pytestmark = pytest.mark.django_db

DUE = "2020-01-01T00:00:00Z"


def client_for(make_token, django_user_model, username: str, *perms: str) -> APIClient:
    token = make_token(username, staff=True)
    user = django_user_model.objects.get(username=username)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q", codename__in=perms))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def operator(make_token, django_user_model) -> APIClient:
    return client_for(
        make_token, django_user_model, "operator", "add_schedule", "change_schedule", "delete_schedule", "view_schedule"
    )


def test_every_registered_task_declares_its_real_parameters():
    registered = schedules.registered_tasks()
    assert {"hosts.tasks.run_cronjob", "synctools.tasks.pull", "tracker.tasks.agent_round"} <= set(registered)
    for path, task in registered.items():
        signature = inspect.signature(import_string(path))
        signature.bind_partial(**dict.fromkeys(task.argument_names()))


def test_staff_without_the_model_permission_is_refused(make_token, django_user_model):
    client = client_for(make_token, django_user_model, "staff-only")
    assert client.get("/api/v1/schedules/").status_code == 403
    response = client.post("/api/v1/schedules/", {"func": "os.system", "args": "'id'"}, format="json")
    assert response.status_code == 403
    assert "detail" in response.json()
    viewer = client_for(make_token, django_user_model, "viewer", "view_schedule")
    assert viewer.get("/api/v1/schedules/").status_code == 200
    assert (
        viewer.post("/api/v1/schedules/", {"func": "hosts.tasks.purge_log_entries"}, format="json").status_code == 403
    )
    assert not Schedule.objects.exclude(func="hosts.tasks.purge_log_entries").exists()


def test_non_staff_with_the_permission_is_refused(make_token, django_user_model):
    token = make_token("not-staff")
    user = django_user_model.objects.get(username="not-staff")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (
        client.post("/api/v1/schedules/", {"func": "hosts.tasks.purge_log_entries"}, format="json").status_code == 403
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"func": "os.system", "args": "'touch /tmp/owned'"}, "func"),
        ({"func": "subprocess.run", "args": "(['id'],)"}, "func"),
        ({"func": "builtins.exec", "args": "'import os'"}, "func"),
        ({"func": "syncsite.schedules.refuse", "args": "('a', 'b')"}, "func"),
        ({"func": "hosts.tasks.purge_log_entries", "args": "0"}, "kwargs"),
        ({"func": "hosts.tasks.purge_log_entries", "args": "(1, 2)"}, "args"),
        ({"func": "hosts.tasks.purge_log_entries", "args": "__import__('os')"}, "args"),
        ({"func": "hosts.tasks.purge_log_entries", "args": "(" * 5000}, "args"),
        ({"func": "hosts.tasks.purge_log_entries", "kwargs": "{'q_options': {'hook': 'os.system'}}"}, "kwargs"),
        ({"func": "hosts.tasks.purge_log_entries", "kwargs": "days=1, **x"}, "kwargs"),
        ({"func": "hosts.tasks.purge_log_entries", "kwargs": "[1]"}, "kwargs"),
        ({"func": "hosts.tasks.run_cronjob", "kwargs": "{'job': 'no such job'}"}, "kwargs"),
        (
            {"func": "hosts.tasks.run_cronjob", "kwargs": "{'job': 'Purge old log entries', 'account': 'ghost'}"},
            "kwargs",
        ),
        (
            {"func": "synctools.tasks.pull", "kwargs": "{'url': 'https://a.example/sync/hosts', 'api_token': 't'}"},
            "kwargs",
        ),
        ({"func": "tracker.tasks.agent_round", "args": "'no-such-volume'"}, "kwargs"),
        ({"func": "hosts.tasks.purge_log_entries", "schedule_type": "C", "cron": "every day"}, "cron"),
        ({"func": "hosts.tasks.purge_log_entries", "schedule_type": "I"}, "minutes"),
    ],
)
def test_anything_but_a_registered_task_with_valid_arguments_is_400(operator, body, field):
    response = operator.post("/api/v1/schedules/", {"name": "x", **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Schedule.objects.filter(name="x").exists()


def test_a_registered_task_is_stored_with_its_validated_arguments(operator):
    response = operator.post(
        "/api/v1/schedules/",
        {"name": "purge", "func": "hosts.tasks.purge_log_entries", "args": "'30'", "schedule_type": "D"},
        format="json",
    )
    assert response.status_code == 201, response.content
    schedule = Schedule.objects.get(name="purge")
    assert (schedule.args, schedule.kwargs) == (None, "{'days': 30}")
    cronjob = operator.post(
        "/api/v1/schedules/",
        {
            "name": "export",
            "func": "hosts.tasks.run_cronjob",
            "kwargs": "job='hosts: export-csv'",
            "schedule_type": "C",
            "cron": "0 3 * * *",
        },
        format="json",
    )
    assert cronjob.status_code == 201, cronjob.content
    assert Schedule.objects.get(name="export").kwargs == "{'job': 'hosts: export-csv'}"
    # changing the function re-checks the stored arguments against the new one
    moved = operator.patch(f"/api/v1/schedules/{schedule.pk}/", {"func": "syncthing_bridge.tasks.refresh_all"})
    assert moved.status_code == 400
    assert operator.patch(f"/api/v1/schedules/{schedule.pk}/", {"func": "os.system"}).status_code == 400
    assert operator.delete(f"/api/v1/schedules/{schedule.pk}/").status_code == 204


def test_admin_schedule_form_offers_and_accepts_only_registered_tasks(admin_client):
    page = admin_client.get("/admin/django_q/schedule/add/")
    assert page.status_code == 200
    assert b"hosts.tasks.purge_log_entries" in page.content
    assert b"os.system" not in page.content
    data = {"name": "owned", "schedule_type": "O", "repeats": "-1", "next_run_0": "2020-01-01", "next_run_1": "00:00"}
    refused = admin_client.post("/admin/django_q/schedule/add/", {**data, "func": "os.system", "args": "'id'"})
    assert refused.status_code == 200
    assert not Schedule.objects.filter(name="owned").exists()
    bad_args = admin_client.post(
        "/admin/django_q/schedule/add/", {**data, "func": "hosts.tasks.purge_log_entries", "args": "'x'"}
    )
    assert bad_args.status_code == 200 and b"days: A valid integer is required." in bad_args.content
    ok = admin_client.post(
        "/admin/django_q/schedule/add/", {**data, "func": "hosts.tasks.purge_log_entries", "args": "7"}
    )
    assert ok.status_code == 302, ok.content.decode()[:3000]
    assert Schedule.objects.get(name="owned").kwargs == "{'days': 7}"


@pytest.mark.django_db(transaction=True)  # the scheduler closes connections that are inside a transaction
def test_the_scheduler_refuses_a_schedule_written_around_the_checks(monkeypatch, tmp_path):
    """A schedule stored straight in the database (or before the upgrade) is turned into a refusal."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.scheduler import scheduler

    monkeypatch.setattr(Conf, "SYNC", False)
    target = tmp_path / "owned"
    Schedule.objects.create(name="evil", func="os.system", args=repr(f"touch {target}"), next_run=DUE)
    Schedule.objects.create(name="fine", func="hosts.tasks.purge_log_entries", kwargs="{'days': 9}", next_run=DUE)
    scheduler(broker=get_broker())
    queued = {task["group"]: task for task in (SignedPackage.loads(row.payload) for row in OrmQ.objects.all())}
    assert queued["evil"]["func"] == "syncsite.schedules.refuse"
    assert queued["evil"]["args"] == ("os.system", "it is not a registered task")
    assert queued["fine"]["func"] == "hosts.tasks.purge_log_entries" and queued["fine"]["kwargs"] == {"days": 9}
    with pytest.raises(schedules.TaskRefused, match=r"os\.system was not run"):
        import_string(queued["evil"]["func"])(*queued["evil"]["args"])
    assert not target.exists()


def test_code_may_still_enqueue_its_own_functions():
    from django_q.tasks import async_task, result

    assert result(async_task("math.floor", 2.5)) == 2


def test_cron_validation_is_one_kernel_function():
    from django.core.exceptions import ValidationError

    assert schedules.validate_cron("*/5 * * * *") == "*/5 * * * *"
    for bad in ("", None, "every day", "* * *", "61 * * * *"):
        with pytest.raises(ValidationError):
            schedules.validate_cron(bad)
