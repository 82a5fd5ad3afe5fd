"""A failing agent round is seen, told and counted; fixing it tells "recovered".

Real parts: the agent's rsync over ssh against an address where nothing listens, an SMTP server (aiosmtpd)
and a webhook receiver on loopback, the dashboard and /metrics through Django's test client.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Channel, Delivery, Incident, Rule
from tests.conftest import free_port
from tests.tracker_agent.conftest import make_site, publish_file  # noqa: F401 - make_site is a fixture
from tracker import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SECRET = "hook-secret-123"


def _metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? (\S+)$", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else None


def _scrape(client, token: str) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_failing_round_mails_one_digest_signs_one_webhook_and_recovers(
    make_site,  # noqa: F811
    smtp_server,
    webhook_receiver,
    settings,
    client,
    admin_user,
    tmp_path,
):
    settings.METRICS_TOKEN = "metrics-token-1"
    mail = Channel.objects.create(name="ops mail", kind=Channel.EMAIL, recipients="ops@example.com")
    hook = Channel.objects.create(name="chat", kind=Channel.WEBHOOK, url=webhook_receiver.url, secret=SECRET)
    rule = Rule.objects.create(name="agents", events=["tracker.agent_failures"], cooldown_minutes=60)
    rule.channels.set([mail, hook])

    origin = make_site("A", enableReception=False)
    dead_port = free_port()  # nothing listens there: ssh cannot connect
    make_site("B", url=f"ssh://nobody@127.0.0.1:{dead_port}/remote", notifiedEmails=["owner-b@example.com"])
    for i in range(3):
        publish_file(origin, f"/p/f{i}.txt", f"data {i}")
    client.force_login(admin_user)
    before = _scrape(client, settings.METRICS_TOKEN)
    assert _metric(before, "syncsite_tracker_errors", site="B") == 0
    requests_before = _metric(before, "syncsite_http_requests_total", method="GET", status="2xx") or 0

    webhook_receiver.fail_next = 1  # the first POST gets a 503: the retry delivers it
    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("tracker_agent", "--site", "B", "--once", stdout=StringIO(), stderr=err)
    assert failed.value.returncode == 1
    assert "0 synced, 3 failed" in str(failed.value)

    # one mail, to the channel's address and the volume's notifiedEmails, naming the three files
    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert sorted(recipients) == ["ops@example.com", "owner-b@example.com"]
    assert "agent B" in message["Subject"]
    body = message.get_payload()
    assert all(f"/p/f{i}.txt" in body for i in range(3))
    # one webhook, signed with the channel's secret, after one retry
    assert len(webhook_receiver.received) == 1 and webhook_receiver.attempts == 2
    payload, raw, headers = webhook_receiver.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Syncsite-Signature"] == expected
    assert payload["status"] == "failing" and payload["kind"] == "tracker.agent_failures" and payload["count"] == 3
    # the dashboard is red and links to the site
    page = client.get("/").content.decode()
    assert 'data-attention-site="B"' in page and "attention-red" in page
    assert _metric(_scrape(client, settings.METRICS_TOKEN), "syncsite_tracker_errors", site="B") == 3

    # the same failure again (new files) within the cool-down: held back for the digest, no second message
    publish_file(origin, "/p/late.txt", "late")
    with pytest.raises(CommandError):
        call_command("tracker_agent", "--site", "B", "--once", stdout=StringIO(), stderr=StringIO())
    assert len(smtp_server.messages) == 1 and len(webhook_receiver.received) == 1
    incident = Incident.objects.get(kind="tracker.agent_failures", key="B", resolved__isnull=True)
    assert incident.occurrences == 2 and len(incident.pending) == 1

    # the volume is repaired: the round succeeds, exits 0, and "recovered" goes out on both channels
    settings.TRACKER_RETRY_BASE_SECONDS = 0  # the repaired volume retries its failed files at once
    services.update_volume("B", {"url": str(tmp_path / "b-fixed")})
    (tmp_path / "b-fixed").mkdir()
    out = StringIO()
    call_command("tracker_agent", "--site", "B", "--once", stdout=out, stderr=err)
    assert "4 synced, 0 failed" in err.getvalue()
    assert len(smtp_server.messages) == 2 and "recovered" in smtp_server.messages[1][1]["Subject"]
    assert webhook_receiver.received[-1][0]["status"] == "recovered"
    assert not Incident.objects.filter(resolved__isnull=True).exists()
    assert Delivery.objects.filter(ok=False).count() == 0

    page = client.get("/").content.decode()
    assert 'data-attention-site="B"' not in page
    after = _scrape(client, settings.METRICS_TOKEN)
    assert _metric(after, "syncsite_tracker_errors", site="B") == 0
    assert (_metric(after, "syncsite_http_requests_total", method="GET", status="2xx") or 0) > requests_before
    assert _metric(after, "syncsite_heartbeat_timestamp_seconds", key="agent:B", ok="true") is not None
    assert services.get_volume("B")["agentLastRun"] > 0
    from django.core.cache import cache

    cache.clear()  # the monitoring page caches its per-site rows briefly
    assert "last ran " in client.get("/tracker/").content.decode()  # a cron agent is not shown as "off"
