"""End to end: a second site replicates Syncsite's own data (hosts, tracker) from a running site over /sync/."""

from __future__ import annotations

import pytest

from hosts.models import Account
from synctools.client import Client
from tests.synctools import scenarios

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_hosts_and_tracker_replicate_between_two_running_sites(source):
    counts = source.run("seed_site_data")
    assert counts["hosts.host"] == 5 and counts["tracker.node"] >= 4 and counts["tracker.sitestate"] >= 4
    # This site already has the account, with its own password: a secret is never sent, so it stays.
    Account.objects.create(pk=1, name="cmdb", password="local-secret")

    client = Client(api_token=source.token, api_url=source.url("sync/"))
    hosts = client.sync("hosts", incremental=True)
    tracker = client.sync("tracker")

    assert hosts.rows == sum(v for k, v in counts.items() if k.startswith("hosts."))
    assert tracker.rows == sum(v for k, v in counts.items() if k.startswith("tracker."))
    assert scenarios.site_snapshot() == source.run("site_snapshot")
    assert Account.objects.get(name="cmdb").password == "local-secret"

    assert not hosts.incremental
    source.run("change_site_data")
    # The routes answer increments from the trigger-written change log: deletions come as tombstones.
    again = client.sync("hosts", incremental=True)
    assert again.incremental and again.deleted == 1
    assert scenarios.site_snapshot() == source.run("site_snapshot")


def test_site_routes_leave_out_local_state_and_secrets(source):
    import requests

    source.run("seed_site_data")
    body = requests.get(source.url("sync/hosts"), auth=(source.token, ""), timeout=30).json()
    models = {entry["model"] for entry in body}
    assert "hosts.cronjoblock" not in models and "hosts.cronjobrun" not in models
    account = next(entry for entry in body if entry["model"] == "hosts.account")
    assert "password" not in account["fields"] and account["fields"]["name"] == "cmdb"
    assert "source-secret" not in str(body)
    tracker = requests.get(source.url("sync/tracker"), auth=(source.token, ""), timeout=30).json()
    assert {entry["model"] for entry in tracker} == {"tracker.node", "tracker.sitestate"}


def test_client_sends_the_token_where_access_logs_do_not_print_it(source):
    import time

    import requests

    source.run("seed_site_data")
    before = source.access_log.read_text()
    Client(api_token=source.token, api_url=source.url("sync/")).sync("tracker")
    # A stock django-synctool client sends the token as the user name: still accepted (and logged, which is
    # why Syncsite's own client does not do it).
    assert requests.get(source.url("sync/hosts"), auth=(source.token, ""), timeout=30).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # gunicorn writes its access log line after the reply
        new = source.access_log.read_text()[len(before) :]
        if "/sync/tracker" in new and "/sync/hosts" in new:
            break
        time.sleep(0.1)
    ours = [line for line in new.splitlines() if "/sync/tracker" in line]
    stock = [line for line in new.splitlines() if "/sync/hosts" in line]
    assert ours and " 200 " in ours[0]
    assert all(source.token not in line for line in ours), ours
    assert source.token in stock[0]  # the log does print a basic-auth user name
