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
    from hosts.models import CronjobRun

    CronjobRun.objects.create(job="import-a", status=CronjobRun.SUCCESS)
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").content.decode()
    assert 'syncsite_cronjob_last_success_timestamp_seconds{job="import-a"}' in text


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
    listing = admin_client.get("/admin/notifications/channel/").content.decode()
    assert f"/admin/notifications/channel/{channel.pk}/auditlog/" in listing  # the object's own history page
    page = admin_client.get(f"/admin/notifications/channel/{channel.pk}/auditlog/")
    assert page.status_code == 200 and "top-secret-1" not in page.content.decode() and "admin" in page.content.decode()


def test_default_schedules_are_created_once():
    from django_q.models import Schedule

    out = StringIO()
    call_command("ensure_schedules", stdout=out)
    assert "5 created" in out.getvalue()  # the log purge schedule a migration made is kept
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


def test_listener_events_raise_and_resolve_device_and_folder_events(smtp_server):
    from syncthing_bridge import alerts
    from syncthing_bridge.models import SyncthingInstance

    channel = Channel.objects.create(name="m", kind=Channel.EMAIL, recipients="ops@example.com")
    rule = Rule.objects.create(name="st", events=["syncthing.device_disconnected", "syncthing.folder_errors"])
    rule.channels.set([channel])
    instance = SyncthingInstance.objects.create(name="nas", url="http://127.0.0.1:9", api_key="k" * 32)
    device = "ABCDEFG-HIJKLMN"
    alerts.on_event(instance, {"type": "DeviceDisconnected", "data": {"id": device, "error": "EOF"}})
    alerts.on_event(
        instance,
        {"type": "FolderErrors", "data": {"folder": "f1", "errors": [{"path": "a.txt", "error": "permission denied"}]}},
    )
    subjects = [m["Subject"] for _r, m in smtp_server.messages]
    assert any("ABCDEFG disconnected" in s for s in subjects) and any("folder f1 has 1 error" in s for s in subjects)
    alerts.on_event(instance, {"type": "DeviceConnected", "data": {"id": device}})
    alerts.on_event(instance, {"type": "FolderErrors", "data": {"folder": "f1", "errors": []}})
    assert sum("recovered" in m["Subject"] for _r, m in smtp_server.messages) == 2


def test_silent_agents_and_files_stuck_in_error_are_checked(smtp_server, settings):
    from tracker import services

    channel = Channel.objects.create(name="m", kind=Channel.EMAIL, recipients="ops@example.com")
    rule = Rule.objects.create(name="tracker", events=["tracker.agent_silent", "tracker.file_error"])
    rule.channels.set([channel])
    services.create_volume("A", url="/tmp/a", enableReception=False)
    services.create_volume("B", url="/tmp/b", notifiedEmails="owner@example.com")
    services.publish("/p/x.txt", origin="A", author="alice")
    services.mark_error_many([("/p/x.txt", 23, "rsync: failed")], "B")
    long_ago = services.now_ms() - 3 * 3600_000
    services.update_volume("B", {"lastConnectionAttempt": long_ago})
    from tracker.models import SiteState

    SiteState.objects.filter(site="B").update(time=long_ago)
    result = services.check_health(agent_minutes=30, error_minutes=60)
    assert result == {"stale_agents": ["B"], "stuck_errors": {"B": 1}}
    subjects = sorted(m["Subject"] for _r, m in smtp_server.messages)
    assert len(subjects) == 2 and "1 file(s) in error at B for more than 60 minutes" in subjects[0]
    assert "agent B has not reported for 30 minutes" in subjects[1]
    assert all("owner@example.com" in r for r, _m in smtp_server.messages)


def test_a_failed_replication_pull_is_an_event(smtp_server):
    from django.core.management import CommandError

    from tests.conftest import free_port

    channel = Channel.objects.create(name="m", kind=Channel.EMAIL, recipients="ops@example.com")
    rule = Rule.objects.create(name="pulls", events=["replication.pull_failed"])
    rule.channels.set([channel])
    url = f"http://127.0.0.1:{free_port()}/sync/hosts"
    with pytest.raises(CommandError):
        call_command("synctools_pull", url, "--token", "t", stdout=StringIO(), stderr=StringIO())
    assert Incident.objects.get(kind="replication.pull_failed").key == url
    assert len(smtp_server.messages) == 1 and "replication pull failed" in smtp_server.messages[0][1]["Subject"]


