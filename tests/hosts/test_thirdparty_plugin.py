"""A plugin written only against syncerapi.v1 imports hosts over HTTP and reads their attributes."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from hosts import cronjobs
from hosts.models import Account, CronjobRun, Host, LogEntry

PLUGIN_FILE = Path(__file__).parent / "thirdparty" / "acme_syncer.py"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def test_the_plugin_imports_nothing_but_syncerapi_v1_and_the_standard_library():
    tree = ast.parse(PLUGIN_FILE.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module)
    assert modules
    for module in modules:
        assert module.startswith("syncerapi.v1") or module.split(".")[0] in STDLIB, module


@pytest.fixture
def acme(settings, http_server, db):
    settings.SYNCSITE_PLUGINS = ["tests.hosts.thirdparty.acme_syncer"]
    from hosts import discovery

    discovery.discover_plugins()
    account = Account.objects.create(name="acme", type="acme", address=http_server.url, username="u", password="pw")
    account.custom_fields.create(name="inventorize_key", value="acme")
    yield account
    cronjobs.unregister_cronjob("ACME: nightly import")
    discovery._loaded.remove("tests.hosts.thirdparty.acme_syncer")
    sys.modules.pop("tests.hosts.thirdparty.acme_syncer", None)


def test_third_party_plugin_imports_hosts_and_reads_attributes(acme, http_server, make_rule):
    # the cronjob the plugin registered runs like any scheduled job
    assert cronjobs.run_cronjob("ACME: nightly import", account="acme") == 3
    assert CronjobRun.objects.get().status == "success"
    assert http_server.requests[0]["headers"]["Authorization"].startswith("Basic ")

    web01 = Host.objects.get(hostname="web01.example.com")
    assert web01.labels == {"operating_system": "Linux", "site": "dc1"}
    assert web01.inventory == {"acme__serial": "S-1"}
    assert web01.account == acme
    entry = LogEntry.objects.get(source="acme_import")
    assert entry.has_error is True  # the feed row without a name
    assert ["imported", 3] in entry.details

    # rules shape what the report reads
    make_rule(
        "custom",
        [{"match_type": "attribute", "attribute": "operating_system", "value": "linux"}],
        [{"attribute": "site", "value": "{{ site|upper }}-linux"}],
    )
    make_rule(
        "filter", [{"match_type": "hostname", "hostname": "db", "hostname_match": "swith"}], [{"action": "ignore_host"}]
    )
    from tests.hosts.thirdparty.acme_syncer import AcmeReport

    report = AcmeReport()
    assert report.run() == {"DC1-linux": ["web01.example.com"], "DC2-linux": ["web02.example.com"]}
    report.save_log()
    assert Host.objects.get(hostname="web02.example.com").cache["acme_report"]["all"]["site"] == "DC2-linux"

    # a second import of the same feed changes nothing but the seen time
    synced = web01.last_import_sync
    cronjobs.run_cronjob("ACME: nightly import", account="acme")
    web01.refresh_from_db()
    assert web01.last_import_sync == synced
    assert web01.last_import_seen > synced
    assert "acme_report" in web01.cache  # unchanged labels keep the cache
