"""Benchmark: export of 10,000 hosts to Checkmk, first (creation) and unchanged (nothing to write).

    .venv/bin/python bench/bench_checkmk.py                      # SQLite (a fresh file under a temp dir)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME .venv/bin/python bench/bench_checkmk.py

The Checkmk side is the REST API 1.0 test server of the test suite (tests/hostsplugins/checkmk_server.py,
validating every body against Checkmk's schema), started in its own process so its work is not counted.
Targets: first export at most one creation request per 500 hosts and one activation; unchanged re-export
zero write requests, zero activations and under 2 s of Syncsite-side CPU time (rule evaluation warm).
Baseline, in the same process and database: `export-csv` of the same hosts (warm), the cheapest export
there is; the ratio says what reading and diffing Checkmk's state adds.
It refuses a database that already has hosts, and deletes what it created at the end.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOSTS = int(os.environ.get("BENCH_HOSTS", "10000"))
BULK = 500

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-checkmk-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


class Server:
    """The Checkmk test server in a child process; `stats()` returns and resets its request counts."""

    def __init__(self, username: str, secret: str):
        script = ROOT / "tests" / "hostsplugins" / "checkmk_server.py"
        self.process = subprocess.Popen(
            [sys.executable, str(script), "0", username, secret],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.process.stdout.readline())

    def stats(self) -> dict:
        self.process.stdin.write("STATS\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def timed(label: str, func) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<44} wall {wall:7.2f} s   cpu {cpu:6.2f} s")
    return wall, cpu, result


def main() -> None:
    from hosts import models
    from hosts.models import Account, Host
    from hosts.plugins.checkmk import run_checkmk
    from hosts.plugins.exports import export

    call_command("migrate", verbosity=0)
    if Host.objects.exists():
        sys.exit("the database already has hosts: run the benchmark on an empty database (default: a temp SQLite)")
    print(f"database: {connection.vendor}, hosts: {HOSTS:,}")
    Host.objects.bulk_create(
        [
            Host(
                hostname=f"node{index:06d}.example.com",
                labels={
                    "ipaddress": f"10.{index // 65536}.{index // 256 % 256}.{index % 256}",
                    "os": ["linux", "bsd", "windows"][index % 3],
                    "location": f"dc{index % 7}/rack{index % 40}",
                    "role": ["web", "db", "cache", "app"][index % 4],
                },
            )
            for index in range(HOSTS)
        ],
        batch_size=2000,
    )
    rule = models.FilterRule.objects.create(name="bench checkmk", condition_type="anyway")
    for position, pattern in enumerate(["ipaddress", "os", "role"]):
        rule.outcomes.create(action="whitelist_attribute", attribute=pattern, position=position)
    server = Server("automation", "bench-secret")
    account = Account.objects.create(
        name="bench-checkmk",
        type="checkmk",
        address=f"http://127.0.0.1:{server.port}/bench",
        username="automation",
        password="bench-secret",
    )
    account.custom_fields.create(name="folder_attribute", value="location")
    try:
        _, first_cpu, _ = timed(
            "first export (cold rules, creates all)", lambda: run_checkmk("export-hosts", account.name)
        )
        first = server.stats()
        baseline_wall, baseline_cpu, _ = timed("baseline: export-csv (warm)", lambda: export("csv", io.StringIO()))
        _, unchanged_cpu, _ = timed(
            "unchanged re-export (warm rules)", lambda: run_checkmk("export-hosts", account.name)
        )
        again = server.stats()
    finally:
        server.stop()
        Host.objects.all().delete()
        Account.objects.filter(name="bench-checkmk").delete()
        rule.delete()
        shutil.rmtree(workdir, ignore_errors=True)

    creation_limit = -(-HOSTS // BULK)
    print()
    print(
        f"first export: {first['requests']} requests, {first['writes']} writes ({first['host_creations']} host "
        f"bulk-creates, {first['folder_creations']} folders), {first['activations']} activation(s), "
        f"{first['hosts']:,} hosts in Checkmk, {first['schema_errors']} schema errors "
        f"(target: <= {creation_limit} host creation requests, 1 activation)"
    )
    print(
        f"unchanged re-export: {again['requests']} requests, {again['writes']} writes, "
        f"{again['activations']} activations, cpu {unchanged_cpu:.2f} s "
        f"({unchanged_cpu / baseline_cpu:.2f}x the export-csv baseline of {baseline_cpu:.2f} s cpu, "
        f"{baseline_wall:.2f} s wall) (target: 0 writes, 0 activations, < 2 s cpu)"
    )
    met = (
        first["host_creations"] <= creation_limit
        and first["activations"] == 1
        and first["hosts"] == HOSTS
        and again["writes"] == 0
        and again["activations"] == 0
        and unchanged_cpu < 2
    )
    print(f"targets {'met' if met else 'NOT met'}; first export cpu {first_cpu:.2f} s")
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
