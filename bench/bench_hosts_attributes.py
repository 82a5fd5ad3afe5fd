"""get_attributes over 10,000 hosts with 100 enabled rules: cold cache, warm cache, query counts.

    .venv/bin/python bench/bench_hosts_attributes.py      # a throw-away SQLite file
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/syncsite_bench \
        .venv/bin/python bench/bench_hosts_attributes.py

The PostgreSQL database is created if missing and its hosts tables are emptied first.
Baselines measured in the same run: the same hosts with no rules at all (cold), and the cold run
itself for the warm cache. Targets: cold >= 5,000 hosts/s, warm >= 10x cold, warm queries = 0.
"cold" includes writing the computed caches to the database. Rates are printed by wall clock and
by this process's CPU time: on a shared machine the wall clock also counts other processes' work
(the exit status follows the CPU-time rates; on PostgreSQL the server's own CPU is not in them).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS = int(os.environ.get("BENCH_HOSTS", "10000"))
RULES = 100


def setup_django() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        handle, path = tempfile.mkstemp(prefix="bench_hosts_", suffix=".sqlite3")
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
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def make_data() -> None:
    from hosts import models

    for model in (models.Host, models.CustomAttributeRule, models.RewriteRule, models.FilterRule):
        model.objects.all().delete()
    rng = random.Random(42)
    oses = ["linux", "windows", "bsd", "aix", "solaris"]
    sites = [f"dc{i}" for i in range(1, 9)]
    roles = ["web", "db", "cache", "queue", "batch", "proxy"]
    hosts = []
    for index in range(HOSTS):
        role = rng.choice(roles)
        name = f"{role}{index:05d}.{rng.choice(sites)}.example.com"
        labels = {
            "os": rng.choice(oses),
            "site": rng.choice(sites),
            "role": role,
            "env": rng.choice(["prod", "staging", "dev"]),
            "team": f"team{rng.randint(1, 20)}",
            "rack": f"r{rng.randint(1, 40)}",
            "virtual": rng.choice(["true", "false"]),
            "tags": ",".join(rng.sample(["a", "b", "c", "d", "e"], 2)),
        }
        inventory = {
            "cmk__state": rng.choice(["up", "down"]),
            "cmk__agent": f"2.{rng.randint(0, 3)}",
            "hw__serial": f"S{index}",
            "hw__vendor": rng.choice(["dell", "hp", "lenovo"]),
        }
        hosts.append(models.Host(hostname=name, labels=labels, inventory=inventory))
    models.Host.objects.bulk_create(hosts, batch_size=1000)

    ops = ["equal", "in", "not_in", "in_list", "string_in_list", "swith", "ewith", "regex", "bool", "ignore"]
    needles = {
        "equal": ("os", "linux"),
        "in": ("team", "team1"),
        "not_in": ("env", "dev"),
        "in_list": ("site", "dc1, dc2, dc3"),
        "string_in_list": ("tags", "a"),
        "swith": ("rack", "r1"),
        "ewith": ("cmk__agent", ".3"),
        "regex": ("role", r"(web|db)"),
        "bool": ("virtual", "true"),
        "ignore": ("hw__vendor", ""),
    }

    def condition(i: int, model) -> dict:
        op = ops[i % len(ops)]
        key, value = needles[op]
        if i % 7 == 0:
            return {
                "match_type": "hostname",
                "hostname": ("web" if i % 2 else ".example.com"),
                "hostname_match": ("swith" if i % 2 else "ewith"),
                "hostname_match_negate": (i % 3 == 0),
            }
        return {
            "match_type": "attribute",
            "attribute": key,
            "value": value,
            "value_match": op,
            "value_match_negate": (i % 4 == 0),
        }

    for i in range(50):
        rule = models.CustomAttributeRule.objects.create(
            name=f"custom {i}", sort_order=i, condition_type=["all", "any"][i % 2]
        )
        for j in range(2):
            models.CustomAttributeCondition.objects.create(rule=rule, position=j, **condition(i + j * 3, None))
        value = "{{ os }}-{{ site }}" if i % 5 == 0 else f"value{i}"
        models.CustomAttributeOutcome.objects.create(rule=rule, attribute=f"custom_{i % 10}", value=value)
    for i in range(30):
        rule = models.RewriteRule.objects.create(name=f"rewrite {i}", sort_order=i, condition_type="all")
        models.RewriteCondition.objects.create(rule=rule, **condition(i * 3 + 1, None))
        if i % 3 == 0:
            models.RewriteOutcome.objects.create(rule=rule, attribute="rack", key_mode="string", new_key="rack_id")
        elif i % 3 == 1:
            models.RewriteOutcome.objects.create(rule=rule, attribute="tags", value_mode="split", new_value=",:0")
        else:
            models.RewriteOutcome.objects.create(
                rule=rule, attribute="team", value_mode="jinja", new_value="{{ value|upper }}"
            )
    for i in range(20):
        rule = models.FilterRule.objects.create(
            name=f"filter {i}", sort_order=i, condition_type="anyway" if i == 0 else "all"
        )
        models.FilterCondition.objects.create(rule=rule, **condition(i * 5 + 2, None))
        if i == 19:
            models.FilterOutcome.objects.create(rule=rule, action="ignore_host")
        else:
            models.FilterOutcome.objects.create(
                rule=rule, action="whitelist_attribute", attribute=["os", "site", "cmk__*", "custom_*"][i % 4]
            )


def run(cache_key: str, label: str) -> tuple[float, float, int]:
    """Rates in hosts/s by wall clock and by this process's CPU time, and the queries the loop made."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hosts.models import Host
    from syncerapi.v1.core import Plugin

    started = time.perf_counter()
    hosts = list(Host.objects.all())
    load = time.perf_counter() - started
    plugin = Plugin()
    plugin.init_custom_attributes()
    with CaptureQueriesContext(connection) as queries:
        wall, cpu = time.perf_counter(), time.process_time()
        ignored = sum(1 for host in hosts if plugin.get_attributes(host, cache_key) is False)
        plugin.flush_cache()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    plugin.discard()
    print(
        f"  {label:<30} wall {wall * 1000:8.1f} ms {len(hosts) / wall:9,.0f} hosts/s | cpu {cpu * 1000:8.1f} ms "
        f"{len(hosts) / cpu:9,.0f} hosts/s | queries {len(queries):4d} (load {load * 1000:.0f} ms, ignored {ignored})"
    )
    return len(hosts) / wall, len(hosts) / cpu, len(queries)


