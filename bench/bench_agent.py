"""Benchmark of the site agent against plain rsync, with the baseline measured in the same run.

Modes (first argument; default `speed`):

- `speed`: on tmpfs (/dev/shm), FILES files of 4 KB published at A; runs alternate between the baseline (the
  same FILES/1,000 batches of 1,000 files through plain `rsync -a --files-from`, into an empty folder) and an
  agent round receiving the same files at a fresh site (RUNS of each, default 5). Every run is printed with
  its wall time; the agent's runs also with the agent process's own CPU time (`getrusage(RUSAGE_SELF)` of the
  child around its round: Python and, on SQLite, the database; rsync is not counted). Targets: agent CPU
  < 0.05 ms per file, median agent wall / median plain wall <= 2.
- `round`: one round of ROUND_FILES (default 100,000) files in batches of 1,000: the agent's CPU per file of
  the first and the last batches (the cost must not grow with the queue).
- `agents`: the throughput of 1, 2 and 4 agents of one site pulling FILES files from an origin reached over
  ssh on loopback (a private sshd); every file must be copied exactly once (counted in the logs rsync itself
  writes for every copying run). Target: 2 agents >= 1.5x one.
- `scan`: a scan of SCAN_FILES (default 100,000) tracked, unchanged files. Target: < 10 s.
- `page`: the monitoring page's queries over PAGE_NODES (default 1,000,000) file nodes at 5 sites.

Runs on a throw-away SQLite file by default; set BENCH_DATABASE_URL (an empty PostgreSQL database that may be
written to) to measure on PostgreSQL. QUICK=1 shrinks every size (a run in well under two minutes).

    .venv/bin/python bench/bench_agent.py speed
    QUICK=1 .venv/bin/python bench/bench_agent.py agents
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUICK = os.environ.get("QUICK", "") not in ("", "0")
CHILD = len(sys.argv) > 1 and sys.argv[1] == "child"
if CHILD:
    WORK = Path(os.environ["BENCH_WORK"])
else:
    shm = Path("/dev/shm")
    WORK = Path(tempfile.mkdtemp(prefix="bench-agent-", dir=shm if shm.is_dir() else None))
    os.environ["BENCH_WORK"] = str(WORK)
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{WORK / 'bench.sqlite3'}"
    os.environ["SYNCSITE_VAR_DIR"] = str(WORK / "var")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from tracker import services  # noqa: E402

BATCH = 1_000
FILES = int(os.environ.get("FILES", 2_000 if QUICK else 10_000))
RUNS = int(os.environ.get("RUNS", 3 if QUICK else 5))
ROUND_FILES = int(os.environ.get("ROUND_FILES", 10_000 if QUICK else 100_000))
SCAN_FILES = int(os.environ.get("SCAN_FILES", 10_000 if QUICK else 100_000))
PAGE_NODES = int(os.environ.get("PAGE_NODES", 50_000 if QUICK else 1_000_000))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


# ---------------------------------------------------------------------------------------- child: one round


def child_round(site: str) -> None:
    """Run one agent round for `site` and print what it cost this process (JSON on the last line)."""
    batches: list[tuple[float, int]] = []
    mark = [cpu_self()]

    def log(message: str) -> None:
        if message.startswith("reception"):
            now = cpu_self()
            synced = int(message.split(": ", 1)[1].split(" ", 1)[0])
            batches.append((now - mark[0], synced))
            mark[0] = now

    agent = services.site_agent(site, log=log)
    cpu0, wall0 = cpu_self(), time.perf_counter()
    mark[0] = cpu0
    report = agent.run_once(force_scan=False)
    agent.shutdown()
    wall, cpu = time.perf_counter() - wall0, cpu_self() - cpu0
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "synced": report.reception.synced,
                "errors": report.reception.errors,
                "batches": batches,
            }
        )
    )


def run_child(site: str, env: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "child", site],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def plain_batches(src: Path, dst: Path, paths: list[str]) -> float:
    """The baseline: the agent's batches through plain rsync --files-from, one process per batch."""
    started = time.perf_counter()
    for start in range(0, len(paths), BATCH):
        listing = "\n".join(p.lstrip("/") for p in paths[start : start + BATCH])
        subprocess.run(["rsync", "-a", "--files-from=-", f"{src}/", f"{dst}/"], input=listing.encode(), check=True)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------- modes


