"""hosts -> Checkmk (issue 16) against a Checkmk REST API 1.0 test server.

A real Checkmk site cannot run here (it is a whole OMD appliance), so `checkmk_server.CheckmkServer`
stands in for it: a real HTTP server on loopback that behaves as Checkmk documents (ETags, 428/412, bulk
endpoints, pending changes and activation runs, `~` folder paths, `title`/`detail`/`fields` errors) and
validates every request body against Checkmk 2.4's published schema (the `checkmk-rest-python` models,
unknown keys refused). Every test ends by asserting that no body failed that schema.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.hostsplugins.checkmk_server import CheckmkServer, CheckmkState, new_etag, validate

pytestmark = pytest.mark.django_db

OWNER = "syncsite/account"


@pytest.fixture
def checkmk():
    with CheckmkServer() as server:
        yield server
    assert server.state.schema_errors == [], "a request body broke Checkmk's schema"


@pytest.fixture
def rules(db):
    from hosts import models

    rule = models.FilterRule.objects.create(name="export to checkmk", condition_type="anyway")
    for position, pattern in enumerate(["ipaddress", "alias", "tag_*", "os"]):
        rule.outcomes.create(action="whitelist_attribute", attribute=pattern, position=position)
    return rule


@pytest.fixture
def account(db, checkmk):
    from hosts.models import Account

    account = Account.objects.create(
        name="monitor",
        type="checkmk",
        address=checkmk.url,
        username=checkmk.state.username,
        password=checkmk.state.secret,
    )
    for name, value in {
        "folder_attribute": "location",
        "host_group_attribute": "hostgroup",
        "delete_stale": "true",
        "delete_limit": "5",
        "folder_attributes": '{"tag_criticality": "prod"}',
    }.items():
        account.custom_fields.create(name=name, value=value)
    return account


def make_hosts(count: int, **extra: str) -> None:
    from hosts.models import Host

    for index in range(count):
        host = Host.get_host(f"host{index:03d}.example.com")
        host.update_host(
            {"ipaddress": f"10.0.{index // 250}.{index % 250 + 1}", "os": "linux", "location": "dc1/rack2", **extra}
        )
        host.save()


def syncer(*args: str) -> str:
    out = io.StringIO()
    call_command("syncer", "checkmk", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def last_log():
    from hosts.models import LogEntry

    return LogEntry.objects.filter(source="checkmk").order_by("-id").first()


def test_the_schema_check_refuses_what_checkmk_would(checkmk):
    assert validate("BulkCreateHost", {"entries": [{"host_name": "a", "folder": "~"}]}) == {}
    assert "body.entries[0].attributes.colour" in validate(
        "BulkCreateHost", {"entries": [{"host_name": "a", "folder": "~", "attributes": {"colour": "red"}}]}
    )
    assert validate("CreateFolder", {"title": "x"}) == {"parent": ["Missing data for required field."]}
    assert "body.redirect" in validate("ActivateChanges", {"redirect": "no"})


def test_first_export_creates_folders_hosts_and_activates_once(checkmk, account, rules):
    make_hosts(12)
    checkmk.state.add_host("other.example.com", "/", ipaddress="10.9.9.9")  # not Syncsite's: never deleted
    output = syncer("export-hosts", "monitor")
    state = checkmk.state
    assert "created 12" in output
    assert set(state.folders) == {"/", "/dc1", "/dc1/rack2"}
    assert state.folders["/dc1"]["attributes"] == {"tag_criticality": "prod"}
    host = state.hosts["host000.example.com"]
    assert host["folder"] == "/dc1/rack2"
    assert host["attributes"]["ipaddress"] == "10.0.0.1"
    assert host["attributes"]["labels"] == {"os": "linux", OWNER: "monitor"}
    assert [p for m, p in state.writes() if "bulk-create" in p] == [
        "/domain-types/host_config/actions/bulk-create/invoke"
    ]
    assert len(state.activations) == 1 and state.pending == 0
    log = last_log()
    details = dict(log.details)
    assert details["created"] == 12 and details["activation_id"] in state.activations and not log.has_error

    # unchanged re-export: reads only, nothing activated
    state.requests.clear()
    output = syncer("export-hosts", "monitor")
    assert "unchanged 12" in output
    assert state.writes() == [] and len(state.activations) == 1


def test_only_the_difference_is_written_and_foreign_data_kept(checkmk, account, rules):
    from hosts.models import Host

    account.custom_fields.create(name="keep_foreign_labels", value="true")
    make_hosts(3)
    checkmk.state.add_host(
        "host001.example.com", "/dc1", ipaddress="10.0.0.2", snmp_community="x", labels={"team": "ops"}
    )
    checkmk.state.folders["/dc1"] = {"attributes": {}, "etag": '"e"'}
    syncer("export-hosts", "monitor")
    taken_over = checkmk.state.hosts["host001.example.com"]
    assert taken_over["attributes"]["snmp_community"] == "x"  # set before Syncsite took it over: kept
    assert taken_over["attributes"]["labels"] == {"team": "ops", "os": "linux", OWNER: "monitor"}
    assert taken_over["folder"] == "/dc1/rack2"  # moved with If-Match

    host = Host.get_host("host002.example.com")
    labels = host.get_labels()
    labels["os"] = "bsd"
    host.update_host(labels)
    host.save()
    checkmk.state.requests.clear()
    syncer("export-hosts", "monitor")
    writes = checkmk.state.writes()
    assert writes == [
        ("PUT", "/domain-types/host_config/actions/bulk-update/invoke"),
        ("POST", "/domain-types/activation_run/actions/activate-changes/invoke"),
    ]
    update = [b for m, p, b in checkmk.state.bodies if "bulk-update" in p][-1]
    assert update == {
        "entries": [
            {"host_name": "host002.example.com", "update_attributes": {"labels": {"os": "bsd", OWNER: "monitor"}}}
        ]
    }


def test_foreign_labels_are_replaced_unless_the_account_keeps_them(checkmk, account, rules):
    make_hosts(1)
    checkmk.state.add_host("host000.example.com", "/dc1", ipaddress="10.0.0.1", labels={"team": "ops"})
    checkmk.state.folders["/dc1"] = {"attributes": {}, "etag": '"e"'}
    syncer("export-hosts", "monitor")
    assert checkmk.state.hosts["host000.example.com"]["attributes"]["labels"] == {"os": "linux", OWNER: "monitor"}


def test_dry_run_lists_changes_and_writes_nothing(checkmk, account, rules):
    make_hosts(2)
    output = syncer("export-hosts", "monitor", "--dry-run")
    assert "create host000.example.com" in output and "create host001.example.com" in output
    assert "create folder /dc1: {'tag_criticality': 'prod'}" in output and "create folder /dc1/rack2" in output
    assert checkmk.state.writes() == [] and checkmk.state.hosts == {}
    assert dict(last_log().details)["dry_run"] is True


def test_no_activate_leaves_changes_pending_and_activate_command_applies_them(checkmk, account, rules):
    make_hosts(1)
    syncer("export-hosts", "monitor", "--no-activate")
    assert checkmk.state.pending > 0 and checkmk.state.activations == {}
    output = syncer("activate", "monitor")
    assert len(checkmk.state.activations) == 1 and checkmk.state.pending == 0
    assert next(iter(checkmk.state.activations)) in output


def test_activation_limited_to_sites(checkmk, account, rules):
    account.custom_fields.create(name="activate_sites", value="central, remote1")
    make_hosts(1)
    syncer("export-hosts", "monitor")
    assert next(iter(checkmk.state.activations.values()))["sites"] == ["central", "remote1"]


def test_stale_hosts_deleted_within_the_limit(checkmk, account, rules):
    from hosts.models import Host

    make_hosts(8)
    syncer("export-hosts", "monitor")
    Host.objects.filter(hostname__in=["host000.example.com", "host001.example.com"]).delete()
    syncer("export-hosts", "monitor")
    assert "host000.example.com" not in checkmk.state.hosts and len(checkmk.state.hosts) == 6

    Host.objects.all().delete()  # 6 stale > delete_limit 5: none deleted, the run fails
    with pytest.raises(CommandError, match="exceed the delete limit 5"):
        syncer("export-hosts", "monitor")
    assert len(checkmk.state.hosts) == 6 and last_log().has_error


def host_to_move(state: CheckmkState) -> str:
    """One managed host in /dc1 that its rules put in /dc1/rack2: the export moves it. Returns its path."""
    make_hosts(1)
    state.folders["/dc1"] = {"attributes": {}, "etag": new_etag()}
    state.add_host("host000.example.com", "/dc1", ipaddress="10.0.0.1", labels={"os": "linux", OWNER: "monitor"})
    return "/objects/host_config/host000.example.com"


def test_a_stale_etag_is_read_again_and_the_edit_retried_once(checkmk, account, rules):
    state, path = checkmk.state, host_to_move(checkmk.state)
    # someone edits the host between Syncsite's read and its move
    state.after_read[path] = lambda: state.hosts["host000.example.com"].update(etag=new_etag())
    syncer("export-hosts", "monitor")
    moves = [r for r in state.requests if r == ("POST", path + "/actions/move/invoke")]
    assert len(moves) == 2  # 412, read again, retried
    assert state.hosts["host000.example.com"]["folder"] == "/dc1/rack2"


def test_a_second_stale_etag_fails_the_edit(checkmk, account, rules):
    state, path = checkmk.state, host_to_move(checkmk.state)

    def keep_editing() -> None:  # someone edits the host after every read
        state.hosts["host000.example.com"]["etag"] = new_etag()
        state.after_read[path] = keep_editing

    state.after_read[path] = keep_editing
    with pytest.raises(CommandError, match=r"host host000\.example\.com: move host .*: 412"):
        syncer("export-hosts", "monitor")


def test_a_host_in_a_folder_checkmk_will_not_create_is_named(checkmk, account, rules):
    from hosts.models import Host

    make_hosts(3)
    elsewhere = Host.get_host("host001.example.com")
    elsewhere.update_host({**elsewhere.get_labels(), "location": "lab"})
    elsewhere.save()
    checkmk.state.forbidden_folders.add("/lab")
    with pytest.raises(CommandError) as error:
        syncer("export-hosts", "monitor")
    message = str(error.value)
    assert "folder /lab: 403 You lack the permission" in message
    assert "host host001.example.com" in message and "could not be found" in message
    assert set(checkmk.state.hosts) == {"host000.example.com", "host002.example.com"}
    assert checkmk.state.activations == {}


def test_edits_without_if_match_are_refused(checkmk):
    import requests

    state = checkmk.state
    state.tag_groups["os"] = {"title": "os", "tags": ["linux"], "etag": '"x"'}
    auth = {"Authorization": f"Bearer {state.username} {state.secret}"}
    response = requests.put(
        f"{checkmk.url}/check_mk/api/1.0/objects/host_tag_group/os", json={}, headers=auth, timeout=5
    )
    assert response.status_code == 428 and response.json()["title"]
    state.pending = 1
    response = requests.post(
        f"{checkmk.url}/check_mk/api/1.0/domain-types/activation_run/actions/activate-changes/invoke",
        json={"redirect": False},
        headers=auth,
        timeout=5,
    )
    assert response.status_code == 428


def test_export_groups_creates_tag_groups_and_host_groups(checkmk, account, rules):
    make_hosts(2, tag_os="linux", hostgroup="web, db")
    checkmk.state.tag_groups["os"] = {"title": "os", "tags": ["bsd"], "etag": '"t"'}
    output = syncer("export-groups", "monitor")
    assert checkmk.state.tag_groups["os"]["tags"] == ["bsd", "linux"]
    sent = [b for m, p, b in checkmk.state.bodies if m == "PUT" and p == "/objects/host_tag_group/os"]
    assert sent == [{"tags": [{"id": "bsd", "title": "bsd"}, {"id": "linux", "title": "linux"}], "repair": True}]
    assert set(checkmk.state.host_groups) == {"web", "db"}
    assert "created 2" in output and "updated 1" in output
    checkmk.state.requests.clear()
    syncer("export-groups", "monitor")
    assert checkmk.state.writes() == []


def test_refused_host_is_named_others_sync_and_nothing_is_activated(checkmk, account, rules):
    from hosts.models import Host

    make_hosts(4)
    bad = Host.get_host("host002.example.com")
    bad.update_host({**bad.get_labels(), "ipaddress": "not an address!"})
    bad.save()
    with pytest.raises(CommandError) as error:
        syncer("export-hosts", "monitor")
    message = str(error.value)
    assert "host002.example.com" in message and "is not a valid IP address" in message and "ipaddress" in message
    assert set(checkmk.state.hosts) == {"host000.example.com", "host001.example.com", "host003.example.com"}
    assert checkmk.state.activations == {} and checkmk.state.pending > 0  # left pending
    log = last_log()
    assert log.has_error and any("host002.example.com" in str(v) for k, v in log.details if k == "error")


def test_host_checkmk_skips_is_named_with_its_message(checkmk, account, rules):
    """A bulk-create Checkmk applies in part (400 with ext.failed_hosts): the others stay created."""
    from hosts.models import Host

    checkmk.state.tag_groups["os"] = {"title": "os", "tags": ["linux"], "etag": '"t"'}
    make_hosts(3, tag_os="linux")
    odd = Host.get_host("host001.example.com")
    odd.update_host({**odd.get_labels(), "tag_os": "plan9"})
    odd.save()
    with pytest.raises(
        CommandError, match=r"host001.example.com: bulk-create refused: Validation failed: Invalid choice"
    ):
        syncer("export-hosts", "monitor")
    assert set(checkmk.state.hosts) == {"host000.example.com", "host002.example.com"}
    assert checkmk.state.activations == {}
    assert dict(last_log().details)["created"] == 2


def test_refused_host_activation_when_the_account_allows(checkmk, account, rules):
    from hosts.models import Host

    account.custom_fields.create(name="activate_on_error", value="true")
    make_hosts(2)
    bad = Host.get_host("host001.example.com")
    bad.update_host({**bad.get_labels(), "ipaddress": "bad address"})
    bad.save()
    with pytest.raises(CommandError):
        syncer("export-hosts", "monitor")
    assert len(checkmk.state.activations) == 1


def test_wrong_secret_and_unreachable_site_fail_the_run(checkmk, account, rules):
    make_hosts(1)
    account.password = "wrong"
    account.save()
    with pytest.raises(CommandError, match="401 Wrong credentials"):
        syncer("export-hosts", "monitor")
    assert last_log().has_error
    account.password = checkmk.state.secret
    account.address = "http://127.0.0.1:9/mysite"
    account.save()
    with pytest.raises(CommandError, match="unreachable"):
        syncer("export-hosts", "monitor")
    assert checkmk.state.hosts == {}


def test_inventorize_hosts_stores_service_labels_and_inventory_paths(checkmk, account, rules):
    from hosts.models import Host

    make_hosts(2)
    account.custom_fields.create(name="inventory_paths", value="hardware.cpu.model")
    checkmk.state.services = [
        {"host_name": "host000.example.com", "description": "CPU", "labels": {"cmk/os_family": "linux"}},
    ]
    checkmk.state.inventory = {
        "host001.example.com": {"Nodes": {"hardware": {"Nodes": {"cpu": {"Attributes": {"Pairs": {"model": "EPYC"}}}}}}}
    }
    syncer("inventorize-hosts", "monitor")
    assert Host.get_host("host000.example.com").get_inventory() == {"monitor__label_cmk/os_family": "linux"}
    assert Host.get_host("host001.example.com").get_inventory() == {"monitor__hardware.cpu.model": "EPYC"}


def test_the_cronjobs_are_registered():
    from hosts.cronjobs import registered_cronjobs

    names = set(registered_cronjobs())
    assert {
        "checkmk: export-hosts",
        "checkmk: export-groups",
        "checkmk: activate",
        "checkmk: inventorize-hosts",
    } <= names


def test_export_runs_as_a_cronjob(checkmk, account, rules):
    make_hosts(2)
    call_command("syncer", "run-cronjob", "checkmk: export-hosts", "--account", "monitor", stdout=io.StringIO())
    assert len(checkmk.state.hosts) == 2 and len(checkmk.state.activations) == 1


def test_state_defaults():
    assert CheckmkState().folders.keys() == {"/"}
