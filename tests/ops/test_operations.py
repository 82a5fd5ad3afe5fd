"""Readiness, metrics access, audit log without secrets, default schedules, event kinds, exit code of syncer."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from notifications.models import Channel, Delivery, Incident, Rule
from syncsite import events, heartbeats

pytestmark = pytest.mark.django_db


def test_readyz_needs_a_worker_heartbeat_and_healthz_stays_cheap(client, django_assert_max_num_queries):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["broker"] == "ok"
    assert "worker" in response.json()
    heartbeats.beat("worker:test-cluster")
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["workers"] == 1
    with django_assert_max_num_queries(1):
        assert client.get("/healthz").status_code == 200


def test_metrics_answer_only_with_the_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "syncsite_db_queries_total" in text and "syncsite_http_requests_total" in text


def test_audit_log_records_who_changed_a_channel_without_its_secret(admin_client):
    from auditlog.models import LogEntry

    response = admin_client.post(
        "/admin/notifications/channel/add/",
        {"name": "hook", "kind": "webhook", "enabled": "on", "url": "http://127.0.0.1:9/x", "secret": "top-secret-1"},
    )
    assert response.status_code == 302, response.content
    channel = Channel.objects.get(name="hook")
    assert channel.secret == "top-secret-1"
    entry = LogEntry.objects.get_for_object(channel).latest("timestamp")
    assert entry.actor is not None and entry.actor.username == "admin"
    assert "top-secret-1" not in str(entry.changes) and "secret" not in (entry.changes_dict or {})
    page = admin_client.get(f"/admin/notifications/channel/{channel.pk}/change/").content.decode()
    assert "top-secret-1" not in page
    history = admin_client.get(f"/admin/auditlog/logentry/{entry.pk}/change/")
    assert history.status_code == 200 and "top-secret-1" not in history.content.decode()


def test_default_schedules_are_created_once():
    from django_q.models import Schedule

    out = StringIO()
    call_command("ensure_schedules", stdout=out)
    assert "3 created" in out.getvalue()  # the log purge schedule a migration made is kept
    assert Schedule.objects.filter(func="hosts.tasks.purge_log_entries").count() == 1
    Schedule.objects.filter(name="Stale-host report").update(minutes=7)  # the admin changed it
    out = StringIO()
    call_command("ensure_schedules", stdout=out)
    assert "0 created" in out.getvalue()
    assert Schedule.objects.get(name="Stale-host report").minutes == 7
    assert Schedule.objects.get(name="Syncthing refresh").minutes == 1


def test_event_kinds_of_every_app_are_offered_to_rules():
    kinds = set(events.kinds())
    assert {
        "hosts.run_failed",
        "tracker.agent_failures",
        "tracker.agent_silent",
        "tracker.file_error",
        "syncthing.unreachable",
        "syncthing.device_disconnected",
        "syncthing.folder_errors",
        "replication.pull_failed",
    } <= kinds


def test_a_failed_cronjob_is_told_and_its_success_recovers(smtp_server):
    from hosts.models import CronjobRun

    channel = Channel.objects.create(name="m", kind=Channel.EMAIL, recipients="ops@example.com")
    rule = Rule.objects.create(name="runs", events=["hosts.run_failed"], cooldown_minutes=0)
    rule.channels.set([channel])
    CronjobRun.objects.create(job="import-x", status=CronjobRun.FAILED, traceback="Traceback\nValueError: boom")
    assert len(smtp_server.messages) == 1 and "ValueError: boom" in smtp_server.messages[0][1].get_payload()
    CronjobRun.objects.create(job="import-x", status=CronjobRun.SUCCESS)
    assert len(smtp_server.messages) == 2 and "recovered" in smtp_server.messages[1][1]["Subject"]
    assert not Incident.objects.filter(resolved__isnull=True).exists()


def test_an_unreachable_webhook_is_retried_then_recorded_as_failed(settings):
    from tests.conftest import free_port

    settings.NOTIFICATIONS_WEBHOOK_BACKOFF = 0.01
    channel = Channel.objects.create(name="w", kind=Channel.WEBHOOK, url=f"http://127.0.0.1:{free_port()}/h")
    rule = Rule.objects.create(name="all")
    rule.channels.set([channel])
    events.emit("tracker.agent_silent", "Z", "agent Z silent")  # the emitter never sees the failure
    delivery = Delivery.objects.get()
    assert not delivery.ok and delivery.attempts == 4 and "ConnectionError" in delivery.error


def test_syncthing_unreachable_instance_is_told_and_listed(admin_client, smtp_server):
    from django.utils import timezone

    from syncsite import ops
    from syncthing_bridge.models import SyncthingInstance

    channel = Channel.objects.create(name="m", kind=Channel.EMAIL, recipients="ops@example.com")
    rule = Rule.objects.create(name="st", events=["syncthing.unreachable"])
    rule.channels.set([channel])
    SyncthingInstance.objects.create(
        name="nas",
        url="http://127.0.0.1:9",
        api_key="k" * 32,
        reachable=False,
        last_error="connection refused",
        last_refresh=timezone.now(),
    )
    ops.check()
    assert len(smtp_server.messages) == 1 and "nas" in smtp_server.messages[0][1]["Subject"]
    assert 'data-attention-instance="nas"' in admin_client.get("/").content.decode()


def test_import_summary_names_the_duplicate_hosts_it_skipped(tmp_path):
    from hosts.importing import import_rows
    from hosts.models import Account
    from hosts.plugins.sources import read_csv

    account = Account.objects.create(name="src", type="csv")
    result = import_rows(account, [("web01", {"a": 1}), ("db01", {}), ("web01", {"a": 2}), ("web01", {"a": 3})])
    assert result.skipped == 2 and sorted(set(result.duplicates)) == ["web01"]
    assert ("duplicates skipped", "web01") in result.details()
    source = tmp_path / "hosts.csv"  # the bulk CSV reader (rows normalised while read) names them too
    source.write_text("host,a\nweb02,1\nweb02,2\ndb02,3\n")
    result = import_rows(account, read_csv(source, normalise=True))
    assert result.skipped == 1 and ("duplicates skipped", "web02") in result.details()


def test_stale_host_report_is_a_run_log_entry():
    from hosts.models import Account, Host, LogEntry
    from hosts.tasks import report_stale_hosts

    account = Account.objects.create(name="cmdb")
    Host.objects.create(hostname="old01", account=account, stale=True)
    Host.objects.create(hostname="new01", account=account)
    assert report_stale_hosts() == {"stale": 1, "per_account": {"cmdb": 1}}
    entry = LogEntry.objects.get(source="report", name="stale hosts")
    assert ["stale in cmdb", 1] in entry.details and ["hosts", "old01"] in entry.details
