"""Benchmark: 100,000 hosts imported from the SQL source (PostgreSQL, MariaDB) against the CSV import of the same hosts.

    .venv/bin/python bench/bench_sql_import.py                      # hosts in a fresh SQLite file under a temp dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME .venv/bin/python bench/bench_sql_import.py

Baseline, in the same process and hosts database: the `import-csv` plugin importing the hosts from a CSV
file. The measured runs are the `import-sql` plugin reading the same hosts (same columns) from a table in
PostgreSQL (127.0.0.1:5432, user postgres; `BENCH_PG_URL`) and MariaDB (127.0.0.1:3306, root;
`BENCH_MYSQL_URL`), through the same bulk path: once as they are, and once with the account's
`rewrite_hostname` template (`REWRITE`), so every record also goes through `import_hostnames`, the
logic of `syncerapi.v1.get_import_hosts`. Each run is a first import into an empty host table and must
create exactly the expected hosts. Target: each SQL import < 2x the CSV import's time. A source server
that is not reachable is reported and left out. The source databases, the hosts, the accounts and the temp
files are removed at the end.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HOSTS = int(os.environ.get("BENCH_HOSTS", "100000"))
SOURCE_DB = "syncsite_bench_sql_source"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
MYSQL_URL = os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
COLUMNS = ["host", "OS Name", "site", "rack", "role", "owner"]
# a realistic rewrite: the record's site becomes part of the name (variables: the record's columns, HOSTNAME)
REWRITE = "{{ HOSTNAME | lower | replace('.example.com', '.' ~ site ~ '.example.com') }}"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-sql-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


def host_rows(count: int) -> list[list[str]]:
    return [
        [f"bulk{index:06d}.example.com", ["linux", "bsd", "windows"][index % 3], f"dc{index % 7}", str(index % 40),
         ["web", "db", "cache", "app"][index % 4], f"team{index % 13}"]
        for index in range(count)
    ]  # fmt: skip


def postgresql_source(rows: list[list[str]]) -> str:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
        admin.execute(f"CREATE DATABASE {SOURCE_DB}")
    with psycopg.connect(f"{PG_URL}/{SOURCE_DB}") as conn:
        columns = ", ".join(f'"{name}" text' for name in COLUMNS)
        conn.execute(f"CREATE TABLE hosts ({columns})")
        with conn.cursor() as cursor, cursor.copy("COPY hosts FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return f"{PG_URL}/{SOURCE_DB}"


def drop_postgresql_source() -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB} WITH (FORCE)")


def _mysql_login() -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(MYSQL_URL)
    return {"host": parts.hostname, "port": parts.port or 3306, "user": parts.username or "root",
            "password": parts.password or ""}  # fmt: skip


def mysql_source(rows: list[list[str]]) -> str:
    import pymysql

    with pymysql.connect(**_mysql_login(), connect_timeout=5, autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
        cursor.execute(f"CREATE DATABASE {SOURCE_DB} CHARACTER SET utf8mb4")
        columns = ", ".join(f"`{name}` varchar(100)" for name in COLUMNS)
        cursor.execute(f"CREATE TABLE {SOURCE_DB}.hosts ({columns})")
        for start in range(0, len(rows), 5000):
            cursor.executemany(
                f"INSERT INTO {SOURCE_DB}.hosts VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608 - a constant name
                rows[start : start + 5000],
            )
    return f"{MYSQL_URL}/{SOURCE_DB}"


def drop_mysql_source() -> None:
    import pymysql

    with pymysql.connect(**_mysql_login(), connect_timeout=5, autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")


def main() -> None:
    from hosts.models import Account, Host, LogEntry
    from hosts.plugins.importers import run_plugin

    call_command("migrate", verbosity=0)
    if Host.objects.exists() or Account.objects.filter(name__startswith="bench-").exists():
        sys.exit("the database already has hosts: run the benchmark on an empty database (default: a temp SQLite)")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}), hosts: {HOSTS:,}")

    rows = host_rows(HOSTS)
    csv_path = workdir / "hosts.csv"
    with csv_path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    Account.objects.create(name="bench-csv", type="csv", address=str(csv_path))
    query = "SELECT * FROM hosts"

    sources = []
    for label, make, drop in (("PostgreSQL", postgresql_source, drop_postgresql_source),
                              ("MariaDB", mysql_source, drop_mysql_source)):  # fmt: skip
        try:
            url = make(rows)
        except Exception as exc:  # an unreachable server is reported, not fatal
            print(f"{label}: left out, source not available ({str(exc).splitlines()[0]})")
            continue
        account = Account.objects.create(name=f"bench-{label.lower()}", type="sql", address=url)
        account.custom_fields.create(name="query", value=query)
        account.custom_fields.create(name="hostname_field", value="host")
        rewrite = Account.objects.create(name=f"bench-{label.lower()}-rewrite", type="sql", address=url)
        rewrite.custom_fields.create(name="query", value=query)
        rewrite.custom_fields.create(name="hostname_field", value="host")
        rewrite.custom_fields.create(name="rewrite_hostname", value=REWRITE)
        sources.append((label, account.name, rewrite.name, drop))

    plain_names = {row[0] for row in rows}
    rewritten_names = {row[0].replace(".example.com", f".{row[2]}.example.com") for row in rows}

    def timed(command: str, account: str, expected: set[str]) -> float:
        started = time.perf_counter()
        result = run_plugin(command, account)
        seconds = time.perf_counter() - started
        assert result.created == HOSTS, result
        imported = set(Host.objects.filter(account__name=account).values_list("hostname", flat=True))
        assert imported == expected, f"{account}: {len(imported ^ expected)} hostnames differ from the expected ones"
        Host.objects.filter(account__name=account).delete()  # the next run starts from an empty table again
        return seconds

    checks: list[tuple[str, bool]] = []
    try:
        csv_seconds = timed("import-csv", "bench-csv", plain_names)
        print(
            f"CSV import (baseline): {HOSTS:>7,} hosts in {csv_seconds:7.2f} s = {HOSTS / csv_seconds:>9,.0f} hosts/s"
        )
        for label, account, rewrite, _drop in sources:
            for case, name, expected in (("", account, plain_names), (" + rewrite", rewrite, rewritten_names)):
                seconds = timed("import-sql", name, expected)
                ratio = seconds / csv_seconds
                what = f"{label}{case}"
                print(f"SQL import, {what:<20}: {HOSTS:>7,} hosts in {seconds:7.2f} s = "
                      f"{HOSTS / seconds:>9,.0f} hosts/s, {ratio:.2f}x the CSV import")  # fmt: skip
                checks.append((f"{what} SQL import vs CSV import: {ratio:.2f}x (target < 2x)", ratio < 2))
        print(f"rewrite_hostname template: {REWRITE}")
        for text, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
    finally:
        Host.objects.filter(account__name__startswith="bench-").delete()
        for name in ("bench-csv", *(name for _label, *names, _drop in sources for name in names)):
            LogEntry.objects.filter(name__endswith=f": {name}").delete()
        Account.objects.filter(name__startswith="bench-").delete()
        for *_names, drop in sources:
            drop()
    if not checks or not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the CSV file and the default SQLite database
