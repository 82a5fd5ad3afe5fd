"""Benchmark: how far Syncsite's view of a Syncthing fleet lags behind the daemons, and how fast a full refresh is.

    .venv/bin/python bench/bench_syncthing_fleet.py [--daemons 10] [--rounds 3] [--folders 20] [--files 120]
    .venv/bin/python bench/bench_syncthing_fleet.py --quick   # 3 daemons, 5 folders, 30 files: about a minute

Needs /usr/bin/syncthing. Uses a fresh SQLite file unless DATABASE_URL is set.

1. Full refresh of `--daemons` real daemons on loopback (2 folders each): `refresh_instances` serially (the
   baseline: one daemon after the other, as before) and concurrently (one pooled session per daemon in a thread
   pool), interleaved over `--rounds`; the median of each, their ratio, how many daemons were being asked at the
   same moment, and the target (concurrent < 2 s). On loopback a daemon answers in about a millisecond, so both
   are bound by the CPU and the gain is small; across a network the waits overlap.
2. Live state: 3 daemons, paired and sharing `--folders` folders through the fleet actions; `manage.py
   syncthing_listen` runs as its own process. Files are written one every `--interval` seconds, round robin over
   the daemons and folders, each followed by a scan. The listener runs with `-v 2`: it prints each change event
   once the transaction that applied it has committed. Every LocalChangeDetected / RemoteChangeDetected event the
   daemons emit about the files is looked up there by its id (counted per event and per file, not sampled from
   the folders' last change, which a burst of several files in one folder overwrites within one batch); the lag
   is the time from the event (the daemon's clock: same machine) until that commit. Prints applied/expected
   events and files and the p50/p95/max lag (target: every event applied, p95 < 2 s).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
ROOT = Path(__file__).resolve().parent.parent

from syncthing_bridge.localdaemon import LocalDaemon  # noqa: E402


def start_all(daemons: list[LocalDaemon]) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(daemons)) as pool:
        list(pool.map(lambda d: d.start(), daemons))


def full_refresh(root: Path, count: int, rounds: int) -> None:
    from syncthing_bridge import services
    from syncthing_bridge.localdaemon import share_folder
    from syncthing_bridge.mirror import MAX_PARALLEL_REFRESH

    daemons = [LocalDaemon(root / f"r{i}", f"r{i}", f"bench-refresh-{i}-0123456789") for i in range(count)]
    start_all(daemons)
    instances = [services.create_instance(f"refresh-{d.name}-{int(time.time())}", d.url, d.api_key) for d in daemons]
    try:
        for daemon in daemons:
            for k in range(2):
                share_folder([daemon], f"f{k}", {daemon.name: root / daemon.name / f"f{k}"})
        from syncthing_bridge import mirror

        in_flight = {"now": 0, "peak": 0}
        lock = threading.Lock()
        fetch = mirror._fetch

        def counted_fetch(instance):
            """The daemons being asked at the same moment: shows the concurrency."""
            with lock:
                in_flight["now"] += 1
                in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
            try:
                return fetch(instance)
            finally:
                with lock:
                    in_flight["now"] -= 1

        mirror._fetch = counted_fetch
        peaks = {}
        serial, concurrent = [], []
        for _ in range(rounds):
            for parallel, times in ((1, serial), (MAX_PARALLEL_REFRESH, concurrent)):
                started = time.perf_counter()
                failed = services.refresh_instances(instances, parallel=parallel)
                times.append(time.perf_counter() - started)
                assert not failed, failed
                peaks[parallel] = in_flight["peak"]
                in_flight["peak"] = 0
    finally:
        mirror._fetch = fetch
        for instance in instances:
            services.delete_instance(instance)
        with concurrent_pool(len(daemons)) as pool:
            list(pool.map(lambda d: d.stop(), daemons))
    s, c = statistics.median(serial), statistics.median(concurrent)
    print(f"full refresh of {count} daemons (2 folders each), median of {rounds}:")
    print(f"  baseline, one after the other: {s:.2f} s (daemons asked at once: {peaks[1]})")
    print(
        f"  concurrent (a pooled session per daemon, up to {MAX_PARALLEL_REFRESH} threads): {c:.2f} s"
        f" (daemons asked at once: {peaks[MAX_PARALLEL_REFRESH]})"
    )
    print(f"  speed-up {s / c:.1f}x; target concurrent < 2 s: {'met' if c < 2 else 'NOT met'}")


def concurrent_pool(n: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max(1, n))


def live_lag(root: Path, folders: int, files: int, interval: float) -> None:
    from syncthing_bridge import services

    daemons = [LocalDaemon(root / f"l{n}", f"l{n}", f"bench-live-{n}-0123456789") for n in "xyz"]
    start_all(daemons)
    listener = None
    device_lags: list[float] = []
    stamp = int(time.time())
    inst = [services.create_instance(f"live-{d.name}-{stamp}", d.url, d.api_key) for d in daemons]
    applied: dict[tuple[str, int], float] = {}  # (instance, disk event id) -> when the listener committed it
    expected: list[tuple[str, dict]] = []
    try:
        services.refresh_all()
        for i in range(3):
            for j in range(i + 1, 3):
                services.pair_instances(inst[i], inst[j])
        folder_ids = [f"live{k:02}" for k in range(folders)]
        for fid in folder_ids:
            services.share_folder(fid, {i: str(root / i.name / fid) for i in inst})
        services.refresh_instances(inst)
        for instance, daemon in zip(inst, daemons, strict=True):
            with daemon.client() as st:
                events = st.events()
                instance.last_event_id = events._newest_id("events")
                instance.last_disk_event_id = events._newest_id("events/disk")
            services.update_instance(
                instance, last_event_id=instance.last_event_id, last_disk_event_id=instance.last_disk_event_id
            )
        # -v 2: the listener prints each change event once its row is committed (applied events counted per file,
        # not sampled from the folders' last change, which a burst of several files in one folder overwrites)
        listener = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "syncthing_listen",
                *(i.name for i in inst),
                "-v2",
                "--poll-timeout=5",
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            text=True,
        )
        started = threading.Event()
        reader = threading.Thread(target=read_applied, args=(listener.stdout, applied, started), daemon=True)
        reader.start()
        started.wait(120)  # the listener process has started (its start-up is not what is measured) ...
        time.sleep(1)  # ... and its threads have connected
        written = {(folder_ids[n % folders], f"w{stamp}-{n:04}.txt") for n in range(files)}
        for n in range(files):
            daemon, instance = daemons[(n // folders) % 3], inst[(n // folders) % 3]
            fid = folder_ids[n % folders]
            name = f"w{stamp}-{n:04}.txt"
            path = root / instance.name / fid
            path.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(f"file {n}")
            with daemon.client() as st:
                st.db.scan(fid, sub=name)
            time.sleep(interval)
        # every file at all three daemons (the two peers pulled it), then every change event they emitted applied
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            expected = change_events(inst, daemons, written)
            if len({(i, e["data"]["folder"], e["data"]["path"]) for i, e in expected}) >= 3 * files and all(
                (i, e["id"]) in applied for i, e in expected
            ):
                break
            time.sleep(0.5)
        device_lags = pause_probe(daemons[0], inst[0], daemons[1].device_id, rounds=10)
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(30)
        for instance in inst:
            services.delete_instance(instance)
        with concurrent_pool(len(daemons)) as pool:
            list(pool.map(lambda d: d.stop(), daemons))
    lags, per_file = [], {}
    for instance_name, event in expected:
        data = event["data"]
        counts = per_file.setdefault((data["folder"], data["path"]), [0, 0])
        counts[1] += 1
        when = applied.get((instance_name, event["id"]))
        if when is None:
            if os.environ.get("BENCH_VERBOSE"):
                print("  not applied:", instance_name, event["id"], event["type"], event["time"], data["path"])
            continue
        counts[0] += 1
        happened = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
        lags.append(max(0.0, when - happened))
    lags.sort()
    p95 = lags[max(0, round(0.95 * len(lags)) - 1)] if lags else float("nan")
    device_lags.sort()
    if device_lags:
        print(
            f"device paused/resumed at x (a fleet action; DevicePaused/DeviceResumed and ConfigSaved, which re-reads"
            f" the instance): {len(device_lags)} changes, lag p50 {statistics.median(device_lags):.2f} s,"
            f" max {device_lags[-1]:.2f} s"
        )
    complete = sum(1 for done, total in per_file.values() if done == total)
    print(f"live state: 3 daemons x {folders} folders, {files} files written, listener in its own process")
    print(f"  change events applied (counted per event, from the listener's log): {len(lags)}/{len(expected)}")
    print(f"  files with every event applied: {complete}/{len(per_file)} (of {files} written)")
    if lags:
        p50 = statistics.median(lags)
        print(f"  lag behind the daemon's event: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lags[-1]:.2f} s")
    met = lags and p95 < 2 and len(lags) == len(expected) and complete == files
    print(f"  target p95 < 2 s with every event applied: {'met' if met else 'NOT met'}")


def read_applied(stream, applied: dict, started: threading.Event) -> None:
    """Collect the listener's "<unix time> applied <instance> <folder> <event id> <event time> <path>" lines."""
    for line in stream:
        if line.startswith("listening to "):
            started.set()
        parts = line.split(" ", 6)
        if len(parts) == 7 and parts[1] == "applied":
            applied[(parts[2], int(parts[4]))] = float(parts[0])