def main() -> None:
    url = setup_django()
    print(f"database: {url.split('@')[-1]}")
    make_data()
    from hosts import models
    from hosts.services import bump_rules_version

    enabled = sum(
        m.objects.filter(enabled=True).count()
        for m in (models.CustomAttributeRule, models.RewriteRule, models.FilterRule)
    )
    print(f"{HOSTS} hosts, {enabled} enabled rules")

    # baseline: the same hosts with every rule disabled
    for m in (models.CustomAttributeRule, models.RewriteRule, models.FilterRule):
        m.objects.update(enabled=False)
    bump_rules_version()
    base_wall, base_cpu, _ = run("baseline", "baseline, no rules (cold)")
    for m in (models.CustomAttributeRule, models.RewriteRule, models.FilterRule):
        m.objects.update(enabled=True)
    bump_rules_version()

    cold_wall, cold_cpu, _ = run("bench", "100 rules, cold cache")
    warm_wall, warm_cpu, warm_queries = run("bench", "100 rules, warm cache")
    print()
    ok = warm_queries == 0
    for kind, base, cold, warm in (("wall", base_wall, cold_wall, warm_wall), ("cpu", base_cpu, cold_cpu, warm_cpu)):
        print(
            f"{kind:>4}: cold {cold:,.0f} hosts/s = {cold / 5000:.2f}x the 5,000 hosts/s target "
            f"({cold / base:.2f}x the no-rules baseline); warm {warm / cold:.1f}x faster than cold (target >= 10x)"
        )
        met = cold >= 5000 and warm >= 10 * cold
        print(f"      targets {'met' if met else 'NOT met'} by {kind} time")
        ok = ok and (met or kind == "wall")
    print(f"queries in the warm loop: {warm_queries} (target 0)")
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if url.startswith("sqlite") and not os.environ.get("BENCH_DATABASE_URL"):
        from django.db import connections

        connections.close_all()
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