def bench_speed() -> bool:
    a = WORK / "A"
    paths = make_tree(a, FILES, 4096)
    services.create_volume("A", url=str(a), enableReception=False)
    for run in range(RUNS):
        (WORK / f"B{run}").mkdir()
        services.create_volume(f"B{run}", url=str(WORK / f"B{run}"), enableReception=True, syncAmountReception=BATCH)
    publish_all("A", a, paths, with_stat=True)
    print(f"speed: {FILES} files x 4 KB in {FILES // BATCH} batches of {BATCH}, {RUNS} runs of each, on {WORK}")
    print(f"  before: {load()}")
    plain_times, agent_times, cpu_per_file = [], [], []
    for run in range(RUNS):
        dst = WORK / f"plain{run}"
        dst.mkdir()
        elapsed = plain_batches(a, dst, paths)
        plain_times.append(elapsed)
        print(f"  run {run + 1}: plain rsync --files-from : {elapsed:7.3f} s")
        shutil.rmtree(dst)
        result = run_child(f"B{run}")
        assert result["synced"] == FILES and result["errors"] == 0, result
        agent_times.append(result["wall"])
        cpu_per_file.append(result["cpu"] / FILES * 1000)
        print(
            f"  run {run + 1}: agent round              : {result['wall']:7.3f} s   agent CPU {result['cpu']:6.3f} s"
            f" = {cpu_per_file[-1]:.4f} ms/file"
        )
    plain, agent, cpu = statistics.median(plain_times), statistics.median(agent_times), statistics.median(cpu_per_file)
    ratio = agent / plain
    print(f"  after: {load()}")
    print(f"  median plain rsync : {plain:7.3f} s")
    print(f"  median agent       : {agent:7.3f} s   ratio {ratio:5.2f}x (target <= 2x)")
    print(f"  median agent CPU   : {cpu:.4f} ms per file (target < 0.05 ms)")
    return ratio <= 2 and cpu < 0.05


def bench_round() -> bool:
    a = WORK / "A"
    paths = make_tree(a, ROUND_FILES, 16, per_dir=1000)
    services.create_volume("A", url=str(a), enableReception=False)
    (WORK / "B").mkdir()
    services.create_volume("B", url=str(WORK / "B"), enableReception=True, syncAmountReception=BATCH)
    publish_all("A", a, paths, with_stat=True)
    print(f"round: {ROUND_FILES} files in batches of {BATCH} ({load()})")
    result = run_child("B")
    assert result["synced"] == ROUND_FILES, result
    per_file = [cpu / max(n, 1) * 1000 for cpu, n in result["batches"]]
    head, tail = per_file[:5], per_file[-5:]
    first, last = statistics.median(head), statistics.median(tail)
    per_file_all = result["cpu"] / ROUND_FILES * 1000
    print(f"  round wall {result['wall']:.2f} s, agent CPU {result['cpu']:.2f} s = {per_file_all:.4f} ms/file")
    print(f"  first 5 batches: {' '.join(f'{v:.4f}' for v in head)} ms/file (median {first:.4f})")
    print(f"  last 5 batches : {' '.join(f'{v:.4f}' for v in tail)} ms/file (median {last:.4f})")
    print(f"  last/first {last / first:.2f} ({load()})")
    return last <= first * 1.5


def start_sshd(home: Path) -> tuple[subprocess.Popen, dict]:
    """A private sshd on loopback that accepts one fresh key for the current user."""
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host_pub = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    user = pwd.getpwuid(os.getuid()).pw_name
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPidFile {home / 'sshd.pid'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\n"
        f"StrictModes no\nAllowUsers {user}\nMaxStartups 64\n"
        # bash sources ~/.bashrc for commands run over ssh when SHLVL < 2; a developer's rc file (pyenv, nvm)
        # would cost more per batch than the agent and rsync together and is no part of what is measured.
        "SetEnv SHLVL=5\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(home / "sshd_config")], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    env = {
        "TRACKER_AGENT_SSH_IDENTITY_FILE": str(home / "client_key"),
        "TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE": str(home / "known_hosts"),
    }
    return proc, {"port": port, "user": user, "env": env}


