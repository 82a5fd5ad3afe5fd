"""Export plugins end to end: CSV/JSON export, the Ansible inventory (command, API, real ansible-inventory)."""

from __future__ import annotations

import json
import sys

import pytest
from django.core.management.base import CommandError

from hosts.models import Host, LogEntry
from hosts.plugins.sources import read_csv, read_json_file

from .ansible_helpers import ansible_inventory, script_printing

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory(db):
    """Four hosts; filter rules whitelist os*/site; one host is ignored; one is disabled; one is an object."""
    Host.objects.create(hostname="web1.example.com", labels={"os": "linux", "ansible_group": "web", "site": "dc1"})
    Host.objects.create(hostname="web2.example.com", labels={"os": "linux", "ansible_group": "web,prod", "pw": "x"})
    Host.objects.create(hostname="db1", labels={"os": "bsd", "site": "dc2", "os_version": "14"})
    Host.objects.create(hostname="secret1", labels={"os": "linux", "hide": "yes"})
    Host.objects.create(hostname="off1", labels={"os": "linux"}, disabled=True)
    Host.objects.create(hostname="switch1", labels={"os": "ios"}, is_object=True)
    from hosts import services

    services.save_rule(
        "filter",
        {
            "name": "export os and site",
            "condition_type": "anyway",
            "outcomes": [
                {"action": "whitelist_attribute", "attribute": "os*"},
                {"action": "whitelist_attribute", "attribute": "site"},
            ],
        },
    )
    services.save_rule(
        "filter",
        {
            "name": "hide",
            "conditions": [{"match_type": "attribute", "attribute": "hide", "value": "yes"}],
            "outcomes": [{"action": "ignore_host"}],
        },
    )


def test_export_csv_to_a_file_reads_back(inventory, tmp_path, run_command):
    path = tmp_path / "export.csv"
    out, _ = run_command("export-csv", "--output", str(path))
    assert out.strip() == f"3 hosts written to {path}"
    rows = dict(read_csv(path))
    assert rows == {
        "db1": {"os": "bsd", "os_version": "14", "site": "dc2"},
        "web1.example.com": {"os": "linux", "os_version": "", "site": "dc1"},
        "web2.example.com": {"os": "linux", "os_version": "", "site": ""},
    }
    entry = LogEntry.objects.get(source="csv_export")
    assert dict(entry.details)["exported"] == 3 and dict(entry.details)["ignored"] == 1


def test_export_json_to_stdout_reads_back(inventory, tmp_path, capsys, run_command):
    run_command("export-json")
    text = capsys.readouterr().out
    path = tmp_path / "export.json"
    path.write_text(text)
    assert dict(read_json_file(path, labels_key="attributes"))["db1"] == {
        "os": "bsd",
        "os_version": "14",
        "site": "dc2",
    }


def test_export_to_an_unwritable_path_is_a_command_error(inventory, tmp_path, run_command):
    with pytest.raises(CommandError, match="cannot write"):
        run_command("export-csv", "--output", str(tmp_path / "missing-dir" / "x.csv"))


def test_ansible_list_and_host_from_the_command(inventory, tmp_path, capsys, run_command):
    out, _ = run_command("ansible", "--list")
    document = json.loads(out)
    assert document["all"]["children"] == ["prod", "web", "ungrouped"]
    assert document["web"]["hosts"] == ["web1.example.com", "web2.example.com"]
    assert document["ungrouped"]["hosts"] == ["db1"]
    assert document["_meta"]["hostvars"]["web2.example.com"] == {"os": "linux"}
    assert "secret1" not in document["_meta"]["hostvars"] and "off1" not in document["_meta"]["hostvars"]
    out, _ = run_command("ansible", "--host", "DB1")
    assert json.loads(out) == {"os": "bsd", "os_version": "14", "site": "dc2"}
    out, _ = run_command("ansible", "--host", "unknown-host")
    assert json.loads(out) == {}
    assert not LogEntry.objects.filter(source="ansible").exists()  # Ansible calls it often: no run log

    listed = ansible_inventory(script_printing(tmp_path / "inv.py", document), "--list", home=tmp_path)
    assert listed["web"]["hosts"] == ["web1.example.com", "web2.example.com"]
    assert listed["_meta"]["hostvars"]["db1"]["os_version"] == "14"


def test_ansible_group_label_option(inventory, run_command):
    out, _ = run_command("ansible", "--list", "--group-label", "site")
    document = json.loads(out)
    assert document["dc1"]["hosts"] == ["web1.example.com"]
    assert document["ungrouped"]["hosts"] == ["web2.example.com"]


def test_ansible_needs_list_or_host(db, run_command):
    with pytest.raises(CommandError, match="give exactly one of --list or --host NAME"):
        run_command("ansible")


def test_ansible_inventory_api(inventory, token_client, api_client):
    assert api_client.get("/api/v1/ansible/inventory").status_code == 401
    response = token_client.get("/api/v1/ansible/inventory")
    assert response.status_code == 200
    assert response.json()["web"] == {"hosts": ["web1.example.com", "web2.example.com"]}
    assert token_client.get("/api/v1/ansible/inventory?host=db1").json()["site"] == "dc2"


@pytest.mark.django_db(transaction=True)
def test_real_ansible_inventory_against_the_live_api(inventory, live_server, make_token, tmp_path):
    token = make_token("ansible", superuser=False)
    script = tmp_path / "syncsite_inventory.py"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, urllib.parse, urllib.request\n"
        f"url = {live_server.url + '/api/v1/ansible/inventory'!r}\n"
        "if sys.argv[1:2] == ['--host']:\n"
        "    url += '?host=' + urllib.parse.quote(sys.argv[2])\n"
        f"request = urllib.request.Request(url, headers={{'Authorization': 'Bearer {token}'}})\n"
        "print(urllib.request.urlopen(request, timeout=30).read().decode())\n"
    )
    script.chmod(0o755)
    listed = ansible_inventory(script, "--list", home=tmp_path)
    assert sorted(listed["all"]["children"]) == ["prod", "ungrouped", "web"]
    assert listed["prod"]["hosts"] == ["web2.example.com"]
    assert listed["_meta"]["hostvars"]["web1.example.com"] == {"os": "linux", "site": "dc1"}


def test_debug_host_shows_the_rules_and_the_result(inventory, capsys, run_command):
    run_command("debug-host", "secret1")
    printed = capsys.readouterr().out
    assert "Rules for secret1" in printed and "hide" in printed and "IGNORED" in printed
    with pytest.raises(CommandError, match="host 'nope' not found"):
        run_command("debug-host", "nope")


def test_show_accounts_never_shows_passwords(make_account, run_command):
    make_account(
        "httpsrc",
        address="https://cmdb.example.com/api",
        password="topsecret-pw",
        secrets={"api_token": "tok-xyz"},
        delimiter=";",
    )
    out, _ = run_command("show-accounts")
    assert "httpsrc" in out and "https://cmdb.example.com/api" in out and "delimiter=;" in out
    assert "topsecret-pw" not in out and "tok-xyz" not in out and "api_token=********" in out
