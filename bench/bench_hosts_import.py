"""Benchmark: bulk CSV import of 100,000 hosts against the per-host plugin API loop, and an unchanged re-import.

    .venv/bin/python bench/bench_hosts_import.py                      # SQLite (a fresh file under a temp dir)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME .venv/bin/python bench/bench_hosts_import.py

Baseline, in the same process and database: the loop a plugin would write with `syncerapi.v1`
(`Host.get_host` / `set_account` / `update_host` / `save`, autocommit, one host at a time), timed on a
sample of LOOP_SAMPLE hosts and compared by hosts per second. The measured runs are the real
`import-csv` plugin (read + validate the file, `import_rows`, the LogEntry). Targets: first import
< 30 s, >= 10x the loop's rate, unchanged re-import >= 3x faster than the first import.
It refuses a database that already has hosts, and deletes what it created at the end, temp files included.
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
LOOP_SAMPLE = int(os.environ.get("BENCH_LOOP_SAMPLE", "5000"))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-hosts-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


def write_csv(path: Path, count: int, prefix: str) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["host", "OS Name", "site", "rack", "role", "owner"])
        for index in range(count):
            writer.writerow(
                [f"{prefix}{index:06d}.example.com", ["linux", "bsd", "windows"][index % 3], f"dc{index % 7}",
                 str(index % 40), ["web", "db", "cache", "app"][index % 4], f"team{index % 13}"]
            )  # fmt: skip


def main() -> None:
    from hosts.models import Account, Host, LogEntry
    from hosts.plugins.importers import run_plugin
    from hosts.plugins.sources import read_csv
    from syncerapi.v1 import Host as ApiHost
    from syncerapi.v1 import get_account

    call_command("migrate", verbosity=0)
    if Host.objects.exists() or Account.objects.filter(name__startswith="bench-").exists():
        sys.exit("the database already has hosts: run the benchmark on an empty database (default: a temp SQLite)")
    database = f"{connection.vendor} ({connection.settings_dict['NAME']})"
    print(f"database: {database}, hosts: {HOSTS:,}, loop sample: {LOOP_SAMPLE:,}")

    csv_path = workdir / "hosts.csv"
    write_csv(csv_path, HOSTS, "bulk")
    loop_path = workdir / "loop.csv"
    write_csv(loop_path, LOOP_SAMPLE, "loop")
    Account.objects.create(name="bench-bulk", type="csv", address=str(csv_path))
    Account.objects.create(name="bench-loop", type="csv", address=str(loop_path))

    # Baseline: the per-host plugin API loop.
    config = get_account("bench-loop")
    rows = read_csv(loop_path)
    started = time.perf_counter()
    for hostname, labels in rows:
        host = ApiHost.get_host(hostname)
        host.set_account(account_dict=config)
        host.update_host(labels)
        host.save()
    loop_seconds = time.perf_counter() - started
    loop_rate = len(rows) / loop_seconds

    started = time.perf_counter()
    first = run_plugin("import-csv", "bench-bulk")
    first_seconds = time.perf_counter() - started
    assert first.created == HOSTS, first

    started = time.perf_counter()
    again = run_plugin("import-csv", "bench-bulk")
    again_seconds = time.perf_counter() - started
    assert again.unchanged == HOSTS and again.created == again.updated == 0, again

    bulk_rate = HOSTS / first_seconds
    print(f"per-host API loop   : {len(rows):>7,} hosts in {loop_seconds:7.2f} s = {loop_rate:>9,.0f} hosts/s")
    print(f"bulk import (first) : {HOSTS:>7,} hosts in {first_seconds:7.2f} s = {bulk_rate:>9,.0f} hosts/s")
    print(f"re-import unchanged : {HOSTS:>7,} hosts in {again_seconds:7.2f} s = {HOSTS / again_seconds:>9,.0f} hosts/s")
    checks = [
        (f"first import under 30 s: {first_seconds:.2f} s", first_seconds < 30),
        (f"bulk vs per-host loop (hosts/s): {bulk_rate / loop_rate:.1f}x (target >= 10x)", bulk_rate / loop_rate >= 10),
        (f"first import vs unchanged re-import: {first_seconds / again_seconds:.1f}x (target >= 3x)",
         first_seconds / again_seconds >= 3),
    ]  # fmt: skip
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    Host.objects.filter(account__name__startswith="bench-").delete()
    LogEntry.objects.filter(source="csv_import", name__endswith=": bench-bulk").delete()
    Account.objects.filter(name__startswith="bench-").delete()
    if not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the CSV files and the default SQLite database
