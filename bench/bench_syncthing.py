"""Benchmark: syncthing_bridge.client against python-syncthing's way of calling, in the same run.

    .venv/bin/python bench/bench_syncthing.py [--calls 1000] [--rounds 5]

Starts one real Syncthing daemon on loopback (needs /usr/bin/syncthing), then makes `calls` alternating
system.ping()/system.version() calls three ways, interleaved in `rounds` so that machine noise hits all alike
(ratios use the median round; the client's own overhead is also given as CPU time spent in this process):

- baseline: python-syncthing's request path (`requests.request` per call: a new connection each time);
- pooled: a bare `requests.Session` (the lower bound of any requests-based client);
- lean: a bare `requests.Session` configured like the client's (environment read once: `trust_env = False`);
- client: `Syncthing(...).system.ping()/version()` (one pooled session, typed errors, JSON decoding).

Prints throughput, the ratio client/baseline (target >= 1.25) and the client's overhead per call above the bare
pooled session (target < 0.1 ms).

Then (unless --skip-tracker) the tracker feed: two paired daemons (fs watcher on, 1 s delay, 10 s rescan), a
Syncsite database (a fresh SQLite file unless DATABASE_URL is set), volumes siteA/siteB, the listener running;
`--files` files are written at A one every `--interval` seconds and the time from each write until the tracker
has `synced_siteB` on its node is measured (target: p95 < 3 s over 100 files).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncthing_bridge.localdaemon import LocalDaemon


def python_syncthing_way(url: str, headers: dict, endpoint: str) -> dict:
    """What python-syncthing 2.4 does per call: requests.request with a JSON-encoded body, then decode."""
    resp = requests.request(
        "GET",
        url + endpoint,
        data=json.dumps({}),
        params=None,
        timeout=10.0,
        verify=False,  # noqa: S501 - plain http here; python-syncthing passes it for http
        cert=None,
        headers=headers,
    )
    resp.raise_for_status()
    return resp.json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--skip-tracker", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-syncthing-") as home:
        daemon = LocalDaemon(Path(home) / "a", "bench", "bench-api-key-0123456789")
        daemon.start()
        try:
            run(daemon, args.calls, args.rounds)
        finally:
            daemon.stop()
    if not args.skip_tracker:
        tracker_latency(args.files, args.interval)


def run(daemon: LocalDaemon, calls: int, rounds: int) -> None:
    url = daemon.url
    headers = {"X-API-Key": daemon.api_key}
    session = requests.Session()
    client = daemon.client()
    endpoints = ["/rest/system/ping", "/rest/system/version"]

    def baseline(n: int) -> None:
        for i in range(n):
            python_syncthing_way(url, dict(headers), endpoints[i % 2])

    def pooled(n: int) -> None:
        for i in range(n):
            resp = session.get(url + endpoints[i % 2], headers=headers, timeout=10.0)
            resp.raise_for_status()
            resp.json()

    lean = requests.Session()
    lean.trust_env = False  # configured like the client's session: environment read once, not per call
    lean.headers.update(headers)

    def pooled_lean(n: int) -> None:
        for i in range(n):
            resp = lean.get(url + endpoints[i % 2], timeout=10.0)
            resp.raise_for_status()
            resp.json()

    def ours(n: int) -> None:
        system = client.system
        for i in range(n):
            if i % 2:
                system.version()
            else:
                system.ping()

    ways = {"baseline": baseline, "pooled": pooled, "lean": pooled_lean, "client": ours}
    for way in ways.values():  # warm up connections and code paths
        way(20)
    per_round = max(1, calls // rounds)
    wall: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(rounds):
        order = list(ways.items())
        order = order[r % len(order) :] + order[: r % len(order)]
        for name, way in order:
            started, started_cpu = time.perf_counter(), time.process_time()
            way(per_round)
            wall[name].append((time.perf_counter() - started) / per_round)
            cpu[name].append((time.process_time() - started_cpu) / per_round)
    n = per_round * rounds
    med = {name: statistics.median(values) for name, values in wall.items()}
    cpu_per_call = {name: sum(values) / len(values) for name, values in cpu.items()}
    print(f"{n} calls each (alternating system.ping()/system.version()), {rounds} interleaved rounds of {per_round}")
    for name in ways:
        total = sum(wall[name]) * per_round
        print(
            f"  {name:9s} {n / total:6.0f} calls/s overall, median round {med[name] * 1000:.3f} ms/call, "
            f"client-side CPU {cpu_per_call[name] * 1000:.3f} ms/call"
        )
    print(f"client vs python-syncthing's way: {med['baseline'] / med['client']:.2f}x throughput (target >= 1.25)")
    print(f"bare pooled Session vs python-syncthing's way: {med['baseline'] / med['pooled']:.2f}x")
    wall_over = (med["client"] - med["pooled"]) * 1000
    cpu_over = (cpu_per_call["client"] - cpu_per_call["pooled"]) * 1000
    print(
        f"client overhead above the bare pooled Session: {wall_over:+.3f} ms/call wall (median round), "
        f"{cpu_over:+.3f} ms/call CPU in this process (target < 0.1)"
    )
    lean_wall = (med["client"] - med["lean"]) * 1000
    lean_cpu = (cpu_per_call["client"] - cpu_per_call["lean"]) * 1000
    print(
        f"client's own code above a Session configured like its own (trust_env off): {lean_wall:+.3f} ms/call wall, "
        f"{lean_cpu:+.3f} ms/call CPU"
    )


def tracker_latency(files: int, interval: float) -> None:
    import os
    import threading

    from syncthing_bridge.localdaemon import pair, share_folder, wait_connected

    with tempfile.TemporaryDirectory(prefix="bench-syncthing-tracker-") as root:
        os.environ.setdefault("SYNCSITE_VAR_DIR", root)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from syncthing_bridge import services
        from tracker import services as tracker

        daemons = [LocalDaemon(Path(root) / name, name, f"bench-key-{name}-0123456789") for name in "ab"]
        threads = [threading.Thread(target=d.start) for d in daemons]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        a, b = daemons
        listener_stop = threading.Event()
        try:
            pair(daemons)
            share_folder(
                daemons,
                "shots",
                {d.name: Path(root) / d.name / "data" for d in daemons},
                fsWatcherDelayS=1,
                rescanIntervalS=10,
            )
            wait_connected(daemons)
            instances = []
            for daemon, site in ((a, "siteA"), (b, "siteB")):
                if tracker.get_volume(site) is None:
                    tracker.create_volume(site, url=f"file:///{site}/")
                instance = services.create_instance(
                    f"bench-{daemon.name}-{int(time.time())}",
                    daemon.url,
                    daemon.api_key,
                    site=site,
                    last_event_id=daemon.client().events()._newest_id("events"),
                )
                services.map_folder(instance, "shots", "/bench")
                instances.append(instance)
            listener = threading.Thread(target=services.listen, args=(instances,), kwargs={"stop": listener_stop})
            listener.start()
            written: dict[str, float] = {}
            synced: dict[str, float] = {}
            source = Path(root) / "a" / "data"
            run_id = int(time.time())
            next_write = time.monotonic()
            deadline = None
            while len(synced) < files:
                now = time.monotonic()
                if len(written) < files and now >= next_write:
                    name = f"f{run_id}-{len(written):04}.bin"
                    (source / name).write_bytes(os.urandom(1024))
                    written[f"/bench/{name}"] = time.monotonic()
                    next_write += interval
                    if len(written) == files:
                        deadline = time.monotonic() + 60
                waiting = [p for p in written if p not in synced]
                if waiting:
                    for node in tracker.get_nodes(waiting):
                        if node and node.get("synced_siteB"):
                            synced[node["_id"]] = time.monotonic()
                if deadline and time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        finally:
            listener_stop.set()
            for d in daemons:
                d.stop()
        missing = [p for p in written if p not in synced]
        if missing:
            for node in tracker.get_nodes(missing[:5]):
                print("  not synced:", node)
    latencies = sorted(synced[p] - written[p] for p in synced)
    print(f"tracker feed: {len(synced)}/{files} files written at A reached synced_siteB")
    if latencies:
        p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
        print(
            f"  latency write→synced_siteB: p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, "
            f"max {latencies[-1]:.2f} s (target p95 < 3 s)"
        )


if __name__ == "__main__":
    main()
