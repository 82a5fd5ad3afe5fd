"""hosts <-> NetBox against a real NetBox 4.4 (tests/hostsplugins/netbox_server.py starts it once per run).

Import: 500 devices and VMs created through NetBox's bulk API become hosts; 10 changed and 5 deleted on
each side, then a re-import restores NetBox's view. Export: 1,000 hosts become devices and VMs in bulk
calls; an unchanged re-export writes nothing; 10 changed and 5 deleted on each side, then a re-export
makes NetBox match Syncsite again. Both sides are compared field by field. Bad input: a wrong token, an
unreachable NetBox and NetBox's validation errors fail the run with NetBox's words, logged as failed.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.hostsplugins.netbox_server import NetboxServer, NetboxUnavailable, start_netbox
from tests.parallel import free_port, one_worker

pytestmark = [pytest.mark.django_db, pytest.mark.integration, pytest.mark.timeout(1200)]

DEVICES, VMS = 300, 200  # the import's 500 objects
EXPORTED, EXPORTED_VMS, WITH_IP = 1000, 200, 200


@pytest.fixture(scope="session")
@one_worker("netbox")
def netbox(tmp_path_factory) -> NetboxServer:
    ci = os.environ.get("CI") == "true"
    if ci and not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        pytest.skip("the NetBox tests run once per CI run, in its PostgreSQL pass")
    try:
        server = start_netbox(tmp_path_factory.mktemp("netbox"))
    except NetboxUnavailable as exc:
        if ci:
            pytest.fail(f"NetBox must run in CI's PostgreSQL pass but cannot start: {exc}")
        pytest.skip(f"NetBox cannot start: {exc}")
    yield server
    server.stop()


class Api:
    """The tests' own NetBox client (plain requests): builds fixtures and reads back what the export wrote."""

    def __init__(self, server: NetboxServer):
        self.base = server.url + "/api/"
        self.session = server.session()

    def _check(self, response: requests.Response) -> Any:
        assert response.ok, f"{response.request.method} {response.url}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = self.base + path
        params = {"limit": 1000, **params}
        while url:
            page = self._check(self.session.get(url, params=params))
            items.extend(page["results"])
            url, params = page["next"], {}
        return items

    def post(self, path: str, body: Any) -> Any:
        return self._check(self.session.post(self.base + path, json=body))

    def patch(self, path: str, body: Any) -> Any:
        return self._check(self.session.patch(self.base + path, json=body))

    def delete(self, path: str, ids: list[int]) -> None:
        self._check(self.session.delete(self.base + path, json=[{"id": pk} for pk in ids]))

    def one(self, path: str, **fields: Any) -> int:
        """The id of the object with these fields, created when missing."""
        found = self.all(path, **{key: value for key, value in fields.items() if isinstance(value, str)})
        return found[0]["id"] if found else self.post(path, fields)["id"]


def make_account(name: str, server_url: str, token: str, **fields: str):
    from hosts.models import Account

    account = Account.objects.create(name=name, type="netbox", address=server_url, password=token)
    for key, value in fields.items():
        account.custom_fields.create(name=key, value=value)
    return account


