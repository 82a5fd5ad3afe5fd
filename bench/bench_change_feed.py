"""Benchmark of the tracker's change feed: how soon a listener of `GET /api/changes` sees a committed change.

    .venv/bin/python bench/bench_change_feed.py                 # SQLite and PostgreSQL, 200 changes each
    .venv/bin/python bench/bench_change_feed.py --quick         # 40 changes each
    .venv/bin/python bench/bench_change_feed.py --db postgresql --changes 500 --listeners 8

A real server (gunicorn, 2 workers of 8 threads) on a fresh database; LISTENERS users each long-poll the feed
(`since` = the last cursor, `wait` = 25) in a thread of this process, while this process publishes CHANGES
files one at a time at random intervals (0.05 to 0.3 s). The latency of a change is the time from the
publish's start (its commit comes a few ms later) to its arrival at a listener, for every listener (one clock:
all in this process).

Baseline, in the same run: a thread that reads the log's cursor straight from the database at the feed's own
poll interval (0.2 s), without HTTP, authentication or the permission filter: the floor any poller at that
interval has. Printed: the load average, both distributions (p50, p95, max), and the feed's p95 over the
baseline's. Target: feed p95 < 1 s.

PostgreSQL uses BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/syncsite_feed_bench; dropped and made
again, so its name must contain "bench"); SQLite a temporary file. Each database runs in its own process.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import fresh_pg, load

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/syncsite_feed_bench")
PASSWORD = "pw-Bench-123"  # a throw-away database's users


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"n={len(values)}, p50 {statistics.median(values) * 1000:.0f} ms, "
        f"p95 {percentile(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )


def run_one(args: argparse.Namespace) -> None:
    """One database, in this process (the server in its own)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
    import django

    django.setup()
    import requests
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from syncsite import changes
    from tracker import services

    call_command("migrate", verbosity=0)
    services.create_volume("paris", url="ssh://sync@paris.example/p/")
    User = get_user_model()
    names = [f"listener{n}" for n in range(args.listeners)]
    for name in names:
        services.set_user_class(User.objects.create_user(name, f"{name}@example.com", PASSWORD), "guest")

    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"),
            *("--workers", "2", "--worker-class", "gthread", "--threads", "8", "--timeout", "60"),
            "syncsite.wsgi:application",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=10)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        tokens = []
        for name in names:
            answer = requests.post(f"{base}/api/signIn/", data={"username": name, "password": PASSWORD}, timeout=10)
            answer.raise_for_status()
            tokens.append(answer.json()["token"])

        committed: dict[str, float] = {}
        feed_latency: list[float] = []
        base_latency: list[float] = []
        stop = threading.Event()
        lock = threading.Lock()
        errors: list[str] = []

        def listen(token: str) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            cursor = session.get(f"{base}/api/changes", timeout=10).json()["cursor"]
            while not stop.is_set():
                try:
                    answer = session.get(f"{base}/api/changes", params={"since": cursor, "wait": 25}, timeout=40)
                except requests.RequestException as exc:
                    errors.append(str(exc))
                    return
                arrived = time.monotonic()
                if answer.status_code != 200:
                    errors.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    return
                body = answer.json()
                cursor = body["cursor"]
                with lock:
                    for event in body["events"]:
                        if event["event"] == "publish" and event["_id"] in committed:
                            feed_latency.append(arrived - committed[event["_id"]])

        def baseline() -> None:
            from django.db import connections

            seen, accounted = changes.current().last_id, set()
            try:
                while not stop.is_set():
                    last = changes.current().last_id
                    arrived = time.monotonic()
                    if last > seen:
                        with lock:
                            for path, at in committed.items():
                                if path not in accounted and at < arrived:
                                    accounted.add(path)
                                    base_latency.append(arrived - at)
                        seen = last
                    time.sleep(0.2)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=listen, args=(token,), daemon=True) for token in tokens]
        threads.append(threading.Thread(target=baseline, daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(1)  # every listener is waiting
        rng = random.Random(7)
        began = time.monotonic()
        for n in range(args.changes):
            time.sleep(rng.uniform(0.05, 0.3))
            path = f"/bench/feed/f{n:06d}.exr"
            with lock:  # the time before the publish: a latency counts the publish itself too (never flatters)
                committed[path] = time.monotonic()
            services.publish(path, origin="paris", author="bench", file_size=4096)
        time.sleep(2)  # the last change reaches everyone
        stop.set()
        elapsed = time.monotonic() - began
        if errors:
            raise SystemExit(f"listener failed: {errors[0]}")
        expected = args.changes * args.listeners
        print(
            f"== {connection.vendor}: {args.changes} changes in {elapsed:.1f} s to {args.listeners} listeners, {load()}"
        )
        print(f"baseline (database poll every 0.2 s, in-process): {summary(base_latency)}")
        print(f"feed (GET /api/changes long-poll over HTTP):       {summary(feed_latency)}")
        print(f"events delivered {len(feed_latency)} of {expected}")
        p95, base95 = percentile(feed_latency, 0.95), percentile(base_latency, 0.95)
        print(
            f"feed p95 {p95 * 1000:.0f} ms = {p95 / base95:.2f}x the baseline's p95 ({base95 * 1000:.0f} ms); "
            f"target p95 < 1000 ms: {'met' if p95 < 1 and len(feed_latency) == expected else 'NOT met'}",
            flush=True,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--listeners", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="40 changes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.changes = 40
    if args.child:
        run_one(args)
        return
    for db in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp:
            env = {**os.environ, "SYNCSITE_VAR_DIR": tmp, "SECRET_KEY": "bench-feed-secret-key-" + "x" * 40}
            env.pop("REDIS_URL", None)
            if db == "postgresql":
                fresh_pg(PG_URL)
                env["DATABASE_URL"] = PG_URL
            else:
                env["DATABASE_URL"] = f"sqlite:///{tmp}/feed.sqlite3"
            argv = [sys.executable, __file__, "--child", "--db", db, "--changes", str(args.changes)]
            subprocess.run([*argv, "--listeners", str(args.listeners)], env=env, check=True)


if __name__ == "__main__":
    main()
