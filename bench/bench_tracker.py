"""Tracker benchmark: work queue, read, prefix search and publish against the raw driver.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/syncsite_tracker_bench .venv/bin/python bench/bench_tracker.py \
        [--files 1000000] [--publish 100000] [--rounds 5] [--quick] [--keep]
    .venv/bin/python bench/bench_tracker.py --sqlite [--quick]     # publish against sqlite3 executemany

The database named in DATABASE_URL is dropped and created again, so its name must contain "bench".
The file set is loaded with COPY (the loader is not what is measured); every figure is measured in
this process, in the same run as its baseline. Publish and its baseline (raw `executemany` of the same
rows) alternate in rounds, and the ratio is that of their medians, so a load change during the run
weighs on both. Afterwards the database part of a publish alone (the same COPY and merge, other files)
alternates with the baseline likewise: the most the publish ratio can reach with the rows it writes.
`--quick`: 20,000 nodes and 20,000 published files (under two minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/syncsite_tracker_bench"
SITES = ["site1", "site2", "site3", "site4", "site5"]
FILES_PER_FOLDER = 1000


def fresh_database(url: str) -> None:
    """Drop and create the benchmark database (only one whose name says it is a benchmark's)."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate database {name!r}: its name must contain 'bench'")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def spread(samples: list[float]) -> str:
    """min and p90 beside a p50, to tell the code's cost from a busy machine's scheduling delays."""
    ordered = sorted(samples)
    return f"min {ordered[0] * 1000:.1f}, p90 {ordered[int(len(ordered) * 0.9)] * 1000:.1f} ms"


def timed(func, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return samples


def file_id(i: int) -> str:
    return f"/bench/seq{i // FILES_PER_FOLDER:04d}/shot{i:07d}.exr"


def drop_indexes(tables: list[str]) -> list[str]:
    """Drop secondary indexes and constraints (bulk loads are much faster without them); return the SQL to
    restore them."""
    from django.db import connection

    restore: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u')",
            [tables],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT LIKE '%%_pkey' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [tables],
        )
        indexes = cursor.fetchall()
        for table, name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
            restore.append(definition)
    restore += [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in constraints]
    return restore


def load_files(count: int, base_time: int) -> float:
    """COPY `count` file nodes in; about 90% of them already synced at every site."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY tracker_node (node_id, kind, parent, origin, time, sync_priority, deleted, authors, data) FROM STDIN"
        ) as copy:
            for i in range(count):
                origin = SITES[i % len(SITES)]
                t = base_time + i
                priority = 5 if i % 97 == 0 else 0
                data = {"origin": origin, "author": "bench", "time": t, "comment": "loaded", "file_size": i}
                if priority:
                    data["sync_priority"] = priority
                if i % 10:  # 90% delivered everywhere
                    for site in SITES:
                        if site != origin:
                            data[f"synced_{site}"] = t + 1
                copy.write_row((file_id(i), "file", None, origin, t, priority, False, "|bench|", json.dumps(data)))
    return time.perf_counter() - started


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def publish_payloads(count: int, array: int, prefix: str = "/pub") -> list[list[dict]]:
    return [
        [
            {"_id": f"{prefix}/seq{i // FILES_PER_FOLDER:04d}/f{i:07d}.exr", "comment": "bench", "origin": SITES[i % 5]}
            for i in range(start, min(count, start + array))
        ]
        for start in range(0, count, array)
    ]


def alternate(arrays: list[list[dict]], rounds: int, raw_insert, measured) -> tuple[list[float], list[float], str]:
    """Per round: raw `executemany` of the round's rows, then `measured(chunk)` (seconds) of the same files; the
    two rates of every round, and each round's ratio as text."""
    per_round = max(1, len(arrays) // rounds)
    raw_rates, rates = [], []
    for start in range(0, len(arrays), per_round):
        chunk = arrays[start : start + per_round]
        rows = [(item["_id"], json.dumps(item)) for array in chunk for item in array]
        raw_rates.append(len(rows) / raw_insert(rows))
        rates.append(len(rows) / measured(chunk))
    return raw_rates, rates, ", ".join(f"{m / r * 100:.0f}%" for m, r in zip(rates, raw_rates, strict=True))


def compare_publish(client, auth, arrays: list[list[dict]], rounds: int, raw_insert) -> list[tuple]:
    """Alternate raw `executemany` of a round's rows and /api/publish/ of the same files; medians and ratio.

    `raw_insert(rows)` inserts (id, json) rows into a fresh table and returns the seconds it took."""

    def publish(chunk: list[list[dict]]) -> float:
        payloads = [json.dumps(a) for a in chunk]
        started = time.perf_counter()
        for payload in payloads:
            response = client.post("/api/publish/", payload, content_type="application/json", **auth)
            assert response.status_code == 201, response.content[:300]
        return time.perf_counter() - started

    raw_rates, publish_rates, rounds_text = alternate(arrays, rounds, raw_insert, publish)
    raw_rate, publish_rate = statistics.median(raw_rates), statistics.median(publish_rates)
    ratio = publish_rate / raw_rate
    return [
        ("raw executemany median (baseline)", raw_rate, "rows/s", True, f"{len(raw_rates)} rounds"),
        (f"/api/publish/ arrays of {len(arrays[0])} median", publish_rate, "files/s", publish_rate >= 5000),
        ("publish / raw ratio of medians", ratio * 100, "%", ratio >= 0.30, f"per round: {rounds_text}"),
    ]


def compare_database_part(arrays: list[list[dict]], rounds: int, raw_insert, database_part) -> list[tuple]:
    """Alternate raw `executemany` and `database_part(chunk)`: what the publish of those arrays writes, by the
    same COPY and merge, in the database alone (no HTTP, no checks), under other ids: the ratio publish can reach
    at most with the rows it writes."""
    raw_rates, database_rates, rounds_text = alternate(arrays, rounds, raw_insert, database_part)
    raw_rate, database_rate = statistics.median(raw_rates), statistics.median(database_rates)
    return [
        ("raw executemany median (second baseline)", raw_rate, "rows/s", True, f"{len(raw_rates)} rounds"),
        ("publish's database part alone median", database_rate, "files/s", True, "COPY + merge + commit"),
        ("database part / raw ratio of medians", database_rate / raw_rate * 100, "%", True,
         f"publish's ceiling; per round: {rounds_text}"),
    ]  # fmt: skip


def print_results(results: list[tuple]) -> None:
    width = max(len(r[0]) for r in results)
    for name, value, unit, ok, *note in results:
        print(f"  {name:<{width}}  {value:>12,.1f} {unit:<7} {'ok' if ok else 'MISSED':<6}  {' '.join(note)}")


def main_sqlite(args) -> int:
    """Publish against sqlite3's executemany (in one transaction) on a fresh SQLite file."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="syncsite-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client

    from tracker import services

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    for site in SITES:
        services.create_volume(site, url=f"ssh://sync@{site}.example/project/")
    print(f"SQLite {connection.Database.sqlite_version}, publishing {args.publish:,} files; {load_average()}")
    client = Client(HTTP_HOST="localhost")
    token = client.post("/api/signIn/", {"username": "bench", "password": "bench-password-1"}).json()["token"]

    def raw_insert(rows: list[tuple]) -> float:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_raw")
            cursor.execute("CREATE TABLE bench_raw (id text PRIMARY KEY, data text)")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany("INSERT INTO bench_raw (id, data) VALUES (%s, %s)", rows)
        return time.perf_counter() - started

    results = compare_publish(
        client, {"HTTP_AUTHORIZATION": f"Bearer {token}"}, publish_payloads(args.publish, args.array), args.rounds,
        raw_insert,
    )  # fmt: skip
    print_results(results)
    print(f"  finished; {load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1_000_000, help="file nodes loaded before measuring")
    parser.add_argument("--publish", type=int, default=100_000, help="files published through /api/publish/")
    parser.add_argument("--array", type=int, default=1000, help="files per /api/publish/ call")
    parser.add_argument("--rounds", type=int, default=5, help="alternating publish / baseline rounds")
    parser.add_argument("--quick", action="store_true", help="20,000 nodes and 20,000 published files")
    parser.add_argument("--sqlite", action="store_true", help="publish only, on a temporary SQLite database")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    if args.quick:
        args.files, args.publish = 20_000, 20_000
    if args.sqlite:
        return main_sqlite(args)

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench_tracker needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    fresh_database(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from tracker import services

    call_command("migrate", verbosity=0)
    User = get_user_model()
    User.objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    for site in SITES:
        services.create_volume(site, url=f"ssh://sync@{site}.example/project/")

    print(f"PostgreSQL {connection.pg_version}, {args.files:,} file nodes across {len(SITES)} sites; {load_average()}")
    base_time = services.now_ms() - 10_000_000
    restore = drop_indexes(["tracker_node", "tracker_sitestate"])
    load_s = load_files(args.files, base_time)
    started = time.perf_counter()
    services._pg_insert_states("TRUE", [], SITES, on_conflict=False)
    with connection.cursor() as cursor:
        for statement in restore:
            cursor.execute(statement)
        cursor.execute("ANALYZE tracker_node")
        cursor.execute("ANALYZE tracker_sitestate")
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE active) FROM tracker_sitestate")
        states, active = cursor.fetchone()
    print(
        f"  loaded with COPY in {load_s:.1f} s, {states:,} site states ({active:,} pending) and indexes built in "
        f"{time.perf_counter() - started:.1f} s"
    )

    client = Client(HTTP_HOST="localhost")
    token = client.post("/api/signIn/", {"username": "bench", "password": "bench-password-1"}).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    results: list[tuple] = []

    # 0. Baseline for the latencies: one raw psycopg round trip reading one node by _id (autocommit).
    import psycopg

    ids = [file_id(i) for i in range(0, args.files, max(1, args.files // 200))]
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as raw_conn:
        raw_ids = iter(ids * 3)
        samples = timed(
            lambda: raw_conn.execute("SELECT data FROM tracker_node WHERE node_id = %s", [next(raw_ids)]).fetchone(),
            300,
        )
    raw_read_ms = p50_ms(samples)
    results.append(("raw psycopg SELECT by _id p50 (baseline)", raw_read_ms, "ms", True, spread(samples)))

    # 1. Work queue: a batch of 100 claimed for one site.
    samples = timed(lambda: services.pending_for_site("site3", 100), 40)
    results.append(("pending_for_site(site, 100) p50", p50_ms(samples), "ms", p50_ms(samples) < 20, spread(samples)))
    results.append(("pending_for_site p50 / raw SELECT p50", p50_ms(samples) / raw_read_ms, "x", True))

    # 2. /api/read/ of one node, in-process (Django test client, no network).
    bodies = iter([json.dumps(i) for i in ids * 3])

    def read_one():
        response = client.post("/api/read/", next(bodies), content_type="application/json", **auth)
        assert response.status_code == 200, response.content[:200]

    samples = timed(read_one, 300)
    results.append(("/api/read/ one node p50", p50_ms(samples), "ms", p50_ms(samples) < 5, spread(samples)))
    results.append(("/api/read/ p50 / raw SELECT p50", p50_ms(samples) / raw_read_ms, "x", True))

    # 3. /api/search/ by id prefix returning 1,000 ids.
    folders = max(1, args.files // FILES_PER_FOLDER)
    queries = iter([f"/api/search/_id:/^\\/bench\\/seq{(k * 37) % folders:04d}\\//" for k in range(60)])

    def search_prefix():
        response = client.get(next(queries), **auth)
        assert response.status_code == 200 and len(response.json()) == min(FILES_PER_FOLDER, args.files)

    samples = timed(search_prefix, 50)
    results.append(
        ("/api/search/ id prefix, 1,000 ids p50", p50_ms(samples), "ms", p50_ms(samples) < 50, spread(samples))
    )

    # 4. Publish through /api/publish/ against a raw psycopg executemany of the same rows (autocommit).
    def raw_insert(rows: list[tuple]) -> float:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_raw")
            cursor.execute("CREATE TABLE bench_raw (id text PRIMARY KEY, data jsonb)")
            started = time.perf_counter()
            cursor.cursor.executemany("INSERT INTO bench_raw (id, data) VALUES (%s, %s)", rows)
            elapsed = time.perf_counter() - started
            cursor.execute("DROP TABLE bench_raw")
        return elapsed

    results += compare_publish(client, auth, publish_payloads(args.publish, args.array), args.rounds, raw_insert)

    # 5. The ceiling: the same writes in the database alone, against the same baseline.
    from django.db import transaction

    from tracker.services.postgres import _pg_publish

    def database_part(chunk: list[list[dict]]) -> float:
        now = services.now_ms()
        started = time.perf_counter()
        for array in chunk:
            files = [
                (item["_id"], services.new_child_id(), {"comment": item["comment"], "origin": item["origin"],
                                               "author": "bench", "time": now})
                for item in array
            ]  # fmt: skip
            with transaction.atomic():  # committed: rolled-back rows would leave dead index entries in the way
                _pg_publish(files)
        return time.perf_counter() - started

    floor_arrays = publish_payloads(min(args.publish, 50_000), args.array, prefix="/q")
    results += compare_database_part(floor_arrays, args.rounds, raw_insert, database_part)

    print_results(results)
    print(f"  finished; {load_average()}")
    if not args.keep:
        connection.close()
        import psycopg
        from psycopg import sql

        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            name = url.rsplit("/", 1)[1].split("?")[0]
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0 if all(r[3] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