def syncer(*args: str) -> str:
    out = io.StringIO()
    call_command("syncer", "netbox", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def last_log(source: str):
    from hosts.models import LogEntry

    return LogEntry.objects.filter(source=source).order_by("-id").first()


def details(entry) -> dict[str, Any]:
    return dict(entry.details)


# --- import ----------------------------------------------------------------------------------------------------


def seed_import(api: Api) -> None:
    """500 objects through NetBox's bulk API: 300 devices (20 with a primary IPv4) and 200 VMs."""
    sites = [api.one("dcim/sites/", name=f"imp-site-{n}", slug=f"imp-site-{n}") for n in range(2)]
    role = api.one("dcim/device-roles/", name="imp-role", slug="imp-role")
    maker = api.one("dcim/manufacturers/", name="Acme", slug="acme")
    device_type = api.one("dcim/device-types/", model="Box 1", slug="box-1", manufacturer=maker)
    platform = api.one("dcim/platforms/", name="Linux", slug="linux")
    tenant = api.one("tenancy/tenants/", name="Tenant A", slug="tenant-a")
    tag = api.one("extras/tags/", name="Imported", slug="imported")
    api.one(
        "extras/custom-fields/",
        name="owner_team",
        type="text",
        object_types=["dcim.device", "virtualization.virtualmachine"],
    )
    cluster_type = api.one("virtualization/cluster-types/", name="KVM", slug="kvm")
    cluster = api.one("virtualization/clusters/", name="imp-cluster", type=cluster_type)
    devices = api.post(
        "dcim/devices/",
        [
            {
                "name": f"imp-dev-{n:03d}",
                "site": sites[n % 2],
                "role": role,
                "device_type": device_type,
                "platform": platform,
                "tenant": tenant if n % 3 == 0 else None,
                "status": "active" if n % 4 else "planned",
                "serial": f"SN{n:05d}",
                "tags": [tag],
                "custom_fields": {"owner_team": f"team{n % 5}"},
            }
            for n in range(DEVICES)
        ],
    )
    api.post(
        "virtualization/virtual-machines/",
        [
            {
                "name": f"imp-vm-{n:03d}",
                "cluster": cluster,
                "role": role,
                "platform": platform,
                "status": "active",
                "tags": [tag],
                "custom_fields": {"owner_team": "vms"},
            }
            for n in range(VMS)
        ],
    )
    interfaces = api.post(
        "dcim/interfaces/", [{"device": d["id"], "name": "eth0", "type": "1000base-t"} for d in devices[:20]]
    )
    ips = api.post(
        "ipam/ip-addresses/",
        [
            {"address": f"192.0.2.{n + 1}/24", "assigned_object_type": "dcim.interface", "assigned_object_id": i["id"]}
            for n, i in enumerate(interfaces)
        ],
    )
    api.patch(
        "dcim/devices/", [{"id": d["id"], "primary_ip4": ip["id"]} for d, ip in zip(devices[:20], ips, strict=True)]
    )


def expected_labels(item: dict[str, Any], kind: str) -> dict[str, Any]:
    """What a host imported from this NetBox object must carry, written out field by field."""
    labels: dict[str, Any] = {
        "nb_object_type": kind,
        "nb_id": item["id"],
        "nb_site": item["site"]["name"] if item.get("site") else None,
        "nb_role": item["role"]["name"],
        "nb_platform": item["platform"]["name"],
        "nb_tenant": item["tenant"]["name"] if item.get("tenant") else None,
        "nb_status": item["status"]["value"],
        "nb_tags": ",".join(sorted(tag["name"] for tag in item["tags"])),
        "nb_cf_owner_team": item["custom_fields"]["owner_team"],
    }
    for tag in item["tags"]:
        labels[f"nb_tag_{tag['slug']}"] = True
    if kind == "device":
        labels["nb_serial"] = item["serial"]
        labels["nb_device_type"] = item["device_type"]["model"]
        labels["nb_manufacturer"] = item["device_type"]["manufacturer"]["name"]
    else:
        labels["nb_cluster"] = item["cluster"]["name"]
    if item.get("primary_ip4"):
        labels["nb_primary_ip4"] = labels["nb_primary_ip"] = item["primary_ip4"]["address"].split("/")[0]
    return {key: value for key, value in labels.items() if value not in (None, "")}


def assert_hosts_match_netbox(api: Api) -> int:
    from hosts.models import Host

    objects = [(item, "device") for item in api.all("dcim/devices/", tag="imported")]
    objects += [(item, "vm") for item in api.all("virtualization/virtual-machines/", tag="imported")]
    hosts = {host.hostname: host.labels for host in Host.objects.filter(account__name="nb-in")}
    assert set(hosts) == {item["name"] for item, _ in objects}
    for item, kind in objects:
        assert hosts[item["name"]] == expected_labels(item, kind), item["name"]
    return len(objects)


def test_import_devices_and_vms_then_changes_on_both_sides(netbox):
    from hosts.models import Host

    api = Api(netbox)
    seed_import(api)
    make_account("nb-in", netbox.url, netbox.token, netbox_filter="tag=imported", delete_stale="true")
    output = syncer("import-hosts", "nb-in")
    assert "created 500" in output, output
    assert assert_hosts_match_netbox(api) == DEVICES + VMS
    entry = last_log("netbox_import")
    assert not entry.has_error and details(entry)["created"] == 500

    # NetBox side: 10 devices changed, 5 VMs deleted; Syncsite side: 10 hosts' labels edited
    devices = api.all("dcim/devices/", tag="imported")
    site = api.one("dcim/sites/", name="imp-site-new", slug="imp-site-new")
    api.patch(
        "dcim/devices/",
        [
            {"id": d["id"], "status": "offline", "site": site, "custom_fields": {"owner_team": "moved"}}
            for d in devices[:10]
        ],
    )
    vms = api.all("virtualization/virtual-machines/", tag="imported")
    api.delete("virtualization/virtual-machines/", [vm["id"] for vm in vms[:5]])
    for host in Host.objects.filter(hostname__in=[d["name"] for d in devices[-10:]]):
        host.update_host({**host.labels, "nb_status": "edited-in-syncsite", "extra": "x"})
        host.save()

    output = syncer("import-hosts", "nb-in")
    assert assert_hosts_match_netbox(api) == DEVICES + VMS - 5
    assert not Host.objects.filter(hostname__in=[vm["name"] for vm in vms[:5]]).exists()
    counts = details(last_log("netbox_import"))
    assert (counts["updated"], counts["deleted"]) == (20, 5), counts

    # on request: interfaces with their addresses, and the config context
    from hosts.models import Account

    api.post("extras/config-contexts/", {"name": "everywhere", "data": {"ntp": "10.0.0.1", "dns": ["a", "b"]}})
    account = Account.objects.get(name="nb-in")
    account.custom_fields.create(name="import_interfaces", value="true")
    account.custom_fields.create(name="import_config_context", value="true")
    syncer("import-hosts", "nb-in")
    labels = Host.objects.get(hostname=devices[0]["name"]).labels
    assert json.loads(labels["nb_interfaces"]) == [{"name": "eth0", "mac": None, "addresses": ["192.0.2.1/24"]}]
    assert (labels["nb_cc_ntp"], labels["nb_cc_dns"]) == ("10.0.0.1", '["a", "b"]')
    assert "nb_interfaces" not in Host.objects.get(hostname=vms[-1]["name"]).labels
    account.custom_fields.filter(name__in=["import_interfaces", "import_config_context"]).delete()

    # inventorize: the same data as inventory of the existing hosts, labels untouched
    syncer("inventorize-hosts", "nb-in")
    host = Host.objects.get(hostname=devices[0]["name"])
    assert host.get_inventory("nb-in__") == {
        f"nb-in__{key}": value
        for key, value in expected_labels(api.all("dcim/devices/", id=devices[0]["id"])[0], "device").items()
    }


# --- export ----------------------------------------------------------------------------------------------------


def export_labels(index: int) -> dict[str, str]:
    vm = index < EXPORTED_VMS
    labels = {
        "site": f"exp-site-{index % 3}",
        "role": "web" if index % 2 else "db",
        "platform": "debian",
        "status": "active",
        "tags": "prod,web" if index % 2 else "prod",
        "owner_team": f"team-{index % 4}",
    }
    if vm:
        labels.update(object_type="vm", cluster="exp-cluster")
    else:
        labels.update(manufacturer="Vendor", device_type=f"model-{index % 2}", serial=f"S{index:05d}")
    if index < WITH_IP:
        labels["ipv4"] = f"10.77.{index // 250}.{index % 250 + 1}"
    if index < 20:
        labels["ipv6"] = f"2001:db8::{index + 1:x}"
    return labels


def make_export_hosts() -> None:
    from hosts.models import Host

    Host.objects.bulk_create(
        [Host(hostname=f"exp-{index:04d}.example.com", labels=export_labels(index)) for index in range(EXPORTED)]
    )


def netbox_state(api: Api) -> dict[str, dict[str, Any]]:
    """Every object the export account owns, as the host labels it must equal."""
    state: dict[str, dict[str, Any]] = {}
    for path, kind in (("dcim/devices/", "device"), ("virtualization/virtual-machines/", "vm")):
        for item in api.all(path, tag="syncsite-nb-out"):
            labels = {
                "site": item["site"]["name"],
                "role": item["role"]["name"],
                "platform": item["platform"]["name"],
                "status": item["status"]["value"],
                "tags": ",".join(sorted(tag["name"] for tag in item["tags"] if tag["slug"] != "syncsite-nb-out")),
                "owner_team": item["custom_fields"]["owner_team"],
            }
            if kind == "vm":
                labels.update(object_type="vm", cluster=item["cluster"]["name"])
            else:
                labels.update(
                    manufacturer=item["device_type"]["manufacturer"]["name"],
                    device_type=item["device_type"]["model"],
                    serial=item["serial"],
                )
            for family in ("4", "6"):
                if item[f"primary_ip{family}"]:
                    labels[f"ipv{family}"] = str(ipaddress.ip_interface(item[f"primary_ip{family}"]["address"]).ip)
            state[item["name"]] = labels
    return state


def assert_netbox_matches_hosts(api: Api) -> None:
    from hosts.models import Host

    wanted = {}
    for host in Host.objects.all():
        labels = dict(host.labels)
        labels["tags"] = ",".join(sorted(labels["tags"].split(",")))
        wanted[host.hostname] = labels
    assert netbox_state(api) == wanted


def test_export_1000_hosts_in_bulk_then_nothing_then_the_difference(netbox):
    from hosts.models import Host

    api = Api(netbox)
    make_export_hosts()
    make_account(
        "nb-out",
        netbox.url,
        netbox.token,
        object_type_attribute="object_type",
        custom_fields="owner_team",
        delete_stale="true",
    )
    output = syncer("export-hosts", "nb-out")
    assert "created 1000" in output, output
    assert_netbox_matches_hosts(api)
    first = details(last_log("netbox_export"))
    writes = {key: n for key, n in first["requests"].items() if not key.startswith("GET ")}
    # at most one request per 100 objects per type: 800 devices, 200 VMs; the 200 hosts with addresses are
    # the VMs: 200 interfaces, 220 IP addresses, 200 primary-IP updates; one per kind of reference object
    bounds = {
        "POST dcim/devices": 8,
        "POST virtualization/virtual-machines": 2,
        "POST virtualization/interfaces": 2,
        "POST ipam/ip-addresses": 3,
        "PATCH virtualization/virtual-machines": 2,
    }
    assert all(n <= bounds.get(key, 1) for key, n in writes.items()), str(writes)
    assert writes["POST dcim/devices"] == 8 and writes["POST virtualization/virtual-machines"] == 2, writes

    syncer("export-hosts", "nb-out")
    again = details(last_log("netbox_export"))
    assert all(key.startswith("GET ") for key in again["requests"]), again["requests"]
    assert (again["created"], again["updated"], again["deleted"], again["unchanged"]) == (0, 0, 0, EXPORTED)

    # Syncsite side: 10 hosts changed (5 devices, 5 VMs), 5 deleted
    for index in [*range(0, 5), *range(300, 305)]:
        host = Host.objects.get(hostname=f"exp-{index:04d}.example.com")
        host.update_host({**host.labels, "status": "planned", "tags": "prod,changed", "ipv4": f"10.78.0.{index % 250}"})
        host.save()
    Host.objects.filter(hostname__in=[f"exp-{index:04d}.example.com" for index in range(900, 905)]).delete()
    # NetBox side: 10 devices changed, 5 deleted
    devices = {item["name"]: item for item in api.all("dcim/devices/", tag="syncsite-nb-out")}
    other = api.one("dcim/sites/", name="elsewhere", slug="elsewhere")
    api.patch(
        "dcim/devices/",
        [
            {"id": devices[f"exp-{index:04d}.example.com"]["id"], "site": other, "serial": "changed-in-netbox"}
            for index in range(400, 410)
        ],
    )
    api.delete("dcim/devices/", [devices[f"exp-{index:04d}.example.com"]["id"] for index in range(500, 505)])

    syncer("export-hosts", "nb-out", "--dry-run")
    dry = details(last_log("netbox_export"))
    assert (dry["created"], dry["updated"], dry["deleted"]) == (5, 20, 5)
    assert all(key.startswith("GET ") for key in dry["requests"]), dry["requests"]

    syncer("export-hosts", "nb-out")
    third = details(last_log("netbox_export"))
    assert (third["created"], third["updated"], third["deleted"], third["unchanged"]) == (5, 20, 5, EXPORTED - 30)
    assert_netbox_matches_hosts(api)


def test_stale_objects_set_offline_or_tagged_within_the_delete_limit(netbox):
    from hosts.models import Host

    api = Api(netbox)
    account = make_account(
        "nb-stale", netbox.url, netbox.token, delete_stale="true", stale_action="offline", delete_limit="2"
    )
    Host.objects.bulk_create([Host(hostname=f"stale-{n}.example.com", labels={"site": "stale-site"}) for n in range(5)])
    syncer("export-hosts", "nb-stale")

    def states() -> dict[str, tuple[str, list[str]]]:
        return {
            item["name"].split(".")[0]: (item["status"]["value"], sorted(tag["slug"] for tag in item["tags"]))
            for item in api.all("dcim/devices/", tag="syncsite-nb-stale")
        }

    Host.objects.filter(hostname__in=[f"stale-{n}.example.com" for n in range(3)]).delete()
    with pytest.raises(CommandError, match="3 stale objects exceed the delete limit 2"):
        syncer("export-hosts", "nb-stale")
    assert {status for status, _ in states().values()} == {"active"}
    syncer("export-hosts", "nb-stale", "--force-delete")
    assert {name: status for name, (status, _) in states().items()} == {
        "stale-0": "offline",
        "stale-1": "offline",
        "stale-2": "offline",
        "stale-3": "active",
        "stale-4": "active",
    }
    syncer("export-hosts", "nb-stale")  # already offline: nothing to write
    quiet = details(last_log("netbox_export"))
    assert all(key.startswith("GET ") for key in quiet["requests"]) and quiet["deleted"] == 0, quiet

    account.custom_fields.filter(name="stale_action").update(value="tag")
    account.custom_fields.filter(name="delete_limit").update(value="10")
    Host.objects.filter(hostname="stale-3.example.com").delete()
    syncer("export-hosts", "nb-stale")
    assert states()["stale-3"] == ("active", ["syncsite-nb-stale", "syncsite-stale"])
    Host.objects.create(hostname="stale-0.example.com", labels={"site": "stale-site"})  # back in Syncsite
    syncer("export-hosts", "nb-stale")
    assert states()["stale-0"] == ("active", ["syncsite-nb-stale"])


# --- bad input -------------------------------------------------------------------------------------------------


def test_wrong_token_and_unreachable_netbox_fail_the_run_and_change_nothing(netbox):
    from hosts.models import Host

    make_account("nb-bad", netbox.url, "0" * 40)
    Host.objects.create(hostname="keep.example.com", labels={"a": "b"})
    with pytest.raises(CommandError, match="list devices: 403 Invalid token"):
        syncer("import-hosts", "nb-bad")
    assert last_log("netbox_import").has_error
    with pytest.raises(CommandError, match="list devices: 403 Invalid token"):
        syncer("export-hosts", "nb-bad")
    entry = last_log("netbox_export")
    assert entry.has_error and "0" * 40 not in str(entry.details)
    make_account("nb-gone", f"http://127.0.0.1:{free_port()}", netbox.token)
    with pytest.raises(CommandError, match=r"NetBox at http://127\.0\.0\.1:\d+ unreachable"):
        syncer("import-hosts", "nb-gone")
    assert last_log("netbox_import").has_error
    assert list(Host.objects.values_list("hostname", "labels")) == [("keep.example.com", {"a": "b"})]


def test_netbox_validation_errors_name_the_object_and_the_rest_is_written(netbox):
    from hosts.models import Host

    api = Api(netbox)
    make_account("nb-val", netbox.url, netbox.token)
    Host.objects.bulk_create(
        [
            Host(hostname="val-ok-1.example.com", labels={"site": "val-site"}),
            Host(hostname="val-bad.example.com", labels={"site": "val-site", "status": "broken"}),
            Host(hostname="val-ok-2.example.com", labels={"site": "val-site"}),
            Host(hostname="x" * 70 + ".example.com", labels={"site": "val-site"}),
        ]
    )
    with pytest.raises(CommandError) as error:
        syncer("export-hosts", "nb-val")
    message = str(error.value)
    assert "device val-bad.example.com: create refused: status: " in message
    assert "is not a valid choice" in message
    assert "device " + "x" * 70 + ".example.com: create refused: name: " in message
    assert "no more than 64 characters" in message
    assert {item["name"] for item in api.all("dcim/devices/", tag="syncsite-nb-val")} == {
        "val-ok-1.example.com",
        "val-ok-2.example.com",
    }
    entry = last_log("netbox_export")
    assert entry.has_error and details(entry)["created"] == 2


def test_cronjobs_and_dry_run_import(netbox):
    from hosts.models import Host

    listed = call_command_output("list-cronjobs")
    assert all(f"netbox: {action}" in listed for action in ("import-hosts", "inventorize-hosts", "export-hosts"))
    make_account("nb-dry", netbox.url, netbox.token, netbox_filter="tag=imported")
    Api(netbox).one("extras/tags/", name="Imported", slug="imported")
    output = syncer("import-hosts", "nb-dry", "--dry-run")
    assert output.startswith("dry run:")
    assert not Host.objects.exists()


def call_command_output(*args: str) -> str:
    out = io.StringIO()
    call_command("syncer", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_admin_actions_queue_the_jobs_of_the_accounts_type(admin_client, django_capture_on_commit_callbacks):
    """No NetBox needed: the queued job runs (inline in tests) against a closed port and fails, recorded."""
    from hosts.models import Account, CronjobRun

    netbox = make_account("nb-admin", f"http://127.0.0.1:{free_port()}", "t" * 40)
    other = Account.objects.create(name="csv-admin", type="csv")
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(
            "/admin/hosts/account/",
            {"action": "queue_export_hosts", "_selected_action": [netbox.pk, other.pk]},
            follow=True,
        )
    text = response.content.decode().lower()  # the admin capitalises messages
    assert "nb-admin: netbox: export-hosts queued" in text
    assert "csv-admin: accounts of type &#x27;csv&#x27; have no export-hosts job" in text
    assert len(queued) == 1
    with pytest.raises(ValueError, match="unreachable"):  # django-q runs it inline here and re-raises
        queued[0]()
    run = CronjobRun.objects.get(job="netbox: export-hosts", account="nb-admin")
    assert run.status == CronjobRun.FAILED and "unreachable" in run.log + run.traceback
    assert "t" * 40 not in run.log + run.traceback
