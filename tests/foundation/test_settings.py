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
