"""Run the real `ansible-inventory` (ansible-core from the dev extras) against an inventory script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_binary


def ansible_inventory(script: Path, *args: str, home: Path) -> dict:
    """`ansible-inventory -i script <args>` parsed; Ansible's state and temp files stay under `home`."""
    binary = require_binary("ansible-inventory", str(Path(sys.executable).with_name("ansible-inventory")))
    env = {
        **os.environ,
        "HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ENABLED": "script",
        "ANSIBLE_NOCOLOR": "1",
    }
    result = subprocess.run(
        [binary, "-i", str(script), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def script_printing(path: Path, document: dict) -> Path:
    """An executable inventory script that prints `document` for --list and its hostvars for --host."""
    data = path.with_suffix(".json")
    data.write_text(json.dumps(document))
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"doc = json.load(open({str(data)!r}))\n"
        "if sys.argv[1:2] == ['--host']:\n"
        "    print(json.dumps(doc['_meta']['hostvars'].get(sys.argv[2], {})))\n"
        "else:\n"
        "    print(json.dumps(doc))\n"
    )
    path.chmod(0o755)
    return path
