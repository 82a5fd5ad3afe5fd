"""Benchmark of the change log: incremental /sync/tracker replies against the full one, and what capture costs.

    .venv/bin/python bench/bench_changes.py                    # SQLite and PostgreSQL, full sizes (1,000,000 nodes)
    .venv/bin/python bench/bench_changes.py --quick            # 20,000 nodes, under ~2 minutes
    .venv/bin/python bench/bench_changes.py --nodes 200000 --db sqlite

PostgreSQL uses BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/syncsite_changes_bench; dropped and
made again, so its name must contain "bench"); SQLite a temporary file. Each database runs in its own process.
In each, measured in the same process:
- capture cost: tracker publish (`publish_many`, the /api/publish path, batches of 1,000) and the hosts CSV
  import (`import-csv`), runs with the capture triggers dropped (baseline) and created in ABBA order; each
  publish run's rows are deleted after it (untimed), so every run writes into tables of the same size;
- replication: the time to stream the full /sync/tracker reply (baseline), an incremental reply after 1% of the
  nodes changed (one bulk UPDATE, captured by the triggers) and an unchanged incremental reply. The reply is
  read completely through Django's handler (the source's side of a pull; a client applies what it gets, so its
  side scales the same way).
Targets: 1% changed < 5% of full, unchanged < 1 s, capture adds < 10% to publish and to the import.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import fresh_pg, load

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/syncsite_changes_bench")
TOKEN = "bench-changes-token"


def run_one(args: argparse.Namespace) -> None:
    """One database, in this process."""
    sys.path.insert(0, str(ROOT))
    os.environ["SYNCTOOL_API_TOKEN"] = TOKEN
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from hosts.models import Account
    from hosts.plugins.importers import run_plugin
    from syncsite import changes
    from tracker import services

    call_command("migrate", verbosity=0)
    print(f"== {connection.vendor}: {args.nodes:,} nodes, {load()}", flush=True)
    for site in ("paris", "tokyo"):
        services.create_volume(site, url=f"ssh://sync@{site}.example/p/")
    counter = iter(range(10**9))

    def publish(count: int, prefix: str = "/bench/f") -> float:
        started = time.perf_counter()
        for start in range(0, count, 1000):
            items = [
                {"_id": f"{prefix}{next(counter):08d}.exr", "origin": "paris", "file_size": 4096}
                for _ in range(min(1000, count - start))
            ]
            services.publish_many(items, author="bench")
        return time.perf_counter() - started

    def forget_published() -> None:
        """Untimed, capture off: the run's rows go again, so every run writes into tables of the same size
        (a growing table slows each run by several percent, more than the capture costs)."""
        changes.pause()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM tracker_sitestate WHERE path LIKE '/bench/r%%'")
            cursor.execute("DELETE FROM tracker_node WHERE node_id LIKE '/bench/r%%' OR parent LIKE '/bench/r%%'")
        changes.resume()

    # --- capture cost: publish -------------------------------------------------------------------------
    batch = args.publish
    publish(batch)  # warm-up, kept
    off, on = [], []
    for index in range(args.rounds * 2):
        # ABBA order (off, on, on, off, ...), and each run's rows deleted after it: neither side is favoured by
        # the order or by the table's size
        gc.collect()
        if index % 4 in (1, 2):
            on.append(publish(batch, prefix="/bench/r"))
        else:
            changes.pause()
            off.append(publish(batch, prefix="/bench/r"))
            changes.resume()
        forget_published()
    p_off, p_on = statistics.median(off), statistics.median(on)
    print(f"publish {batch:,} files, capture off: runs {[round(x, 2) for x in off]} s, median {p_off:.2f} s")
    print(f"publish {batch:,} files, capture on : runs {[round(x, 2) for x in on]} s, median {p_on:.2f} s")
    publish_ratio = p_on / p_off

    # --- capture cost: hosts import -------------------------------------------------------------------
    workdir = Path(tempfile.mkdtemp(prefix="bench-changes-"))
    off, on = [], []
    for index in range(args.rounds * 2):
        path = workdir / f"hosts{index}.csv"
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["host", "role", "site"])
            for n in range(args.hosts):
                writer.writerow([f"h{index}-{n:06d}.example.com", ["web", "db"][n % 2], f"dc{n % 5}"])
        Account.objects.create(name=f"bench-{index}", type="csv", address=str(path))
        capture = index % 4 in (1, 2)  # ABBA, as above
        if not capture:
            changes.pause()
        gc.collect()
        started = time.perf_counter()
        result = run_plugin("import-csv", f"bench-{index}")
        (on if capture else off).append(time.perf_counter() - started)
        if not capture:
            changes.resume()
        assert result.created == args.hosts, result
    h_off, h_on = statistics.median(off), statistics.median(on)
    print(f"hosts import {args.hosts:,}, capture off: runs {[round(x, 2) for x in off]} s, median {h_off:.2f} s")
    print(f"hosts import {args.hosts:,}, capture on : runs {[round(x, 2) for x in on]} s, median {h_on:.2f} s")
    import_ratio = h_on / h_off

    # --- replication ----------------------------------------------------------------------------------
    remaining = args.nodes // 2 - batch  # a publish makes two nodes (the file, its publication); the warm-up stayed
    started = time.perf_counter()
    if remaining > 0:
        publish(remaining)
    built = time.perf_counter() - started
    print(f"built the tracker ({args.nodes // 2:,} files) in {built:.0f} s; {load()}", flush=True)
    from django.conf import settings

    from tracker.models import Node

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # Django's test client, in this process only
    print(f"tracker nodes: {Node.objects.count():,}")
    client = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode())

    def pull(since: str | None = None) -> tuple[float, str, int]:
        started = time.perf_counter()
        response = client.get("/sync/tracker", {"since": since} if since else {})
        size = sum(len(chunk) for chunk in response.streaming_content)
        assert response.status_code == 200, response.status_code
        return time.perf_counter() - started, response["X-Synctools-Cursor"], size

    full, cursor, full_size = pull()
    unchanged, cursor2, unchanged_size = pull(cursor)
    with connection.cursor() as cursor_:
        cursor_.execute("UPDATE tracker_node SET sync_priority = sync_priority + 1 WHERE id %% %s = 0", [100])
        touched = cursor_.rowcount
    changed_time, _, changed_size = pull(cursor2)
    print(f"full reply      : {full:8.2f} s, {full_size / 1e6:8.1f} MB")
    print(f"unchanged reply : {unchanged:8.3f} s, {unchanged_size:,} bytes")
    print(f"1% changed reply: {changed_time:8.3f} s, {changed_size / 1e6:8.2f} MB ({touched:,} nodes updated)")
    checks = [
        (f"1% changed vs full: {changed_time / full:.1%} (target < 5%)", changed_time / full < 0.05),
        (f"unchanged pull: {unchanged:.3f} s (target < 1 s)", unchanged < 1),
        (f"capture cost on publish: {publish_ratio - 1:+.1%} (target < +10%)", publish_ratio < 1.10),
        (f"capture cost on hosts import: {import_ratio - 1:+.1%} (target < +10%)", import_ratio < 1.10),
    ]
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  [{connection.vendor}] {text}")
    print(load(), flush=True)
    if not all(ok for _, ok in checks):
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="tracker nodes (a published file makes two)")
    parser.add_argument("--publish", type=int, default=20_000, help="files per publish run (capture cost)")
    parser.add_argument("--hosts", type=int, default=20_000, help="hosts per import run (capture cost)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 nodes, 5,000 files and hosts per run")
    parser.add_argument("--db", choices=["both", "sqlite", "postgresql"], default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.publish, args.hosts = 20_000, 5_000, 5_000
    if args.child:
        run_one(args)
        return
    print(f"bench_changes: {load()}")
    argv = ["--nodes", str(args.nodes), "--publish", str(args.publish), "--hosts", str(args.hosts)]
    argv += ["--rounds", str(args.rounds)]
    failed = False
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        env = dict(os.environ)
        if db == "postgresql":
            fresh_pg(PG_URL)
            env["DATABASE_URL"] = PG_URL
        else:
            env["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-changes-')}/bench.sqlite3"
        done = subprocess.run([sys.executable, __file__, *argv, "--child"], env=env, check=False)
        failed |= done.returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