def change_events(instances, daemons, written: set) -> list[tuple[str, dict]]:
    """The daemons' own LocalChangeDetected / RemoteChangeDetected events about the written files."""
    found = []
    for instance, daemon in zip(instances, daemons, strict=True):
        with daemon.client() as st:
            since = instance.last_disk_event_id  # where the listener started (the daemon keeps its newest 1000)
            events = st.events().get("events/disk", params={"since": since, "timeout": 0}) or []
        for event in events:
            data = event.get("data") or {}
            if (data.get("folder"), data.get("path")) in written:
                found.append((instance.name, event))
    return found


def pause_probe(daemon: LocalDaemon, instance, device_id: str, rounds: int) -> list[float]:
    """Pause and resume a device through the fleet action; lag from the daemon's event to Syncsite's row."""
    from syncthing_bridge import services
    from syncthing_bridge.models import SyncthingDevice

    seen = []
    with daemon.client() as st:
        first = st.events()._newest_id("events")  # the daemon keeps its last 1000 events: ask from here
    for k in range(rounds):
        paused = k % 2 == 0
        services.set_device_paused(device_id, paused, [instance])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if SyncthingDevice.objects.filter(instance=instance, device_id=device_id, paused=paused).exists():
                seen.append(time.time())
                break
            time.sleep(0.02)
        time.sleep(0.5)
    with daemon.client() as st:
        events = st.events().get("events", params={"since": first, "timeout": 0}) or []
    times = [
        datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
        for e in events
        if e["type"] in ("DevicePaused", "DeviceResumed") and (e.get("data") or {}).get("device") == device_id
    ][-rounds:]
    if len(seen) != rounds or len(times) != rounds:
        print(f"  device probe: {len(seen)} changes seen, {len(times)} events (of {rounds})")
        return []
    return [max(0.0, s - t) for s, t in zip(seen, times, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--daemons", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folders", type=int, default=20)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--quick", action="store_true", help="3 daemons, 5 folders, 30 files (about a minute)")
    args = parser.parse_args()
    if args.quick:
        args.daemons, args.rounds, args.folders, args.files = 3, 1, 5, 30
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as root:
        os.environ.setdefault("SYNCSITE_VAR_DIR", root)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        full_refresh(Path(root), args.daemons, args.rounds)
        live_lag(Path(root), args.folders, args.files, args.interval)
        print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
