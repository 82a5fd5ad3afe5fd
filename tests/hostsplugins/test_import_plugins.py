"""Import plugins end to end: real files and a real HTTP server, through `manage.py hosts ...`."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from hosts.models import Host, LogEntry
from tests.conftest import free_port

from .conftest import PASSWORD, TOKEN, USERNAME

pytestmark = pytest.mark.django_db

CSV = "host,OS Name,site\nweb1.example.com,linux,dc1\nDB1,bsd,dc2\napp1,linux,dc1\n"


def details(entry: LogEntry) -> dict:
    return dict(entry.details)


def write(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content)
    return str(path)


def test_csv_import_creates_normalised_hosts_and_logs_counts(tmp_path, make_account, run_command):
    account = make_account("csvsrc", address=write(tmp_path, "hosts.csv", CSV))
    out, _ = run_command("import-csv", "--account", "csvsrc")
    assert "created 3, updated 0, unchanged 0, skipped 0" in out
    db1 = Host.objects.get(hostname="db1")
    assert db1.labels == {"os_name": "bsd", "site": "dc2"}
    assert db1.account == account
    assert db1.last_import_seen and db1.last_import_sync and not db1.stale
    entry = LogEntry.objects.get(source="csv_import")
    assert not entry.has_error
    assert details(entry) | {"created": 3, "updated": 0, "unchanged": 0, "skipped": 0, "stale": 0} == details(entry)
    assert details(entry)["account"] == "csvsrc"


def test_reimport_counts_changes_and_marks_missing_hosts_stale(tmp_path, make_account, run_command):
    path = write(tmp_path, "hosts.csv", CSV)
    make_account("csvsrc", address=path)
    run_command("import-csv", "--account", "csvsrc")
    synced = Host.objects.get(hostname="app1").last_import_sync
    out, _ = run_command("import-csv", "--account", "csvsrc")
    assert "created 0, updated 0, unchanged 3" in out
    assert Host.objects.get(hostname="app1").last_import_sync == synced

    write(tmp_path, "hosts.csv", "host,OS Name,site\nweb1.example.com,linux,dc9\nDB1,bsd,dc2\n")
    out, _ = run_command("import-csv", "--account", "csvsrc")
    assert "created 0, updated 1, unchanged 1, skipped 0, stale 1, deleted 0" in out
    assert Host.objects.get(hostname="app1").stale is True
    assert Host.objects.get(hostname="web1.example.com").labels["site"] == "dc9"
    assert Host.objects.filter(stale=True).count() == 1

    write(tmp_path, "hosts.csv", CSV)
    run_command("import-csv", "--account", "csvsrc")
    assert not Host.objects.filter(stale=True).exists()


def test_stale_hosts_are_deleted_only_when_the_account_says_so_and_within_the_limit(
    tmp_path, make_account, run_command
):
    path = write(tmp_path, "hosts.csv", CSV)
    make_account("csvsrc", address=path, delete_stale="true", delete_limit=1)
    run_command("import-csv", "--account", "csvsrc")
    write(tmp_path, "hosts.csv", "host,OS Name,site\nweb1.example.com,linux,dc1\n")
    with pytest.raises(
        CommandError, match=r"2 stale hosts exceed the delete limit 1 of account 'csvsrc': none deleted"
    ):
        run_command("import-csv", "--account", "csvsrc")
    assert Host.objects.count() == 3
    assert LogEntry.objects.filter(source="csv_import").first().has_error
    out, _ = run_command("import-csv", "--account", "csvsrc", "--force-delete")
    assert "stale 2, deleted 2" in out
    assert list(Host.objects.values_list("hostname", flat=True)) == ["web1.example.com"]


def test_hosts_of_a_master_account_or_locked_hosts_are_skipped(tmp_path, make_account, run_command):
    master = make_account("cmdb", is_master=True)
    Host.objects.create(hostname="db1", account=master, labels={"owner": "cmdb"})
    Host.objects.create(hostname="app1", locked=True, labels={"owner": "nobody"})
    make_account("csvsrc", address=write(tmp_path, "hosts.csv", CSV))
    out, _ = run_command("import-csv", "--account", "csvsrc")
    assert "created 1, updated 0, unchanged 0, skipped 2" in out
    assert Host.objects.get(hostname="db1").labels == {"owner": "cmdb"}
    assert Host.objects.get(hostname="app1").account is None


def test_an_account_takes_over_a_host_of_another_ordinary_account(tmp_path, make_account, run_command):
    other = make_account("other")
    Host.objects.create(hostname="db1", account=other, labels={"os_name": "bsd", "site": "dc2"})
    make_account("csvsrc", address=write(tmp_path, "hosts.csv", CSV))
    out, _ = run_command("import-csv", "--account", "csvsrc")
    assert "created 2, updated 1, unchanged 0" in out
    host = Host.objects.get(hostname="db1")
    assert host.account.name == "csvsrc"
    assert host.log[0]["message"] == "account changed from other to csvsrc"


def test_csv_options_on_the_command_line(tmp_path, make_account, run_command):
    path = tmp_path / "hosts.csv"
    path.write_bytes("name;Stadt\nsrv1;Köln\n".encode("latin-1"))
    make_account("csvsrc")
    run_command(
        "import-csv", "--account", "csvsrc", "--address", str(path), "--delimiter", ";",
        "--hostname-field", "name", "--encoding", "latin-1",
    )  # fmt: skip
    assert Host.objects.get(hostname="srv1").labels == {"stadt": "Köln"}


def test_dry_run_writes_nothing(tmp_path, make_account, run_command):
    make_account("csvsrc", address=write(tmp_path, "hosts.csv", CSV))
    out, _ = run_command("import-csv", "--account", "csvsrc", "--dry-run")
    assert out.startswith("dry run: created 3")
    assert not Host.objects.exists()
    assert not LogEntry.objects.exists()


def test_dry_run_counts_what_would_become_stale(tmp_path, make_account, run_command):
    make_account("csvsrc", address=write(tmp_path, "hosts.csv", CSV))
    run_command("import-csv", "--account", "csvsrc")
    write(tmp_path, "hosts.csv", "host,OS Name,site\napp1,linux,dc1\n")
    out, _ = run_command("import-csv", "--account", "csvsrc", "--dry-run")
    assert "unchanged 1, skipped 0, stale 2" in out
    assert not Host.objects.filter(stale=True).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("host,os\nweb1,linux\nweb2,linux,extra\n", "line 3: 3 fields, the header has 2"),
        ("name,os\nweb1,linux\n", "no hostname column 'host' in the header (columns: name, os"),
        ("host,os\nweb1,linux\nbad name,linux\n", "line 3 column 'host': invalid hostname 'bad name'"),
        ('host,os\nweb1,"linux\n', "malformed CSV"),
    ],
)
def test_bad_csv_fails_cleanly(tmp_path, make_account, run_command, content, message):
    make_account("csvsrc", address=write(tmp_path, "bad.csv", content))
    with pytest.raises(CommandError) as caught:
        run_command("import-csv", "--account", "csvsrc")
    assert message in str(caught.value)
    assert not Host.objects.exists()
    entry = LogEntry.objects.get(source="csv_import")
    assert entry.has_error
    assert message in details(entry)["error"]


def test_unknown_account_is_a_command_error(run_command, db):
    with pytest.raises(CommandError, match="account 'nope' does not exist or is disabled"):
        run_command("import-csv", "--account", "nope")


def test_missing_account_option_is_refused(run_command, db):
    with pytest.raises(CommandError, match="--account"):
        run_command("import-csv")


def test_json_file_import_with_data_key(tmp_path, make_account, run_command):
    document = {"result": {"items": [{"fqdn": "a1.example.com", "Role": "web"}, {"fqdn": "a2", "Role": "db"}]}}
    make_account("jsonsrc", address=write(tmp_path, "hosts.json", json.dumps(document)), hostname_field="fqdn")
    out, _ = run_command("import-json", "--account", "jsonsrc", "--data-key", "result.items")
    assert "created 2" in out
    assert Host.objects.get(hostname="a2").labels == {"role": "db"}


def test_bad_json_fails_cleanly(tmp_path, make_account, run_command):
    make_account("jsonsrc", address=write(tmp_path, "hosts.json", '[{"hostname": "a1"}, {"hostname": "a2",}]'))
    with pytest.raises(CommandError, match=r"line 1 column 40: malformed JSON"):
        run_command("import-json", "--account", "jsonsrc")
    assert not Host.objects.exists()
    assert LogEntry.objects.get(source="json_import").has_error


def test_yaml_import_of_groups(tmp_path, make_account, run_command):
    content = "web:\n  vars: {env: prod}\n  hosts:\n    web1: {role: frontend}\ndb:\n  hosts: [db1, web1]\n"
    make_account("yamlsrc", address=write(tmp_path, "inventory.yml", content))
    out, _ = run_command("import-yaml", "--account", "yamlsrc", "--group-label", "ansible_group")
    assert "created 2" in out
    assert Host.objects.get(hostname="web1").labels == {"env": "prod", "role": "frontend", "ansible_group": "db,web"}


def test_bad_yaml_fails_cleanly(tmp_path, make_account, run_command):
    make_account("yamlsrc", address=write(tmp_path, "inventory.yml", "web:\n  hosts: [a1\n"))
    with pytest.raises(CommandError, match="malformed YAML"):
        run_command("import-yaml", "--account", "yamlsrc")
    assert LogEntry.objects.get(source="yaml_import").has_error


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("open", {}),
        ("basic", {"username": USERNAME, "password": PASSWORD}),
        ("digest", {"username": USERNAME, "password": PASSWORD, "auth_type": "digest"}),
        ("token", {"password": TOKEN, "auth_type": "token"}),
    ],
)
def test_http_import_with_each_auth_and_data_key(source_server, make_account, run_command, kind, fields):
    source_server.documents["hosts.json"] = {"data": {"hosts": [{"hostname": "h1", "os": "linux"}, {"hostname": "h2"}]}}
    username, password = fields.pop("username", ""), fields.pop("password", "")
    make_account(
        "httpsrc", address=source_server.url(f"/{kind}/hosts.json"), username=username, password=password,
        data_key="data.hosts", **fields,
    )  # fmt: skip
    out, _ = run_command("import-http", "--account", "httpsrc")
    assert "created 2" in out
    assert Host.objects.get(hostname="h1").labels == {"os": "linux"}
    entry = LogEntry.objects.get(source="http_import")
    assert not entry.has_error
    assert PASSWORD not in json.dumps(entry.details) and TOKEN not in json.dumps(entry.details)


def test_http_import_with_wrong_password_fails_cleanly(source_server, make_account, run_command):
    source_server.documents["hosts.json"] = [{"hostname": "h1"}]
    make_account("httpsrc", address=source_server.url("/basic/hosts.json"), username=USERNAME, password="wrong")
    with pytest.raises(CommandError, match="HTTP 401 Unauthorized: the source refused the credentials"):
        run_command("import-http", "--account", "httpsrc")
    assert not Host.objects.exists()


def test_credentials_in_the_url_never_reach_the_log(source_server, make_account, run_command):
    source_server.documents["hosts.json"] = [{"hostname": "h1"}]
    url = source_server.url("/basic/hosts.json").replace("http://", f"http://{USERNAME}:{PASSWORD}@")
    make_account("httpsrc", address=url)
    run_command("import-http", "--account", "httpsrc", "--auth-type", "none")
    entry = LogEntry.objects.get(source="http_import")
    assert PASSWORD not in json.dumps(entry.details)
    assert details(entry)["source"] == source_server.url("/basic/hosts.json")


def test_http_500_fails_cleanly(source_server, make_account, run_command):
    make_account("httpsrc", address=source_server.url("/error"))
    with pytest.raises(CommandError, match="HTTP 500 Internal Server Error: internal error: database is down"):
        run_command("import-http", "--account", "httpsrc")
    entry = LogEntry.objects.get(source="http_import")
    assert entry.has_error and "HTTP 500" in details(entry)["error"]
    assert not Host.objects.exists()


def test_http_unreachable_fails_cleanly(settings, make_account, run_command):
    settings.HOSTS_HTTP_MAX_RETRIES = 1
    settings.HOSTS_HTTP_BACKOFF_FACTOR = 0.01
    make_account("httpsrc", address=f"http://127.0.0.1:{free_port()}/hosts.json")
    with pytest.raises(CommandError, match=r"unreachable \(.*[Cc]onnection refused"):
        run_command("import-http", "--account", "httpsrc")
    assert LogEntry.objects.get(source="http_import").has_error


def test_http_missing_data_key_fails_cleanly(source_server, make_account, run_command):
    source_server.documents["hosts.json"] = {"data": []}
    make_account("httpsrc", address=source_server.url("/open/hosts.json"), data_key="data.hosts")
    with pytest.raises(CommandError, match=r"data_key .data\.hosts. not found: data is a list, not an object"):
        run_command("import-http", "--account", "httpsrc")


def test_inventorize_csv_and_json_store_sections_on_existing_hosts(tmp_path, make_account, run_command):
    Host.objects.create(hostname="web1", labels={"os": "linux"}, inventory={"other__x": 1})
    make_account("hw", address=write(tmp_path, "hw.csv", "host,serial,ram\nweb1,ABC,16\nunknown1,DEF,8\n"))
    out, _ = run_command("inventorize-csv", "--account", "hw")
    assert "created 0, updated 1, unchanged 0, skipped 1" in out
    assert Host.objects.get(hostname="web1").inventory == {"other__x": 1, "hw__serial": "ABC", "hw__ram": "16"}
    assert Host.objects.count() == 1
    make_account("facts", address=write(tmp_path, "facts.json", '{"web1": {"kernel": "6.1"}}'), inventorize_key="os")
    run_command("inventorize-json", "--account", "facts")
    web1 = Host.objects.get(hostname="web1")
    assert web1.inventory["os__kernel"] == "6.1" and web1.labels == {"os": "linux"}
    out, _ = run_command("inventorize-json", "--account", "facts")
    assert "unchanged 1" in out


def test_import_cronjob_runs_through_the_cronjob_runner(tmp_path, make_account):
    from hosts.cronjobs import registered_cronjobs, run_cronjob
    from hosts.models import CronjobRun

    assert {"hosts: import-csv", "hosts: import-http", "hosts: inventorize-json"} <= set(registered_cronjobs())
    make_account("csvsrc", address=write(tmp_path, "hosts.csv", CSV))
    run_cronjob("hosts: import-csv", account="csvsrc")
    assert Host.objects.count() == 3
    run = CronjobRun.objects.get(job="hosts: import-csv")
    assert run.status == CronjobRun.SUCCESS and run.account == "csvsrc"


def test_failing_import_cronjob_is_recorded_as_failed(tmp_path, make_account):
    from hosts.cronjobs import run_cronjob
    from hosts.models import CronjobRun

    make_account("csvsrc", address=write(tmp_path, "bad.csv", "name\nx\n"))
    with pytest.raises(ValueError, match="no hostname column"):
        run_cronjob("hosts: import-csv", account="csvsrc")
    run = CronjobRun.objects.get(job="hosts: import-csv")
    assert run.status == CronjobRun.FAILED and "no hostname column" in run.traceback
