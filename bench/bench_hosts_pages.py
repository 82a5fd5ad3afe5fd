"""Server time of the host list page (`/hosts/`) over 100,000 hosts: one `label=K=V` filter, p50 target < 100 ms.

    .venv/bin/python bench/bench_hosts_pages.py                # a throw-away SQLite file, 100,000 hosts
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/syncsite_bench_pages \
        .venv/bin/python bench/bench_hosts_pages.py
    .venv/bin/python bench/bench_hosts_pages.py --quick       # 10,000 hosts, fewer rounds (or BENCH_QUICK=1)

The PostgreSQL database is created if missing and its hosts table is emptied first. Each page is asked through
Django's test client as a signed-in user, so the time is the server's (URL routing, the view, its queries, the
template), not a network's. Baselines in the same run: the unfiltered list page and a raw SQL count of the same
label filter. On PostgreSQL the plan is printed to show whether the labels' GIN index serves the filter.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUICK = "--quick" in sys.argv or os.environ.get("BENCH_QUICK") == "1"
HOSTS = int(os.environ.get("BENCH_HOSTS", "10000" if QUICK else "100000"))
ROUNDS = 15 if QUICK else 40
TARGET_MS = 100.0
SITES, ROLES = 40, 12


def setup_django() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        handle, path = tempfile.mkstemp(prefix="bench_hosts_pages_", suffix=".sqlite3")
        os.close(handle)
        url = f"sqlite:///{path}"
    elif url.startswith("postgres"):
        import psycopg

        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def make_hosts() -> None:
    from django.db import connection

    from hosts.models import Account, Host

    Host.objects.all().delete()
    if connection.vendor == "postgresql":  # a re-run starts from a compact table, as a fresh import would
        with connection.cursor() as cursor:
            cursor.execute("VACUUM FULL hosts_host")
    accounts = [Account.objects.get_or_create(name=f"bench-{i}", defaults={"type": "csv"})[0] for i in range(5)]
    batch = []
    for i in range(HOSTS):
        labels = {
            "site": f"site{i % SITES:02}",
            "role": f"role{(i // SITES) % ROLES:02}",
            "env": ("prod", "test", "dev")[i % 3],
            "os": "linux" if i % 7 else "bsd",
            "serial": f"S{i:07}",
        }
        if i % 100 == 0:
            labels["gpu"] = "yes"
        batch.append(Host(hostname=f"host{i:07}.example.com", labels=labels, account=accounts[i % 5]))
        if len(batch) == 5000:
            Host.objects.bulk_create(batch)
            batch = []
    if batch:
        Host.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE hosts_host")


def timed(fn, rounds: int) -> list[float]:
    fn()  # warm-up: caches, the query plan, the template
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    url = setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"database: {connection.vendor} ({url.split('@')[-1]}), {HOSTS:,} hosts, {ROUNDS} rounds per case")
    started = time.perf_counter()
    make_hosts()
    print(f"made {HOSTS:,} hosts in {time.perf_counter() - started:.1f} s")

    user, _ = get_user_model().objects.get_or_create(username="bench-reader")
    client = Client()
    client.force_login(user)

    def page(query: str):
        def ask():
            response = client.get("/hosts/" + query)
            assert response.status_code == 200, (query, response.status_code)
            return response

        return ask

    def raw_count():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT count(*) FROM hosts_host WHERE NOT is_object AND labels @> %s::jsonb",
                    ['{"site": "site07"}'],
                )
            else:
                cursor.execute("SELECT count(*) FROM hosts_host WHERE json_extract(labels, '$.site') = 'site07'")
            cursor.fetchone()

    cases = [
        ("baseline: unfiltered list page", page("")),
        ("baseline: raw SQL count of site=site07", raw_count),
        ("label=site=site07 (2.5% of hosts)", page("?label=site%3Dsite07")),
        ("label=site=site07&label=role=role03", page("?label=site%3Dsite07&label=role%3Drole03")),
        ("label=gpu (has the key, 1%)", page("?label=gpu")),
        ("label=site=site07, page 20", page("?label=site%3Dsite07&page=20")),
        ("label=env=prod, sort by account", page("?label=env%3Dprod&sort=account")),
    ]
    results = {}
    for name, fn in cases:
        times = timed(fn, ROUNDS)
        results[name] = statistics.median(times)
        p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
        print(f"{name:<45} p50 {results[name]:8.1f} ms   p95 {p95:8.1f} ms")

    base = results["baseline: unfiltered list page"]
    main_case = results["label=site=site07 (2.5% of hosts)"]
    print(f"ratio label=site=site07 / unfiltered page: {main_case / base:.2f}")
    counted = results["baseline: raw SQL count of site=site07"]
    print(f"ratio label=site=site07 / raw SQL count:   {main_case / counted:.1f}")
    if connection.vendor == "postgresql":
        plans = []
        with connection.cursor() as cursor:
            for sql in (
                "EXPLAIN SELECT count(*) FROM hosts_host WHERE NOT is_object AND labels @> %s::jsonb",
                "EXPLAIN SELECT id FROM hosts_host WHERE NOT is_object AND labels @> %s::jsonb"
                " ORDER BY hostname LIMIT 50",
            ):
                cursor.execute(sql, ['{"site": "site07"}'])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        for title, plan in zip(("count", "rows"), plans, strict=True):
            print(f"plan of the filtered page's {title}:\n  " + plan.replace("\n", "\n  "))
        print(f"GIN index used by the count: {'hosts_host_labels_gin' in plans[0]}")
    verdict = "meets" if main_case < TARGET_MS else "misses"
    print(f"label=site=site07 p50 {main_case:.1f} ms {verdict} the {TARGET_MS:.0f} ms target ({connection.vendor})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if main_case < TARGET_MS or connection.vendor != "postgresql" else 1


if __name__ == "__main__":
    code = main()
    database = os.environ.get("DATABASE_URL", "")
    if database.startswith("sqlite:///") and not os.environ.get("BENCH_DATABASE_URL"):
        Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)
    sys.exit(code)
