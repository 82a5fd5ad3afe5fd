"""`manage.py check --deploy` with production settings raises only what a TLS-terminating proxy handles."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"security.W004", "security.W008"}  # HSTS and the HTTPS redirect belong to the reverse proxy


def test_check_deploy_is_clean_in_production(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "sync.example.com",
        "HTTPS": "true",
        "SYNCSITE_VAR_DIR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    codes = {word.strip("():") for word in proc.stderr.split() if word.startswith("(security.")}
    assert codes <= ALLOWED, proc.stderr
    readme = (ROOT / "README.md").read_text()
    unexplained = {code for code in codes if f"`{code}`" not in readme}
    assert not unexplained, f"README.md does not explain {sorted(unexplained)}"
