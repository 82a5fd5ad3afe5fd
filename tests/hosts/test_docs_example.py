"""The "Building your own plugin" example of docs/plugins.md runs as written."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hosts import cronjobs
from hosts.models import Account, Host, LogEntry

from .conftest import doc_plugin_source, loaded_plugin

MODULE = "doc_example_syncer_plugin"


@pytest.fixture
def example_plugin(tmp_path, monkeypatch, settings):
    with loaded_plugin(
        doc_plugin_source("example-plugin"),
        MODULE,
        tmp_path,
        monkeypatch,
        settings,
        cronjob_names=["Example: import CSV"],
        commands=["example-import-csv", "example-export-json"],
    ) as module:
        yield module


@pytest.mark.django_db
def test_the_documented_example_plugin_works(example_plugin, tmp_path, make_rule):
    csv_file = tmp_path / "hosts.csv"
    csv_file.write_text("host;OS;Site\nWeb01;linux;dc1\nweb02;linux;dc2\n bad name ;x;y\n")
    account = Account.objects.create(name="my_csv", type="csv", address=str(csv_file))
    account.custom_fields.create(name="delimiter", value=";")

    out = io.StringIO()
    call_command("syncer", "example-import-csv", "my_csv", stdout=out)
    assert "2 imported, 2 changed" in out.getvalue()
    assert Host.objects.get(hostname="web01").labels == {"os": "linux", "site": "dc1"}
    assert LogEntry.objects.get(source="example_csv").has_error is True  # the bad name

    # the registered cronjob does the same, through the recorded run path
    counts = cronjobs.run_cronjob("Example: import CSV", account="my_csv")
    assert counts == {"imported": 2, "changed": 0, "not_owned": 0}

    make_rule("filter", [], [{"action": "whitelist_attribute", "attribute": "site"}], condition_type="anyway")
    target = tmp_path / "export.json"
    call_command("syncer", "example-export-json", str(target), stdout=io.StringIO())
    assert json.loads(target.read_text()) == {"web01": {"site": "dc1"}, "web02": {"site": "dc2"}}

    with pytest.raises(CommandError, match="unknown account"):
        call_command("syncer", "example-import-csv", "nope")