def test_volume_edits_in_the_admin_are_audited_with_rsync_env_masked(admin_client):
    from auditlog.models import LogEntry

    from tests.tracker.conftest import volume_form
    from tracker.models import Volume

    form = volume_form(rsync_env="RSYNC_PASSWORD=hunter2-secret")
    assert admin_client.post("/admin/tracker/volume/add/", form).status_code == 302
    volume = Volume.objects.get()
    response = admin_client.post(
        f"/admin/tracker/volume/{volume.pk}/change/", {**form, "syncAmountReception": "77", "node_id": volume.node_id}
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    entries = list(LogEntry.objects.get_for_object(volume).order_by("timestamp"))
    assert [e.action for e in entries] == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE]
    assert entries[1].changes_dict["syncAmountReception"] == ["25", "77"]
    assert all(e.actor.username == "admin" for e in entries)
    assert "hunter2" not in str([e.changes for e in entries]) and entries[0].changes_dict["rsync_env"][1] == "***"


def test_volume_form_defaults_follow_the_agent(admin_client):
    page = admin_client.get("/admin/tracker/volume/add/").content.decode()
    assert 'name="syncAmountReception" value="100"' in page
    import re

    for name, checked in (("enableDiscoveryDeletedFiles", False), ("enableEmission", False), ("enableReception", True)):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert ("checked" in tag) is checked, tag


@pytest.mark.parametrize("sites", [2, 6])
def test_dashboard_and_metrics_cost_a_fixed_number_of_queries(
    sites, admin_client, settings, django_assert_max_num_queries
):
    from tracker import services

    settings.METRICS_TOKEN = "t"
    services.create_volume("origin", url="/tmp/o", enableReception=False)
    for i in range(sites):
        services.create_volume(f"s{i}", url=f"/tmp/s{i}")
    for i in range(5):
        services.publish(f"/p/{i}.txt", origin="origin", author="alice")
    health = {row["site"]: row for row in services.site_health()}
    assert all(health[f"s{i}"]["queue"] == services.pending_count(f"s{i}") == 5 for i in range(sites))
    with django_assert_max_num_queries(40):
        assert admin_client.get("/").status_code == 200
    with django_assert_max_num_queries(25):
        assert admin_client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").status_code == 200


def test_rules_are_edited_in_the_admin_with_the_declared_events(admin_client):
    channel = Channel.objects.create(name="m", kind=Channel.EMAIL, recipients="ops@example.com")
    page = admin_client.get("/admin/notifications/rule/add/").content.decode()
    assert 'value="tracker.agent_failures"' in page and 'value="syncthing.folder_errors"' in page
    response = admin_client.post(
        "/admin/notifications/rule/add/",
        {
            "name": "sites",
            "enabled": "on",
            "events": ["tracker.agent_failures", "tracker.file_error"],
            "channels": [channel.pk],
            "notify_event_emails": "on",
            "cooldown_minutes": "15",
            "send_recovered": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-1500:]
    rule = Rule.objects.get(name="sites")
    assert rule.events == ["tracker.agent_failures", "tracker.file_error"] and rule.cooldown_minutes == 15
    bad = admin_client.post(
        "/admin/notifications/rule/add/", {"name": "x", "events": ["nope.kind"], "cooldown_minutes": "1"}
    )
    assert bad.status_code == 200 and not Rule.objects.filter(name="x").exists()


def test_the_scheduler_moving_a_schedule_is_not_an_audited_change():
    from auditlog.models import LogEntry
    from django.utils import timezone
    from django_q.models import Schedule

    schedule = Schedule.objects.create(name="s", func="syncsite.ops.check", schedule_type="I", minutes=1)
    before = LogEntry.objects.get_for_object(schedule).count()
    schedule.next_run = timezone.now()
    schedule.task = "abc"
    schedule.save()  # what the scheduler does after each run
    assert LogEntry.objects.get_for_object(schedule).count() == before
    schedule.minutes = 5
    schedule.save()
    assert LogEntry.objects.get_for_object(schedule).latest("timestamp").changes_dict["minutes"] == ["1", "5"]


def test_the_change_log_prune_task_keeps_the_retention_of_both_logs(settings):
    from datetime import timedelta

    from django.utils import timezone

    from hosts.models import Host
    from syncsite import changes, ops
    from syncsite.models import Change
    from synctools.models import ChangeRecord

    old = changes.current()  # a reader that has not seen the old host yet
    Host.objects.create(hostname="old-host")
    ChangeRecord.objects.create(model="hosts.host", object_pk="1")
    Change.objects.update(time=timezone.now() - timedelta(days=9))
    ChangeRecord.objects.update(time=timezone.now() - timedelta(days=9))
    Host.objects.create(hostname="new-host")
    settings.SYNCSITE_CHANGE_RETENTION_DAYS = 8

    result = ops.prune_change_logs()
    assert result["change_log"] >= 1 and result["synctools"] == 1
    assert changes.expired(old) and Change.objects.exists()  # the new host's row is kept
    assert ops.prune_change_logs(days=30) == {"change_log": 0, "synctools": 0}
