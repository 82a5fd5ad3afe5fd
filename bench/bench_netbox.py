"""Benchmark: hosts <-> a real NetBox 4.4: first export, unchanged re-export, import.

    .venv/bin/python bench/bench_netbox.py            # 10,000 hosts (NetBox takes long to write them: ~30+ min)
    .venv/bin/python bench/bench_netbox.py --quick    # 200 hosts, about two minutes
    BENCH_HOSTS=2000 .venv/bin/python bench/bench_netbox.py

NetBox runs as the test suite starts it (tests/hostsplugins/netbox_server.py: its own virtualenv and a
template database outside the clone, a fresh database per run, gunicorn on loopback). Syncsite uses a temp
SQLite (or DATABASE_URL). Every request the plugin sends is counted per method and endpoint.

Targets (the issue's): the first export in bulk calls, at most one request per 100 objects per type; the
unchanged re-export sends zero write requests and is at least 10x faster than the first; the import of
the exported devices takes under 3x NetBox's own listing of them (the same list requests, timed raw in
the same run: the baseline).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

QUICK = "--quick" in sys.argv or os.environ.get("BENCH_QUICK") == "1"
HOSTS = int(os.environ.get("BENCH_HOSTS", "200" if QUICK else "10000"))
WITH_IP = HOSTS // 10
BULK = 100

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-netbox-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


def timed(label: str, func) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    wall = time.perf_counter() - start
    print(f"{label:<52} {wall:8.2f} s   (load {os.getloadavg()[0]:.1f})", flush=True)
    return wall, result


def requests_of(source: str) -> dict[str, int]:
    from hosts.models import LogEntry

    entry = LogEntry.objects.filter(source=source).order_by("-id").first()
    return dict(entry.details).get("requests", {})


def main() -> None:
    from hosts.models import Account, Host
    from hosts.plugins.netbox import run_netbox
    from tests.hostsplugins.netbox_server import start_netbox

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    call_command("migrate", verbosity=0)
    if Host.objects.exists():
        sys.exit("the database already has hosts: run the benchmark on an empty database (default: a temp SQLite)")
    started, server = timed("start NetBox (template copy, gunicorn)", lambda: start_netbox(workdir / "netbox"))
    print(f"database: {connection.vendor}, hosts: {HOSTS:,} ({WITH_IP:,} with a primary IPv4)")
    try:
        Host.objects.bulk_create(
            [
                Host(
                    hostname=f"node{index:06d}.example.com",
                    labels={
                        "site": f"dc{index % 7}",
                        "role": ["web", "db", "cache", "app"][index % 4],
                        "platform": ["linux", "bsd"][index % 2],
                        "tags": "bench",
                        **(
                            {"ipv4": f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"}
                            if index < WITH_IP
                            else {}
                        ),
                    },
                )
                for index in range(HOSTS)
            ],
            batch_size=2000,
        )
        account = Account.objects.create(name="bench-nb", type="netbox", address=server.url, password=server.token)
        account.custom_fields.create(name="netbox_filter", value="tag=syncsite-bench-nb")

        first_wall, _ = timed("first export (creates all)", lambda: run_netbox("export-hosts", "bench-nb"))
        first = requests_of("netbox_export")
        again_wall, _ = timed("unchanged re-export", lambda: run_netbox("export-hosts", "bench-nb"))
        again = requests_of("netbox_export")

        session = server.session()

        def netbox_listing() -> int:
            count = 0
            for path in ("dcim/devices/", "virtualization/virtual-machines/"):
                url = f"{server.url}/api/{path}"
                params = {"limit": 1000, "tag": "syncsite-bench-nb", "exclude": "config_context"}
                while url:
                    page = session.get(url, params=params, timeout=600).json()
                    count += len(page["results"])
                    url, params = page["next"], {}
            return count

        listing_wall, listed = timed("baseline: NetBox's own listing (raw requests)", netbox_listing)
        Host.objects.all().delete()
        import_wall, _ = timed(
            "import of the exported devices (empty Syncsite)", lambda: run_netbox("import-hosts", "bench-nb")
        )
        imported = Host.objects.count()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    writes = {key: n for key, n in first.items() if not key.startswith("GET ")}
    bounds = {
        "POST dcim/devices": math.ceil(HOSTS / BULK),
        "POST dcim/interfaces": math.ceil(WITH_IP / BULK),
        "POST ipam/ip-addresses": math.ceil(WITH_IP / BULK),
        "PATCH dcim/devices": math.ceil(WITH_IP / BULK),
    }
    bulk_ok = all(n <= bounds.get(key, 1) for key, n in writes.items())
    again_writes = sum(n for key, n in again.items() if not key.startswith("GET "))
    print()
    print(f"first export: {sum(first.values())} requests; writes {writes} (target: <= 1 per {BULK} objects per type)")
    print(
        f"unchanged re-export: {sum(again.values())} requests, {again_writes} writes, "
        f"{first_wall / again_wall:.1f}x faster than the first (target: 0 writes, >= 10x)"
    )
    print(
        f"import: {imported:,} hosts in {import_wall:.2f} s = {import_wall / listing_wall:.2f}x NetBox's own "
        f"listing of {listed:,} objects ({listing_wall:.2f} s, the baseline) (target: < 3x)"
    )
    met = bulk_ok and again_writes == 0 and first_wall / again_wall >= 10 and import_wall < 3 * listing_wall
    print(f"targets {'met' if met else 'NOT met'}; NetBox start {started:.1f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
