import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncsite.config import database_config, env_bool, q_cluster, secret_key


def test_sqlite_default_lives_under_var(tmp_path: Path):
    config = database_config(None, tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "syncsite.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_sqlite_url(tmp_path: Path):
    config = database_config("sqlite:////srv/data/site.db", tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/srv/data/site.db"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_postgres_url(tmp_path: Path, scheme: str):
    config = database_config(f"{scheme}://sync:s3cret@db.example.com:6543/syncsite", tmp_path)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example.com", 6543, "syncsite")
    assert (config["USER"], config["PASSWORD"]) == ("sync", "s3cret")
    assert config["CONN_HEALTH_CHECKS"] is True


def test_unsupported_database_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="not supported"):
        database_config("mysql://root@localhost/x", tmp_path)


def test_env_bool_rejects_typos(monkeypatch):
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ValueError, match="not a boolean"):
        env_bool("FLAG")
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG") is True


def test_secret_key_is_generated_once_and_kept_private(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = secret_key(tmp_path)
    assert len(first) >= 50
    assert secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert secret_key(tmp_path) == "from-env"


def test_processes_starting_together_agree_on_one_complete_key(tmp_path: Path):
    """A fresh install's web server and worker start at once: none may read the key file half-written (an
    empty SECRET_KEY), and all must end with the same key."""
    code = (
        "import pathlib, sys, time\n"
        "from syncsite.config import secret_key\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "print(secret_key(pathlib.Path(sys.argv[1])))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    for round_ in range(3):
        folder = tmp_path / f"var{round_}"
        start = time.time() + 1.0  # every process asks at the same moment
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(folder), str(start)], stdout=subprocess.PIPE, text=True, env=env
            )
            for _ in range(8)
        ]
        keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert len(keys) == 1 and len(keys.pop()) >= 50
        assert [p.name for p in folder.iterdir()] == ["secret_key"]  # no temporary file left behind


def test_task_broker_is_the_database_without_redis_url():
    config = q_cluster(None, workers=2, timeout=600, sync=False)
    assert config["orm"] == "default"
    assert "redis" not in config
    assert config["retry"] > config["timeout"]


def test_task_broker_is_redis_with_redis_url():
    config = q_cluster("redis://127.0.0.1:6379/3", workers=4, timeout=60, sync=False)
    assert config["redis"] == "redis://127.0.0.1:6379/3"
    assert "orm" not in config
    assert config["workers"] == 4


def test_tracker_limits_and_agent_ssh_settings_come_from_the_environment(tmp_path: Path):
    """Operators set the damas request limits and the agent's ssh key without editing settings.py."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "from tracker import conf; from tracker.agent import conf as agent_conf;"
        "print(json.dumps([conf.max_node_bytes(), conf.statement_timeout_ms(), agent_conf.ssh_command(),"
        " conf.file_volume(), conf.max_upload_bytes(), conf.token_default_expiry_seconds()]))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "syncsite.settings",
        "SYNCSITE_VAR_DIR": str(tmp_path),
        "TRACKER_MAX_NODE_BYTES": "2048",
        "TRACKER_STATEMENT_TIMEOUT_MS": "1500",
        "TRACKER_AGENT_SSH_IDENTITY_FILE": "/etc/syncsite/agent_key",
        "TRACKER_FILE_VOLUME": "studio",
        "TRACKER_MAX_UPLOAD_BYTES": "4096",
        "TRACKER_TOKEN_EXPIRY_SECONDS": "0",
    }
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    node_bytes, timeout_ms, ssh, volume, upload, expiry = json.loads(out.strip().splitlines()[-1])
    assert (node_bytes, timeout_ms, volume, upload, expiry) == (2048, 1500, "studio", 4096, 0)
    assert "/etc/syncsite/agent_key" in ssh
