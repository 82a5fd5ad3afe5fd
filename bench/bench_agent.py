"""Benchmark of the site agent, with baselines measured in the same run.

1. Propagation: 10,000 files of 4 KB published at A, received at B in batches of 1,000 by the agent (claims,
   rsync, verification, bulk tracker updates), against one plain `rsync -a` of the same tree. Target: <= 3x.
2. Discovery: a scan of a volume of 100,000 tracked files with nothing changed. Target: < 10 s.

Runs on a throw-away SQLite file by default; set BENCH_DATABASE_URL (an empty PostgreSQL database that may be
written to) to measure on PostgreSQL. FILES and SCAN_FILES change the sizes. PAGE_NODES=1000000 instead times
the monitoring page's queries over that many file nodes at 5 sites (p50 per view, informational).

    .venv/bin/python bench/bench_agent.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-agent-"))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ["SYNCSITE_VAR_DIR"] = str(WORK / "var")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from tracker import services  # noqa: E402

FILES = int(os.environ.get("FILES", 10_000))
BATCH = 1_000
SCAN_FILES = int(os.environ.get("SCAN_FILES", 100_000))


def make_tree(root: Path, count: int, size: int, per_dir: int = 500, top: str = "proj") -> list[str]:
    payload = os.urandom(size)
    paths = []
    for i in range(count):
        rel = f"{top}/d{i // per_dir:04}/f{i:06}.bin"
        path = root / rel
        if i % per_dir == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        paths.append("/" + rel)
    return paths


def publish_all(site: str, root: Path, paths: list[str], *, with_stat: bool) -> None:
    for start in range(0, len(paths), 5000):
        items = []
        for path in paths[start : start + 5000]:
            item = {"_id": path, "origin": site, "comment": "bench"}
            if with_stat:
                st = os.stat(root / path.lstrip("/"))
                item.update(file_mtime=st.st_mtime_ns // 1_000_000, file_size=st.st_size)
            items.append(item)
        results = services.publish_many(items, author="bench")
        assert all(results), "publish failed"


def bench_propagation() -> tuple[float, float]:
    a, b, plain = WORK / "A", WORK / "B", WORK / "plain"
    paths = make_tree(a, FILES, 4096)
    b.mkdir()
    services.create_volume("A", url=str(a), enableReception=False)
    services.create_volume("B", url=str(b), enableReception=True, syncAmountReception=BATCH)
    publish_all("A", a, paths, with_stat=True)

    started = time.perf_counter()
    subprocess.run(["rsync", "-a", f"{a}/", f"{plain}/"], check=True)
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    agent = services.site_agent("B", log=lambda _m: None)
    if os.environ.get("PROFILE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        report = profiler.runcall(agent.run_once, force_scan=False)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    else:
        report = agent.run_once(force_scan=False)
    agent.shutdown()
    elapsed = time.perf_counter() - started
    assert report.reception.synced == FILES, report.reception
    assert report.reception.batch_sizes == [BATCH] * (FILES // BATCH) + ([FILES % BATCH] if FILES % BATCH else [])
    assert services.pending_count("B") == 0
    print(f"propagation: {FILES} files x 4 KB, batches of {BATCH}: {report.reception.batches} rsync batches")
    print(f"  plain rsync -a     : {baseline:7.3f} s")
    print(f"  agent (A -> B)     : {elapsed:7.3f} s   ratio {elapsed / baseline:5.2f}x  (target <= 3x)")
    return elapsed, baseline


def bench_scan() -> float:
    root = WORK / "S"
    started = time.perf_counter()
    paths = make_tree(root, SCAN_FILES, 1, per_dir=1000, top="scan")
    services.create_volume(
        "S",
        url=str(root),
        enableReception=False,
        enableDiscovery=True,
        enableDiscoveryUpdatedFiles=True,
        enableDiscoveryDeletedFiles=True,
    )
    publish_all("S", root, paths, with_stat=True)
    setup = time.perf_counter() - started

    started = time.perf_counter()
    agent = services.site_agent("S", log=lambda _m: None)
    if os.environ.get("PROFILE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        report = profiler.runcall(agent.scan, force=True)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    else:
        report = agent.scan(force=True)
    elapsed = time.perf_counter() - started
    assert report.files == SCAN_FILES and report.new == report.modified == report.deleted == 0, report
    print(f"scan: {SCAN_FILES} tracked files, nothing changed (setup {setup:.1f} s)")
    print(f"  scan               : {elapsed:7.3f} s   (target < 10 s)")
    return elapsed


def bench_page(count: int) -> float:
    """The monitoring page's queries over `count` file nodes at 5 sites: p50 of each view, in ms."""
    import statistics

    from django.core.cache import cache

    from tracker import monitoring

    sites = [f"site{i}" for i in range(5)]
    for site in sites:
        services.create_volume(site, url=str(WORK / site), enableReception=True)
    started = time.perf_counter()
    chunk = 5000
    for start in range(0, count, chunk):
        items = [
            {"_id": f"/page/d{i // 1000:05}/f{i:07}", "origin": sites[i % 5], "comment": "bench"}
            for i in range(start, min(start + chunk, count))
        ]
        services.publish_many(items, author="bench")
        # A steady state: nearly every copy is in place, a few are outdated, syncing or failed.
        for site in sites:
            services.mark_synced_many([item["_id"] for n, item in enumerate(items) if n % 50], site)
        services.mark_error_many([(item["_id"], 23, "bench") for item in items[:5]], sites[(start // chunk + 2) % 5])
    if django.db.connection.vendor == "postgresql":
        with django.db.connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have after such a load
    print(f"page: {count} file nodes at {len(sites)} sites (setup {time.perf_counter() - started:.1f} s)")
    views = {
        "first page": lambda: monitoring.file_page("/"),
        "prefix page": lambda: monitoring.file_page("/page/d00042/"),
        "deep keyset page": lambda: monitoring.file_page("/", after=f"/page/d{count // 2000:05}/f{count // 2:07}"),
        "site+synced": lambda: monitoring.file_page("/", "site1", "synced"),
        "site+syncing": lambda: monitoring.file_page("/", "site1", "syncing"),
        "site+outdated": lambda: monitoring.file_page("/", "site1", "outdated"),
        "site+error": lambda: monitoring.file_page("/", "site2", "error"),
        "site totals (uncached)": lambda: (cache.clear(), monitoring.site_summaries(sites)),
    }
    worst = 0.0
    for name, view in views.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            view()
            times.append((time.perf_counter() - t0) * 1000)
        p50 = statistics.median(times)
        worst = max(worst, p50)
        print(f"  {name:24}: p50 {p50:8.1f} ms")
    return worst


def main() -> int:
    page_nodes = int(os.environ.get("PAGE_NODES", 0))
    try:
        call_command("migrate", verbosity=0)
        print(f"database: {django.db.connection.vendor}")
        if page_nodes:
            bench_page(page_nodes)
            return 0
        elapsed, baseline = bench_propagation()
        scan = bench_scan()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    ok = elapsed <= 3 * baseline and scan < 10
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
