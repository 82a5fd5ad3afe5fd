"""SQL source: each row of a query against PostgreSQL or MySQL/MariaDB is a host.

Account (type `sql`): `address` is a database URL (`postgresql://host:5432/db`, `mysql://host:3306/db`),
`username`/`password` the database login (they win over user info in the URL). Custom fields: `query`
(a SELECT), `hostname_field` (the column with the hostname, default `hostname`); every other column is
a label. The query runs in a read-only transaction (the server refuses writes; nothing parses the SQL),
rows are streamed from a server-side cursor in batches, and connecting and the query are bounded by
the account's `request_timeout` (default 30 s connect, `HOSTS_SQL_STATEMENT_TIMEOUT` 600 s query).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import unquote, urlsplit

from hosts.plugins.importers import ImportPlugin, InventorizeMixin, register_source
from hosts.plugins.sources import SourceError, invalid_hostname
from syncerapi.v1 import AccountField, redact_url
from syncerapi.v1.core import app_config
from syncerapi.v1.importing import NormalisedRows, Normaliser

FETCH_SIZE = 5000
SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
Table = tuple[list[str], Iterator[Sequence[Any]]]


def normalised_table(
    columns: list[str], rows: Iterator[Sequence[Any]], hostname_column: str, where: str
) -> NormalisedRows:
    """The rows of a table as NormalisedRows: one column the hostname, the others labels (keys normalised once)."""
    if hostname_column not in columns:
        raise SourceError(f"{where}: no column {hostname_column!r} in the result (columns: {', '.join(columns)})")
    normaliser = Normaliser()
    host_index = columns.index(hostname_column)
    label_names = columns[:host_index] + columns[host_index + 1 :]
    labels, lowercase, match = normaliser.labels, normaliser.lowercase, normaliser.match
    hosts: dict[str, dict[str, Any]] = {}
    count = first_empty = 0
    duplicates: list[str] = []
    for row in rows:
        count += 1
        values = list(row)
        value = values.pop(host_index)
        hostname = "" if value is None else str(value).strip()
        if lowercase:
            hostname = hostname.lower()
        if not hostname:
            first_empty = first_empty or count
        elif not match(hostname):
            raise invalid_hostname(str(value).strip(), f"{where} row {count} column {hostname_column!r}")
        if any(isinstance(item, bytes | bytearray | memoryview) for item in values):
            values = [
                bytes(item).decode("utf-8", "replace") if isinstance(item, bytes | bytearray | memoryview) else item
                for item in values
            ]
        if hostname in hosts and hostname:
            duplicates.append(hostname)
        hosts[hostname] = labels(dict(zip(label_names, values, strict=True)))
    return NormalisedRows(hosts, count, first_empty, normaliser.rules, duplicates)


class SqlImport(ImportPlugin):
    """Hosts from the rows of a SQL query."""

    label = "SQL"
    source = "sql_import"
    account_type = "sql"
    account_fields = (
        AccountField("query", help="a SELECT; each row is a host"),
        AccountField("hostname_field", help="the column with the hostname (default hostname)"),
    )

    def read(self) -> NormalisedRows:
        query = str(self.option("query") or "").strip()
        if not query:
            raise SourceError(f"account {self.config.get('name')!r} has no query")
        url = self.address()
        where = redact_url(url)
        hostname_column = str(self.option("hostname_field", "hostname"))
        with self.table(url, query) as (columns, rows):
            return normalised_table(columns, rows, hostname_column, where)

    @contextmanager
    def table(self, url: str, query: str) -> Iterator[Table]:
        """(column names, row iterator) of the query, inside a read-only transaction that is rolled back."""
        parts = urlsplit(url)
        scheme = SCHEMES.get(parts.scheme.split("+")[0].lower())
        where = redact_url(url)
        if scheme is None:
            raise SourceError(f"{where}: not a database URL (postgresql://host/db or mysql://host/db)")
        login = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port,
            "user": self.config.get("username") or unquote(parts.username or "") or None,
            "password": self.config.get("password") or unquote(parts.password or "") or None,
            "database": unquote(parts.path.lstrip("/")) or None,
        }
        statement_timeout = int(app_config.get("HOSTS_SQL_STATEMENT_TIMEOUT", 600))
        opener = _postgresql_table if scheme == "postgresql" else _mysql_table
        with opener(login, query, where, self.connect_timeout(), statement_timeout) as table:
            yield table


@contextmanager
def _postgresql_table(login: dict[str, Any], query: str, where: str, connect: int, statement: int) -> Iterator[Table]:
    import psycopg

    try:
        connection = psycopg.connect(
            host=login["host"],
            port=login["port"] or 5432,
            user=login["user"],
            password=login["password"],
            dbname=login["database"],
            connect_timeout=connect,
            options=f"-c default_transaction_read_only=on -c statement_timeout={statement * 1000}",
            application_name="syncsite-import",
        )
    except psycopg.Error as exc:
        raise SourceError(f"{where}: cannot connect ({_first_line(exc)})") from exc
    try:
        connection.read_only = True
        with connection.cursor(name="syncsite_import") as cursor:  # a named cursor lives on the server
            try:
                cursor.execute(query)
            except psycopg.Error as exc:
                raise SourceError(f"{where}: the query failed ({_first_line(exc)})") from exc
            columns = [column.name for column in cursor.description or ()]
            yield columns, _batches(cursor, psycopg.Error, where)
    finally:
        connection.rollback()
        connection.close()


@contextmanager
def _mysql_table(login: dict[str, Any], query: str, where: str, connect: int, statement: int) -> Iterator[Table]:
    import pymysql
    import pymysql.cursors

    try:
        connection = pymysql.connect(
            host=login["host"],
            port=login["port"] or 3306,
            user=login["user"] or "",
            password=login["password"] or "",
            database=login["database"],
            connect_timeout=connect,
            read_timeout=statement,
            charset="utf8mb4",
            cursorclass=pymysql.cursors.SSCursor,  # unbuffered: rows come as they are fetched
            autocommit=False,
        )
    except pymysql.MySQLError as exc:
        raise SourceError(f"{where}: cannot connect ({_first_line(exc)})") from exc
    cursor = connection.cursor()
    try:
        try:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")  # also for transactions an implicit commit starts
            cursor.execute("START TRANSACTION READ ONLY")
            cursor.execute(query)
        except pymysql.MySQLError as exc:
            raise SourceError(f"{where}: the query failed ({_first_line(exc)})") from exc
        if cursor.description is None:
            raise SourceError(f"{where}: the query returned no rows (not a SELECT)")
        columns = [column[0] for column in cursor.description]
        yield columns, _batches(cursor, pymysql.MySQLError, where)
    finally:
        with suppress(pymysql.MySQLError):
            cursor.close()  # reads what is left of an unbuffered result
        connection.close()  # the server rolls the read-only transaction back


def _batches(cursor: Any, error: type[Exception], where: str) -> Iterator[Sequence[Any]]:
    while True:
        try:
            batch = cursor.fetchmany(FETCH_SIZE)
        except error as exc:
            raise SourceError(f"{where}: reading the result failed ({_first_line(exc)})") from exc
        if not batch:
            return
        yield from batch


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class SqlInventorize(InventorizeMixin, SqlImport):
    source = "sql_inventorize"


SQL_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--hostname-field",), {"help": "column with the hostname (default 'hostname')"}),
    (("--query",), {"help": "the SELECT to run (default: the account's query field)"}),
]

register_source("import-sql", SqlImport, SQL_ARGUMENTS)
register_source("inventorize-sql", SqlInventorize, SQL_ARGUMENTS)
