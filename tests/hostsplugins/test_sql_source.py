"""The SQL source against the real PostgreSQL and MariaDB servers: rows become hosts, writes are refused.

Each test database is made here and dropped afterwards. A server that is not running skips the tests with
the reason, except in CI (`CI=true`), where it fails them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
from collections.abc import Iterator

import pytest
from django.core.management.base import CommandError

from tests.parallel import worker_suffix

SOURCE_DB = f"syncsite_sql_source_test{worker_suffix()}"  # one per xdist worker
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MARIADB_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
ROWS = [
    ("web01.example.com", "linux", 4, decimal.Decimal("1.50"), dt.date(2024, 5, 1)),
    ("DB01.example.com", "bsd", None, decimal.Decimal("2.00"), dt.date(2023, 1, 2)),
    ("cache01.example.com", " windows ", 8, decimal.Decimal("0.25"), None),
]


def _unavailable(server: str, exc: Exception) -> None:
    message = f"{server} is not reachable ({exc})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgresql_source() -> Iterator[str]:
    """A database of its own on the PostgreSQL server with a `machines` table; yields its URL."""
    import psycopg

    try:
        admin = psycopg.connect(**PG_ADMIN, dbname="postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
        admin.execute(f"CREATE DATABASE {SOURCE_DB}")
        try:
            with psycopg.connect(**PG_ADMIN, dbname=SOURCE_DB, autocommit=True) as conn:
                conn.execute("CREATE TABLE machines (name text, os text, cpus int, load numeric(5,2), since date)")
                with conn.cursor() as cursor:
                    cursor.executemany("INSERT INTO machines VALUES (%s, %s, %s, %s, %s)", ROWS)
            yield f"postgresql://postgres@127.0.0.1:5432/{SOURCE_DB}"
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB} WITH (FORCE)")


@pytest.fixture
def mariadb_source() -> Iterator[str]:
    """A database of its own on the MariaDB server with a `machines` table; yields its URL."""
    import pymysql

    try:
        admin = pymysql.connect(**MARIADB_ADMIN, connect_timeout=5, autocommit=True)
    except pymysql.MySQLError as exc:
        _unavailable("MariaDB at 127.0.0.1:3306", exc)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
            cursor.execute(f"CREATE DATABASE {SOURCE_DB}")
            cursor.execute(f"CREATE TABLE {SOURCE_DB}.machines (name varchar(200), os varchar(50), cpus int,"
                           " `load` decimal(5,2), since date)")  # fmt: skip
            cursor.executemany(f"INSERT INTO {SOURCE_DB}.machines VALUES (%s, %s, %s, %s, %s)", ROWS)  # noqa: S608
        yield f"mysql://root@127.0.0.1:3306/{SOURCE_DB}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
        admin.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def sql_source(request) -> str:
    return request.getfixturevalue(f"{request.param}_source")


def test_each_row_is_a_host_and_the_other_columns_labels(sql_source, make_account, run_command):
    from hosts.models import Host, LogEntry

    make_account("db", address=sql_source, query="SELECT * FROM machines", hostname_field="name")
    out, _ = run_command("import-sql", "--account", "db")
    assert "created 3" in out
    hosts = {host.hostname: host.labels for host in Host.objects.all()}
    assert hosts == {
        "web01.example.com": {"os": "linux", "cpus": 4, "load": "1.50", "since": "2024-05-01"},
        "db01.example.com": {"os": "bsd", "cpus": None, "load": "2.00", "since": "2023-01-02"},
        "cache01.example.com": {"os": "windows", "cpus": 8, "load": "0.25", "since": None},
    }
    entry = LogEntry.objects.get(source="sql_import")
    assert not entry.has_error
    assert dict(map(tuple, entry.details))["created"] == 3
    out, _ = run_command("import-sql", "--account", "db")
    assert "unchanged 3" in out


def test_dry_run_and_inventorize(sql_source, make_account, run_command):
    from hosts.models import Host, LogEntry

    make_account("db", address=sql_source, query="SELECT name AS hostname, os FROM machines")
    out, _ = run_command("import-sql", "--account", "db", "--dry-run")
    assert out.startswith("dry run: created 3")
    assert not Host.objects.exists() and not LogEntry.objects.exists()
    Host.objects.create(hostname="web01.example.com")
    run_command("inventorize-sql", "--account", "db", "--query", "SELECT name AS hostname, cpus FROM machines")
    assert Host.objects.get().inventory == {"db__cpus": 4}


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM machines",
        "UPDATE machines SET os = 'x'",
        "CREATE TABLE stolen (a int)",
        "INSERT INTO machines (name) VALUES ('evil.example.com')",
    ],
)
def test_only_reads_run(sql_source, make_account, run_command, query):
    from hosts.models import Host, LogEntry

    make_account("db", address=sql_source, query=query)
    with pytest.raises(CommandError, match=r"the query failed|not a SELECT|no column"):
        run_command("import-sql", "--account", "db")
    assert not Host.objects.exists()
    assert LogEntry.objects.get(source="sql_import").has_error
    make_account("check", address=sql_source, query="SELECT * FROM machines", hostname_field="name")
    out, _ = run_command("import-sql", "--account", "check", "--dry-run")
    assert "created 3" in out  # the table is untouched
    make_account("stolen", address=sql_source, query="SELECT * FROM stolen")
    with pytest.raises(CommandError, match="the query failed"):
        run_command("import-sql", "--account", "stolen", "--dry-run")


def test_bad_input_names_the_problem(sql_source, make_account, run_command):
    from hosts.models import Host

    make_account("db", address=sql_source, query="SELECT * FROM machines")
    with pytest.raises(CommandError, match=r"no column 'hostname' in the result \(columns: name, os"):
        run_command("import-sql", "--account", "db")
    make_account("bad", address=sql_source, query="SELECT 'bad name' AS hostname")
    with pytest.raises(CommandError, match="row 1 column 'hostname': invalid hostname 'bad name'"):
        run_command("import-sql", "--account", "bad")
    make_account("typo", address=sql_source, query="SELEC 1")
    with pytest.raises(CommandError, match="the query failed"):
        run_command("import-sql", "--account", "typo")
    assert not Host.objects.exists()


def test_wrong_password_and_unreachable_server(make_account, run_command):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for scheme in ("postgresql", "mysql"):
        make_account(scheme, address=f"{scheme}://u@127.0.0.1:{port}/db", password="pw-secret", query="SELECT 1")
        with pytest.raises(CommandError, match="cannot connect") as raised:
            run_command("import-sql", "--account", scheme)
        assert "pw-secret" not in str(raised.value)
    make_account("ftp", address="ftp://127.0.0.1/db", query="SELECT 1")
    with pytest.raises(CommandError, match="not a database URL"):
        run_command("import-sql", "--account", "ftp")