def bench_agents() -> bool:
    home = WORK / "sshd"
    home.mkdir()
    sshd, info = start_sshd(home)
    try:
        a = WORK / "A"
        paths = make_tree(a, FILES, 4096)
        services.create_volume("A", url=f"ssh://{info['user']}@127.0.0.1:{info['port']}{a}", enableReception=False)
        counts = (1, 2, 4)
        batch = max(FILES // 40, 10)
        for n in counts:
            (WORK / f"B{n}").mkdir()
            services.create_volume(f"B{n}", url=str(WORK / f"B{n}"), enableReception=True, syncAmountReception=batch)
        publish_all("A", a, paths, with_stat=True)
        # rsync behind a wrapper that gives every copying run a log of its own: the proof that no file was
        # copied twice is rsync's own account of what it received.
        logs = WORK / "rsync-logs"
        logs.mkdir()
        rsync = shutil.which("rsync") or "rsync"
        wrapper = WORK / "rsync-logged"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'case " $* " in *" --dry-run "*) exec {rsync} "$@";; esac\n'
            f'exec {rsync} --log-file="{logs}/run.$$.log" --log-file-format="%i %n" "$@"\n'
        )
        wrapper.chmod(0o755)
        settings_file = WORK / "bench_ssh_settings.py"
        settings_file.write_text(
            "from syncsite.settings import *  # noqa: F403\n"
            f"TRACKER_RSYNC_BINARY = {str(wrapper)!r}\n"
            f"TRACKER_AGENT_SSH_IDENTITY_FILE = {info['env']['TRACKER_AGENT_SSH_IDENTITY_FILE']!r}\n"
            f"TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE = {info['env']['TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE']!r}\n"
            "TRACKER_AGENT_SSH_STRICT_HOST_KEY_CHECKING = 'yes'\n"
        )
        env = {
            "DJANGO_SETTINGS_MODULE": "bench_ssh_settings",
            "PYTHONPATH": os.pathsep.join([str(WORK), str(ROOT)]),
        }
        print(f"agents: {FILES} files x 4 KB pulled over ssh (loopback), batches of {batch} ({load()})")
        rates: dict[int, float] = {}
        for n in counts:
            for log in logs.iterdir():
                log.unlink()
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "child", f"B{n}"],
                    env={**os.environ, **env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(n)
            ]
            results = []
            for proc in procs:
                out, err = proc.communicate()
                if proc.returncode != 0:
                    raise RuntimeError(err[-4000:])
                results.append(json.loads(out.strip().splitlines()[-1]))
            elapsed = time.perf_counter() - started
            synced = sum(r["synced"] for r in results)
            assert synced == FILES and not any(r["errors"] for r in results), results
            assert services.pending_count(f"B{n}") == 0
            received: dict[str, int] = {}
            for log in logs.iterdir():
                for line in log.read_text(errors="replace").splitlines():
                    flags, _, name = line.partition("] ")[2].partition(" ")
                    if flags.startswith(">f"):
                        received[name] = received.get(name, 0) + 1
            assert len(received) == FILES and set(received.values()) == {1}, "a file was copied twice, or never"
            rates[n] = FILES / elapsed
            shares = ", ".join(str(r["synced"]) for r in results)
            print(f"  {n} agent(s): {elapsed:7.3f} s  {rates[n]:8.0f} files/s  (files per agent: {shares}; {load()})")
        speedup = rates[2] / rates[1]
        print(f"  2 agents / 1 agent: {speedup:.2f}x (target >= 1.5x); 4 agents / 1: {rates[4] / rates[1]:.2f}x")
        return speedup >= 1.5
    finally:
        sshd.terminate()
        sshd.wait()


def bench_scan() -> bool:
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
    report = agent.scan(force=True)
    elapsed = time.perf_counter() - started
    assert report.files == SCAN_FILES and report.new == report.modified == report.deleted == 0, report
    print(f"scan: {SCAN_FILES} tracked files, nothing changed (setup {setup:.1f} s; {load()})")
    print(f"  scan               : {elapsed:7.3f} s   (target < 10 s)")
    return elapsed < 10


def bench_page() -> bool:
    """The monitoring page's queries over PAGE_NODES file nodes at 5 sites: p50 of each view, in ms."""
    from django.core.cache import cache

    from tracker import monitoring

    count = PAGE_NODES
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
    print(f"page: {count} file nodes at {len(sites)} sites (setup {time.perf_counter() - started:.1f} s; {load()})")
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
    for name, view in views.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            view()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"  {name:24}: p50 {statistics.median(times):8.1f} ms")
    return True


MODES = {"speed": bench_speed, "round": bench_round, "agents": bench_agents, "scan": bench_scan, "page": bench_page}


def main() -> int:
    if CHILD:
        child_round(sys.argv[2])
        return 0
    mode = sys.argv[1] if len(sys.argv) > 1 else "speed"
    if mode not in MODES:
        print(f"usage: bench_agent.py [{'|'.join(MODES)}]", file=sys.stderr)
        return 2
    try:
        call_command("migrate", verbosity=0)
        print(f"database: {django.db.connection.vendor}")
        ok = MODES[mode]()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
