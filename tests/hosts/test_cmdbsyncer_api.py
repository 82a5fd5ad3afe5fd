"""cmdbsyncer's API as plugins use it: the click group, app.cli/app.config, get_import_hosts,
run_inventory's account options, import_filter, request headers and proxy, child accounts."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hosts.jinja import render_jinja, template_renderer
from hosts.models import Account, Host, LogEntry
from syncerapi.v1 import get_account, get_import_hosts, update_import_host
from syncerapi.v1.core import Plugin, app, app_config, cli
from syncerapi.v1.importing import apply_account_rules, import_hostnames, record_wanted
from syncerapi.v1.inventory import inventorize_host, run_inventory

STORE = "{{ [HOSTNAME, HOSTNAME | replace('HVL01', 'RTR01'), HOSTNAME | replace('HVL01', 'SW01')] }}"

# --- the click group ------------------------------------------------------------------------------------------


@pytest.fixture
def vmware_group():
    @cli.group(name="vmware")
    def vmware():
        """VMware commands"""

    calls = []

    @vmware.command("import_vms")
    @click.argument("account")
    @click.option("--debug", is_flag=True)
    def import_vms(account, debug):
        """Import the VMs"""
        calls.append((account, debug))
        click.echo(f"imported for {account}")

    @cli.command("top_level_thing")
    @click.option("--count", type=int, default=1)
    def top_level_thing(count):
        calls.append(count)

    yield calls
    cli.remove("vmware")
    cli.remove("top_level_thing")


def test_click_groups_and_commands_run_under_both_spellings(vmware_group, capsys):
    call_command("syncer", "vmware", "import_vms", "acc", "--debug")
    call_command("syncer", "vmware", "import-vms", "acc2")
    call_command("hosts", "top-level-thing", "--count", "3")
    call_command("syncer", "top_level_thing")
    assert vmware_group == [("acc", True), ("acc2", False), 3, 1]
    assert "imported for acc" in capsys.readouterr().out
    assert "vmware" in cli and "top-level-thing" in cli and "top_level_thing" in cli

    with pytest.raises(CommandError, match="Missing argument 'ACCOUNT'") as error:
        call_command("syncer", "vmware", "import_vms")
    assert error.value.returncode == 2
    with pytest.raises(CommandError, match="No such command"):
        call_command("syncer", "vmware", "nothing")


def test_help_lists_one_spelling(vmware_group, capsys):
    from hosts.cli import run

    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "top_level_thing" in out and "top-level-thing" not in out  # as registered
    assert "debug-rules" in out and "debug-host" not in out  # an alias is not listed


def test_add_command_takes_clicks_form_and_the_argparse_form():
    @click.command()
    @click.argument("path")
    def plain_click(path):
        click.echo(f"click {path}")

    cli.add_command(plain_click, "plain-click")
    cli.add_command(
        "plain-argparse", lambda path, n=1: f"argparse {path} {n}", "x", [(("path",), {}), (("-n",), {"type": int})]
    )
    try:
        out = io.StringIO()
        call_command("syncer", "plain_argparse", "/a", "-n", "4", stdout=out)
        assert out.getvalue().strip() == "argparse /a 4"
        assert "plain-click" in cli
    finally:
        cli.remove("plain-click")
        cli.remove("plain-argparse")


def test_app_offers_cli_and_config_and_stays_djangos_registry():
    assert app.cli is cli
    assert app.config is app_config and app.config["TIME_ZONE"]
    assert app.get_app_config("hosts").name == "hosts"
    assert app.get_model("hosts", "Host") is Host


@pytest.mark.django_db
def test_a_raising_click_command_is_a_command_error_and_a_failed_log():
    @cli.command("explode")
    def explode():
        raise RuntimeError("kaboom")

    try:
        with pytest.raises(CommandError, match="RuntimeError: kaboom"):
            call_command("syncer", "explode")
        entry = LogEntry.objects.get(source="cli")
        assert entry.has_error and entry.name == "manage.py syncer explode"
    finally:
        cli.remove("explode")


# --- get_import_hosts -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_get_import_hosts_rewrites_once_and_a_list_gives_several_hosts():
    Host.objects.create(hostname="store1-rtr01")
    pairs = get_import_hosts("STORE1-HVL01", {"rewrite_hostname": STORE}, {"site": "x"})
    assert [name for name, _ in pairs] == ["store1-hvl01", "store1-rtr01", "store1-sw01"]
    assert pairs[1][1].pk is not None and pairs[0][1].pk is None  # existing, new (unsaved)

    assert [
        n for n, _ in get_import_hosts("web01", {"rewrite_hostname": "{{ HOSTNAME }}.{{ dom }}"}, {"dom": "lan"})
    ] == ["web01.lan"]
    assert [n for n, _ in get_import_hosts("Web01", {}, {})] == ["web01"]
    assert get_import_hosts("x", {"rewrite_hostname": "{{ [] }}"}, {}) == []
    assert get_import_hosts("gone", {}, {}, create=False) == [("gone", False)]

    account = Account.objects.create(name="stores")
    for _name, host in get_import_hosts("STORE2-HVL01", {"rewrite_hostname": STORE}, {}):
        assert update_import_host(host, {"Site": "s2"}, get_account("stores"))
    assert set(Host.objects.filter(account=account).values_list("hostname", flat=True)) == {
        "store2-hvl01",
        "store2-rtr01",
        "store2-sw01",
    }


def test_import_filter_takes_matching_records():
    config = {"import_filter": "os:linux,os:bsd*,site:dc1"}
    assert record_wanted(config, "a", {"OS": "Linux", "site": "DC1"})
    assert record_wanted(config, "a", {"os": "bsd13", "site": "dc1"})
    assert not record_wanted(config, "a", {"os": "windows", "site": "dc1"})
    assert not record_wanted(config, "a", {"os": "linux"})
    assert record_wanted({"import_filter": "web"}, "web01", {}) and not record_wanted(
        {"import_filter": "web"}, "db01", {}
    )
    assert record_wanted({}, "anything", {})
    rows, dropped = apply_account_rules(
        [("a-HVL01", {"os": "linux"}), ("b", {"os": "win"})], {"import_filter": "os:linux", "rewrite_hostname": STORE}
    )
    assert dropped == 1 and [name for name, _ in rows] == ["a-hvl01", "a-rtr01", "a-sw01"]


@pytest.mark.parametrize(
    "template",
    [
        STORE,
        "{{ HOSTNAME | lower }}.{{ site }}",
        "{% for i in range(2) %}{{ i }}{% endfor %}-{{ HOSTNAME }}",  # a global of the environment
        "{{ missing }}{{ HOSTNAME }}",
        "plain-name",
        None,
    ],
)
def test_the_per_run_renderer_renders_as_render_jinja(template):
    render = template_renderer(template)
    for variables in ({"HOSTNAME": "Web01", "site": "dc1"}, {"HOSTNAME": "x-HVL01", "site": "dc2", "OS Name": "l"}):
        assert render(variables) == render_jinja(template, **variables)
        assert render(variables) == render(variables)  # no state carried from one record to the next


@pytest.mark.parametrize("template", ["{{ missing.attr }}", "{{ HOSTNAME ", "{{ HOSTNAME | nosuchfilter }}"])
def test_the_per_run_renderer_fails_as_render_jinja(template):
    with pytest.raises(ValueError, match="Jinja template") as expected:
        render_jinja(template, HOSTNAME="a")
    render = template_renderer(template)  # a broken template fails when rendered, not when prepared
    with pytest.raises(ValueError) as got:
        render({"HOSTNAME": "a"})
    assert str(got.value) == str(expected.value)


def test_account_rules_over_a_run_give_what_get_import_hosts_gives_per_record():
    config = {"rewrite_hostname": "{{ HOSTNAME | replace('.example.com', '.' ~ site ~ '.example.com') }}"}
    rows = [(f"Bulk{i}.example.com", {"site": f"dc{i % 3}"}) for i in range(6)] + [("bad name", {"site": "x y"})]
    result, dropped = apply_account_rules(rows, config)
    assert dropped == 0
    assert [name for name, _ in result] == [f"bulk{i}.dc{i % 3}.example.com" for i in range(6)]
    assert all(labels is rows[i][1] for i, (_name, labels) in enumerate(result))  # the record's own labels
    assert [name for hostname, labels in rows for name in import_hostnames(hostname, config, labels)] == [
        name for name, _ in result
    ]


@pytest.mark.django_db
def test_builtin_csv_import_honours_rewrite_hostname_and_import_filter(tmp_path):
    source = tmp_path / "hosts.csv"
    source.write_text("host,os\nshop1-HVL01,linux\nshop2-HVL01,windows\n")
    account = Account.objects.create(name="shops", type="csv", address=str(source))
    account.custom_fields.create(name="rewrite_hostname", value=STORE)
    account.custom_fields.create(name="import_filter", value="os:linux")
    call_command("hosts", "import-csv", "--account", "shops", stdout=io.StringIO())
    assert sorted(Host.objects.values_list("hostname", flat=True)) == ["shop1-hvl01", "shop1-rtr01", "shop1-sw01"]
    assert Host.objects.get(hostname="shop1-sw01").labels == {"os": "linux"}


# --- run_inventory / inventorize_host -------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_inventory_with_cmdbsyncers_options():
    for name in ("srv1.example.com", "srv1.other.org", "esx1", "vm1", "vm2"):
        Host.objects.create(hostname=name)
    config = {"name": "vc", "inventorize_key": "vc", "inventorize_match_by_domain": True}
    stats = run_inventory(config, [("srv1", {"ram": 8})], sub_key="hw")  # no host name ends with it
    assert stats["not_found"] == ["srv1"]
    run_inventory(config, [("example.com", {"ram": 8})], sub_key="hw")
    assert Host.objects.get(hostname="srv1.example.com").inventory == {"vc_hw__ram": 8}
    assert Host.objects.get(hostname="srv1.other.org").inventory == {}

    collect = {
        "name": "vc",
        "inventorize_key": "vm",
        "inventorize_collect_by_key": "esx",
        "inventorize_rewrite_collect_by_key": "{{ esx | lower }}",
        "rewrite_hostname": "{{ HOSTNAME | lower }}",
    }
    stats = run_inventory(collect, [("VM1", {"esx": "ESX1"}), ("VM2", {"esx": "ESX1"}), ("esx1", ["nic0"])])
    assert stats["updated"] == 3 and stats["collections"] == 1
    esx = Host.objects.get(hostname="esx1")
    assert esx.inventory == {"vm__list": ["nic0"], "vm_collection__0": "vm1", "vm_collection__1": "vm2"}
    assert Host.objects.get(hostname="vm1").inventory == {"vm__esx": "ESX1"}

    host = Host.get_host("vm2", create=False)
    assert inventorize_host(host, {"a": 1}, "manual", config) is True
    assert Host.objects.get(hostname="vm2").inventory["manual__a"] == 1
    assert inventorize_host(host, {"a": 1}, "manual", config) is False
    assert inventorize_host(False, {"a": 1}, "manual", config) is None


# --- accounts: headers, proxy, parents ------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        _Recorder.requests.append((self.path, dict(self.headers)))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def recorder():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.requests = []
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.mark.django_db
def test_inner_request_sends_the_accounts_headers_through_its_proxy(recorder, tmp_path):
    parent = Account.objects.create(name="corp", type="http", address="http://api.example.invalid", password="pw1")
    parent.custom_fields.create(name="request_headers", value="{'X-Tenant': 'corp', 'X-Api-Version': '2'}")
    parent.custom_fields.create(name="proxy", value=f"http://{recorder}")
    child = Account.objects.create(name="corp-eu", parent=parent)
    child.custom_fields.create(name="request_headers", value='{"X-Tenant": "eu"}')

    config = get_account("corp-eu")
    assert config["address"] == "http://api.example.invalid" and config["password"] == "pw1"
    assert config["type"] == "http" and config["parent"] == "corp" and config["name"] == "corp-eu"

    plugin = Plugin("corp-eu")
    plugin.save_requests = str(tmp_path / "dump.jsonl")
    response = plugin.inner_request("GET", "http://api.example.invalid/hosts", headers={"X-Call": "1"})
    plugin.discard()
    assert response.status_code == 200
    path, headers = _Recorder.requests[-1]
    assert path == "http://api.example.invalid/hosts"  # went through the proxy
    assert headers["X-Tenant"] == "eu" and headers["X-Call"] == "1" and "X-Api-Version" not in headers
    assert json.loads((tmp_path / "dump.jsonl").read_text())["proxies"]["http"] == f"http://{recorder}"

    Account.objects.filter(pk=child.pk).update(parent=None)
    child.custom_fields.filter(name="request_headers").update(value="not a dict")
    with pytest.raises(ValueError, match="request_headers must be a JSON object"):
        Plugin("corp-eu").inner_request("GET", "http://api.example.invalid/")


def test_exit_codes_propagate_and_return_values_are_printed(capsys):
    from hosts.cli import run

    @cli.command("exit-three")
    @click.pass_context
    def exit_three(ctx):
        ctx.exit(3)

    @cli.command("count-things", help="returns a number")
    def count_things():
        return 0

    try:
        assert run(["exit_three"]) == 3
        assert run(["count-things"]) == 0 and capsys.readouterr().out == "0\n"
        assert run(["count-things", "--help"]) == 0 and "returns a number" in capsys.readouterr().out
        err = io.StringIO()
        assert run(["count-things", "--bogus"], stderr=err) == 2 and "No such option '--bogus'" in err.getvalue()
    finally:
        cli.remove("exit-three")
        cli.remove("count-things")
