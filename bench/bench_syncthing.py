"""Benchmark: syncthing_bridge.client against python-syncthing's way of calling, in the same run.

    .venv/bin/python bench/bench_syncthing.py [--calls 1000] [--rounds 5]

Starts one real Syncthing daemon on loopback (needs /usr/bin/syncthing), then makes `calls` alternating
system.ping()/system.version() calls three ways, interleaved in `rounds` so that machine noise hits all alike:

- baseline: python-syncthing's request path (`requests.request` per call: a new connection each time);
- pooled: a bare `requests.Session` (the lower bound of any requests-based client);
- client: `Syncthing(...).system.ping()/version()` (one pooled session, typed errors, JSON decoding).

Prints throughput, the ratio client/baseline (target >= 1.25) and the client's overhead per call above the bare
pooled session (target < 0.1 ms).
"""

from __future__ import annotations

import argparse
import json
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
        data=json.dumps(None),
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
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-syncthing-") as home:
        daemon = LocalDaemon(Path(home) / "a", "bench", "bench-api-key-0123456789")
        daemon.start()
        try:
            run(daemon, args.calls, args.rounds)
        finally:
            daemon.stop()


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

    def ours(n: int) -> None:
        system = client.system
        for i in range(n):
            if i % 2:
                system.version()
            else:
                system.ping()

    ways = {"baseline": baseline, "pooled": pooled, "client": ours}
    for way in ways.values():  # warm up connections and code paths
        way(20)
    totals = dict.fromkeys(ways, 0.0)
    per_round = max(1, calls // rounds)
    for r in range(rounds):
        order = list(ways.items())
        order = order[r % 3 :] + order[: r % 3]
        for name, way in order:
            started = time.perf_counter()
            way(per_round)
            totals[name] += time.perf_counter() - started
    n = per_round * rounds
    print(f"{n} calls each (alternating system.ping()/system.version()), {rounds} interleaved rounds")
    for name, total in totals.items():
        print(f"  {name:9s} {n / total:8.0f} calls/s  {total / n * 1000:.3f} ms/call")
    ratio = totals["baseline"] / totals["client"]
    pooled_ratio = totals["baseline"] / totals["pooled"]
    overhead_ms = (totals["client"] - totals["pooled"]) / n * 1000
    print(f"client vs python-syncthing's way: {ratio:.2f}x throughput (target >= 1.25)")
    print(f"bare pooled Session vs python-syncthing's way: {pooled_ratio:.2f}x")
    print(f"client overhead above the bare pooled Session: {overhead_ms:+.3f} ms/call (target < 0.1)")


if __name__ == "__main__":
    main()
