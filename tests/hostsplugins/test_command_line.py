"""`manage.py hosts` as a real process: errors on stderr with exit code 1, and an inventory script Ansible runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .ansible_helpers import ansible_inventory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, str]:
    """A migrated SQLite database of its own, with one CSV account."""
    tmp = tmp_path_factory.mktemp("site")
    csv_path = tmp / "hosts.csv"
    csv_path.write_text("host,ansible_group,os\nweb1,web,linux\ndb1,db,bsd\n")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "CSV_PATH": str(csv_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    assert manage(env, "migrate", "-v", "0").returncode == 0
    setup = (
        "from hosts.models import Account; from hosts import services\n"
        "Account.objects.create(name='csvsrc', address=__import__('os').environ['CSV_PATH'])\n"
        "services.save_rule('filter', {'name': 'all', 'condition_type': 'anyway',"
        " 'outcomes': [{'action': 'whitelist_attribute', 'attribute': 'os'}]})\n"
    )
    result = manage(env, "shell", "-c", setup)
    assert result.returncode == 0, result.stderr
    return env


def test_errors_go_to_stderr_with_a_non_zero_exit(site):
    result = manage(site, "hosts", "import-csv", "--account", "csvsrc", "--address", "/nonexistent/hosts.csv")
    assert result.returncode == 1
    assert "CommandError: /nonexistent/hosts.csv: file not found" in result.stderr
    assert result.stdout == ""
    result = manage(site, "hosts", "import-csv")
    assert result.returncode != 0 and "--account" in result.stderr
    address = "mysql://reader:pw-secret@127.0.0.1:1/inventory"  # nothing listens on port 1
    result = manage(site, "syncer", "import-sql", "--account", "csvsrc", "--address", address, "--query", "SELECT 1")
    assert result.returncode == 1
    assert "CommandError: mysql://127.0.0.1:1/inventory: cannot connect" in result.stderr
    assert "pw-secret" not in result.stderr and result.stdout == ""


def test_import_then_ansible_runs_the_command_as_its_inventory_script(site, tmp_path):
    result = manage(site, "hosts", "import-csv", "--account", "csvsrc")
    assert result.returncode == 0, result.stderr
    assert "created 2" in result.stdout
    script = tmp_path / "inventory.sh"
    env_lines = "".join(f"export {key}='{site[key]}'\n" for key in ("DATABASE_URL",))
    script.write_text(f'#!/bin/sh\n{env_lines}exec {sys.executable} {ROOT / "manage.py"} hosts ansible "$@"\n')
    script.chmod(0o755)
    listed = ansible_inventory(script, "--list", home=tmp_path)
    assert listed["web"]["hosts"] == ["web1"] and listed["db"]["hosts"] == ["db1"]
    assert listed["_meta"]["hostvars"]["db1"] == {"os": "bsd"}
    assert ansible_inventory(script, "--host", "web1", home=tmp_path) == {"os": "linux"}
