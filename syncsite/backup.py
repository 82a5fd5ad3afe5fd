"""Backup and restore of one Syncsite: the database and `var/` (secret key, media) in one .tar.gz.

PostgreSQL is dumped with `pg_dump --format=custom` and restored with `pg_restore --clean --if-exists
--no-owner`; SQLite is copied with its online backup API (consistent while the site runs). The archive
holds `database.dump` or `database.sqlite3`, `var/` (without the SQLite database, its WAL files and the
collected static files, which `collectstatic` makes again) and `manifest.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

import syncsite

SKIPPED_IN_VAR = {"static"}


class BackupError(RuntimeError):
    """A backup or restore could not be done (the message says why; nothing was changed on restore errors)."""


def _database() -> dict[str, Any]:
    return settings.DATABASES["default"]


def _pg_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Connection arguments (never the password on the command line: PGPASSWORD in the environment)."""
    args = ["--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _run(args: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{args[0]} is not installed (the PostgreSQL client tools are needed)") from exc
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _var_files(var_dir: Path, skip: set[Path]) -> list[Path]:
    files = []
    for path in sorted(var_dir.rglob("*")):
        relative = path.relative_to(var_dir)
        if relative.parts[0] in SKIPPED_IN_VAR or path in skip or not path.is_file():
            continue
        files.append(path)
    return files


def backup(destination: Path) -> dict[str, Any]:
    """Write the archive to `destination` (a .tar.gz); returns its manifest."""
    db = _database()
    var_dir = Path(settings.VAR_DIR).resolve()
    with tempfile.TemporaryDirectory(prefix="syncsite-backup-") as work:
        work_dir = Path(work)
        skip: set[Path] = set()
        if connection.vendor == "postgresql":
            dump = work_dir / "database.dump"
            args, env = _pg_env(db)
            _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), *args], env)
        elif connection.vendor == "sqlite":
            source = Path(db["NAME"]).resolve()
            dump = work_dir / "database.sqlite3"
            connection.ensure_connection()
            target = sqlite3.connect(dump)
            try:
                connection.connection.backup(target)  # the online backup API: consistent while others write
            finally:
                target.close()
            skip = {source, Path(f"{source}-wal"), Path(f"{source}-shm"), Path(f"{source}-journal")}
        else:
            raise BackupError(f"backups of {connection.vendor} databases are not supported")
        manifest = {
            "version": syncsite.__version__,
            "database": connection.vendor,
            "dump": dump.name,
            "var": [str(p.relative_to(var_dir)) for p in _var_files(var_dir, skip)],
        }
        (work_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(work_dir / "manifest.json", arcname="manifest.json")
            archive.add(dump, arcname=dump.name)
            for name in manifest["var"]:
                archive.add(var_dir / name, arcname=f"var/{name}")
        os.chmod(partial, 0o600)  # it holds the secret key and every stored secret
        partial.replace(destination)
    return manifest


def restore(source: Path) -> dict[str, Any]:
    """Restore the archive into this site's database and var/ (an empty database of the same vendor)."""
    db = _database()
    var_dir = Path(settings.VAR_DIR).resolve()
    with tempfile.TemporaryDirectory(prefix="syncsite-restore-") as work:
        work_dir = Path(work)
        try:
            with tarfile.open(source, "r:gz") as archive:
                archive.extractall(work_dir, filter="data")  # refuses absolute paths and ../ members
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"{source} is not a Syncsite backup: {exc}") from exc
        try:
            manifest = json.loads((work_dir / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise BackupError(f"{source} has no readable manifest.json") from exc
        if manifest.get("database") != connection.vendor:
            raise BackupError(
                f"the backup is of a {manifest.get('database')} database; this site uses {connection.vendor}"
            )
        dump = work_dir / str(manifest.get("dump"))
        if connection.vendor == "postgresql":
            args, env = _pg_env(db)
            connection.close()
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--exit-on-error", *args, str(dump)], env)
        else:
            connection.ensure_connection()
            restored = sqlite3.connect(dump)
            try:
                restored.backup(connection.connection)  # page by page into the live file, WAL included
            finally:
                restored.close()
            connection.close()
        for name in manifest.get("var", []):
            target = (var_dir / name).resolve()
            if var_dir not in target.parents:
                raise BackupError(f"refusing to write {name} outside var/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work_dir / "var" / name, target)
            if name == "secret_key":
                os.chmod(target, 0o600)
    return manifest
