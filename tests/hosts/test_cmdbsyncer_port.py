"""The "Porting a cmdbsyncer plugin" example of docs/plugins.md runs as written: as functions, and as
`manage.py syncer assetdb ...` processes, against a local HTTPS server with a self-signed certificate."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from hosts import cronjobs
from hosts.models import Account, Host, LogEntry
from syncthing_bridge.localdaemon import write_gui_certificate

from .conftest import doc_plugin_source, loaded_plugin

# The ported plugin calls its HTTPS API with verify=False, as cmdbsyncer plugins do: the warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
MODULE = "assetdb_plugin"

RECORDS = [
    {"name": "Web01", "labels": {"OS": "linux", "site": "dc1"}, "hardware": {"serial": "S-1", "ram": 16}},
    {"name": "db01", "labels": {"OS": "bsd", "site": "dc2"}, "hardware": {"serial": "S-2", "ram": 64}},
    {"name": "switch01", "labels": {"OS": "ios"}, "hardware": ["port1", "port2"]},
]


def example_source() -> str:
    return doc_plugin_source("cmdbsyncer-plugin")


class AssetHandler(BaseHTTPRequestHandler):
    seen_headers: list[dict[str, str]] = []

    def do_GET(self) -> None:
        AssetHandler.seen_headers.append(dict(self.headers))
        body = json.dumps(RECORDS).encode() if self.path == "/api/hosts" else b"{}"
        self.send_response(200 if self.path == "/api/hosts" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    write_gui_certificate(directory)  # a self-signed certificate for 127.0.0.1
    cert_file, key_file = directory / "https-cert.pem", directory / "https-key.pem"
    server = ThreadingHTTPServer(("127.0.0.1", 0), AssetHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def example_plugin(tmp_path, monkeypatch, settings):
    with loaded_plugin(
        example_source(),
        MODULE,
        tmp_path,
        monkeypatch,
        settings,
        cronjob_names=["AssetDB: import hosts", "AssetDB: inventorize"],
        commands=["assetdb"],
    ) as module:
        yield module


@pytest.mark.django_db
def test_the_ported_plugin_runs_as_functions(example_plugin, https_server):
    account = Account.objects.create(name="assets", type="assetdb", address=https_server, verify_ssl=False)
    account.custom_fields.create(name="request_headers", value='{"X-Asset-Tenant": "acme"}')
    account.custom_fields.create(name="inventorize_key", value="assetdb")

    assert example_plugin.import_hosts("assets") == 3
    assert Host.objects.get(hostname="web01").labels == {"os": "linux", "site": "dc1"}
    assert Host.objects.get(hostname="db01").account.name == "assets"
    assert AssetHandler.seen_headers[-1]["X-Asset-Tenant"] == "acme"

    assert example_plugin.inventorize("assets") == 3
    assert Host.objects.get(hostname="db01").get_inventory("assetdb") == {
        "assetdb__serial": "S-2",
        "assetdb__ram": 64,
    }
    assert Host.objects.get(hostname="switch01").inventory["assetdb__list"] == ["port1", "port2"]
    Host.objects.filter(hostname="web01").update(inventory={})
    assert example_plugin.inventorize("assets", "web01") == 1  # inventorize_host
    assert Host.objects.get(hostname="web01").inventory["assetdb__serial"] == "S-1"

    assert cronjobs.run_cronjob("AssetDB: import hosts", account="assets") == 3
    assert LogEntry.objects.filter(source="assetdb", has_error=False).count() >= 4

    # the same plugin with verification on refuses the self-signed certificate
    Account.objects.filter(pk=account.pk).update(verify_ssl=True)
    with pytest.raises(requests.exceptions.SSLError, match=r"(?i)certificate verify failed"):
        example_plugin.import_hosts("assets")


@pytest.fixture(scope="module")
def site(tmp_path_factory, https_server):
    """A migrated SQLite database, the example and two bad plugins on the path, one account."""
    tmp = tmp_path_factory.mktemp("port-site")
    (tmp / f"{MODULE}.py").write_text(example_source())
    (tmp / "boom_plugin.py").write_text(
        "from syncerapi.v1.core import cli\n\n\n"
        "@cli.command('boom_now')\n"
        "def boom_now():\n"
        "    raise RuntimeError('the asset database went away')\n"
    )
    (tmp / "broken_plugin.py").write_text("import no_such_dependency_of_this_plugin\n")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "SYNCSITE_VAR_DIR": str(tmp),
        "SYNCSITE_PLUGINS": f"{MODULE},boom_plugin",
        "PYTHONPATH": os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "LOG_LEVEL": "WARNING",
        "ASSET_URL": https_server,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env={**env, **extra_env}, cwd=ROOT, timeout=240, capture_output=True, text=True, check=False,
        )  # fmt: skip

    assert run("migrate", "-v", "0").returncode == 0
    setup = (
        "import os; from hosts.models import Account\n"
        "a = Account.objects.create(name='assets', type='assetdb', address=os.environ['ASSET_URL'], verify_ssl=False)\n"
        "a.custom_fields.create(name='inventorize_key', value='assetdb')\n"
    )
    result = run("shell", "-c", setup)
    assert result.returncode == 0, result.stderr
    return run


@pytest.mark.integration
def test_the_ported_plugin_runs_as_manage_py_syncer_group_command(site):
    result = site("syncer", "assetdb", "--help")
    assert result.returncode == 0, result.stderr
    assert "import_hosts" in result.stdout or "import-hosts" in result.stdout

    result = site("syncer", "assetdb", "import_hosts", "assets", "--debug")
    assert result.returncode == 0, result.stderr
    assert "imported 3 hosts" in result.stdout and "web01" in result.stdout

    result = site("hosts", "assetdb", "inventorize", "assets", "--hostname", "db01")  # the alias, `-`/`_` alike
    assert result.returncode == 0, result.stderr
    assert "inventorized 1 hosts" in result.stdout
    check = site("shell", "-c", "from hosts.models import Host; print(Host.objects.get(hostname='db01').inventory)")
    assert "'assetdb__serial': 'S-2'" in check.stdout

    result = site("syncer", "assetdb", "import_hosts")  # click's usage error
    assert result.returncode == 2 and "Missing argument 'ACCOUNT'" in result.stderr

    result = site("syncer", "assetdb", "import_hosts", "nobody")
    assert result.returncode == 1 and "CommandError: unknown account 'nobody'" in result.stderr


@pytest.mark.integration
def test_a_raising_command_exits_non_zero_with_a_failed_log_entry(site):
    result = site("syncer", "boom-now")
    assert result.returncode == 1
    assert "RuntimeError: the asset database went away" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    logged = site(
        "shell",
        "-c",
        "from hosts.models import LogEntry; e = LogEntry.objects.get(source='cli'); print(e.has_error, e.details)",
    )
    assert "True" in logged.stdout and "the asset database went away" in logged.stdout


@pytest.mark.integration
def test_a_plugin_that_fails_to_import_is_named_at_start_up_and_by_check(site):
    plugins = f"{MODULE},broken_plugin"
    result = site("check", SYNCSITE_PLUGINS=plugins)
    assert result.returncode != 0
    assert "hosts.E001" in result.stderr and "'broken_plugin'" in result.stderr
    assert "No module named 'no_such_dependency_of_this_plugin'" in result.stderr

    result = site("syncer", "list-cronjobs", SYNCSITE_PLUGINS=plugins)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "syncer plugin 'broken_plugin' failed to import: ModuleNotFoundError" in result.stderr
