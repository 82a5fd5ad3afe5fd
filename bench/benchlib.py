"""What the benchmarks share: the load line every report starts with, and a throw-away PostgreSQL database."""

from __future__ import annotations

import os


def load() -> str:
    """The load average, printed with every measurement: a baseline slowed by a busy machine flatters a ratio."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def fresh_pg(url: str) -> None:
    """Drop and create the database of `url`; only one whose name says it is a benchmark's."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate {name!r}: its name must contain 'bench'")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
