"""Incremental replication of Syncsite's own data between two running sites, read from the trigger-written log.

The source is a real gunicorn process with its own database; the test process is the pulling site.
"""

from __future__ import annotations

import pytest
import requests

from syncsite import changes
from syncsite.models import Change
from synctools.client import Client
from tests.synctools import scenarios

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_bulk_writes_reach_an_incremental_pull_and_pulled_rows_are_not_offered_back(source):
    counts = source.run("seed_site_data")
    before = changes.current()  # earlier tests' cleanup wrote to this site's log too
    client = Client(api_token=source.token, api_url=source.url("sync/"))
    first = [client.sync("hosts", incremental=True), client.sync("tracker", incremental=True)]
    assert not any(r.incremental for r in first) and all(r.cursor.startswith("v1.") for r in first)
    assert scenarios.site_keys() == source.run("site_keys")

    # Every row this site wrote in the pull carries its origin: its own routes never offer it back.
    pulled = Change.objects.filter(id__gt=before.last_id)
    assert pulled.exists() and set(pulled.values_list("origin", flat=True)) <= {
        source.url("sync/hosts"),
        source.url("sync/tracker"),
    }
    assert changes.changed("tracker.node", before, changes.current(), local_only=True) == {}

    unchanged = client.sync("tracker", incremental=True)
    assert unchanged.incremental and unchanged.rows == 0 and unchanged.deleted == 0

    source.run("bulk_change_site_data")  # update(), raw SQL and a delete: no signal is sent for any of them
    hosts = client.sync("hosts", incremental=True)
    tracker = client.sync("tracker", incremental=True)
    assert hosts.incremental and tracker.incremental
    assert hosts.rows == 1  # only the host that changed
    assert 1 <= tracker.rows < counts["tracker.node"] and tracker.deleted >= 1  # the deleted file: a tombstone
    assert scenarios.site_keys() == source.run("site_keys")


def test_an_expired_cursor_gets_a_clear_answer_and_the_client_pulls_in_full(source):
    source.run("seed_site_data")
    client = Client(api_token=source.token, api_url=source.url("sync/"))
    first = client.sync("tracker", incremental=True)
    source.run("tracker_delete", ids=["/projects/shot3.exr"])
    source.run("prune_change_log")

    answer = requests.get(source.url("sync/tracker"), params={"since": first.cursor}, auth=(source.token, ""))
    assert answer.status_code == 410 and answer.headers["X-Synctools-Full-Pull-Needed"] == "1"
    assert "full pull" in answer.json()["detail"]
    bad = requests.get(source.url("sync/tracker"), params={"since": "v1.x."}, auth=(source.token, ""))
    assert bad.status_code == 400 and "Invalid cursor" in bad.json()["detail"]

    again = client.sync("tracker", incremental=True)
    assert again.full_pull_needed and not again.incremental and again.deleted >= 1
    mine, theirs = scenarios.site_keys(), source.run("site_keys")
    assert (mine["nodes"], mine["states"]) == (theirs["nodes"], theirs["states"])
    assert client.sync("tracker", incremental=True).incremental  # the new cursor is good again
