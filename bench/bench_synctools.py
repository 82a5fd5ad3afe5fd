"""Benchmark synctools against what the original package did (dumpdata, then loaddata), in the same run.

    .venv/bin/python bench/bench_synctools.py [--rows 100000] [--memory-rows 10000,100000] [--memory-only]

Every site is a real process with its own database (SQLite files by default; PostgreSQL databases
created from a migrated template when DATABASE_URL is a postgres:// URL):
- speed: pull ROWS books (FK to an author) from a gunicorn source site with `manage.py synctools_pull`,
  against `manage.py dumpdata` on the source plus `manage.py loaddata` into an empty database;
- incremental: after 1% of the books were edited through the ORM on the source, an incremental pull,
  against the full pull (durations measured inside the client, without process start-up);
- memory (--memory-only runs just this): peak RSS (VmHWM / ru_maxrss) of the gunicorn worker and of
  the pulling client process for each size in --memory-rows, each with a fresh server process.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
SETTINGS = "tests.synctools.source_settings"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Databases:
    """Empty migrated databases on demand: copies of one migrated SQLite file, or PostgreSQL TEMPLATE copies."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        self.made: list[str] = []
        if self.pg:
            self.base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
            self.template = "syncsite_synctools_bench_template"
            self._sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)', f'CREATE DATABASE "{self.template}"')
            run_manage(["migrate", "--noinput", "-v", "0"], self._url(self.template))
        else:
            self.template_file = tmp / "template.sqlite3"
            run_manage(["migrate", "--noinput", "-v", "0"], f"sqlite:///{self.template_file}")

    def _url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def _sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.base + "/postgres", autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def new(self, name: str) -> str:
        if self.pg:
            db = f"syncsite_synctools_bench_{name}"
            self._sql(
                f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', f'CREATE DATABASE "{db}" TEMPLATE "{self.template}"'
            )
            self.made.append(db)
            return self._url(db)
        path = self.tmp / f"{name}.sqlite3"
        shutil.copy(self.template_file, path)
        return f"sqlite:///{path}"

    def drop_all(self) -> None:
        if self.pg:
            self._sql(*[f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in [*self.made, self.template]])


def env_for(database_url: str, var_dir: Path | None = None) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    env["SYNCTOOL_API_TOKEN"] = TOKEN
    env["SYNCSITE_VAR_DIR"] = str(var_dir or Path(tempfile.gettempdir()) / "syncsite-bench-var")
    env.pop("REDIS_URL", None)
    return env


def run_manage(args: list[str], database_url: str) -> tuple[float, int, str]:
    """Run a manage.py command; (wall seconds, peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env_for(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = proc.stdout.read()
    # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{out[-3000:]}")
    return elapsed, usage.ru_maxrss // 1024, out


def seed(database_url: str, rows: int) -> None:
    authors = max(1, rows // 100)
    code = f"from tests.synctools import scenarios; scenarios.bulk({authors}, {rows // authors})"
    run_manage(["shell", "-c", code], database_url)


class Server:
    """gunicorn with one sync worker, so the worker's VmHWM is the serving process's peak memory."""

    def __init__(self, database_url: str, tmp: Path) -> None:
        self.port = free_port()
        self.log = open(tmp / f"gunicorn-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "syncsite.wsgi:application"),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--timeout", "900"),
            ],
            cwd=ROOT,
            env=env_for(database_url),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import requests

        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the source site did not start") from None
                time.sleep(0.3)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/test/sync/{path}"

    def worker_peak_mib(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        status = Path(f"/proc/{children[0]}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) // 1024

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()


def pull(server: Server, database_url: str, *extra: str) -> tuple[float, float, int, str]:
    """(wall seconds, seconds inside the client, peak RSS MiB, output) of `manage.py synctools_pull`."""
    wall, rss, out = run_manage(
        ["synctools_pull", server.url("library"), "--token", TOKEN, "-v", "0", *extra], database_url
    )
    inside = float(re.search(r"in ([0-9.]+)s", out).group(1))
    return wall, inside, rss, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", default="10000,100000", help="comma-separated sizes; 1000000 takes ~15 min")
    parser.add_argument("--memory-only", action="store_true", help="skip the speed and incremental comparisons")
    args = parser.parse_args()
    memory_sizes = [int(n) for n in args.memory_rows.split(",") if n]

    tmp = Path(tempfile.mkdtemp(prefix="bench-synctools-"))
    dbs = Databases(tmp)
    print(f"databases: {'PostgreSQL' if dbs.pg else 'SQLite'}; rows: {args.rows}; memory sizes: {memory_sizes}")
    try:
        if not args.memory_only:
            speed(dbs, tmp, args.rows)
        memory(dbs, tmp, memory_sizes)
    finally:
        dbs.drop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def speed(dbs: Databases, tmp: Path, rows: int) -> None:
    # --- speed against dumpdata + loaddata ----------------------------------------------------
    source_db = dbs.new("source")
    seed(source_db, rows)
    fixture = tmp / "dump.json"
    dump_wall, _, _ = run_manage(["dumpdata", "synctools_testapp", "-o", str(fixture)], source_db)
    load_wall, _, _ = run_manage(["loaddata", str(fixture)], dbs.new("baseline"))
    baseline = dump_wall + load_wall
    print(f"baseline dumpdata {dump_wall:.2f}s + loaddata {load_wall:.2f}s = {baseline:.2f}s")

    server = Server(source_db, tmp)
    client_db = dbs.new("client")
    try:
        full_wall, full_inside, _, out = pull(server, client_db, "--incremental")
        print(f"synctools full pull: {full_wall:.2f}s wall ({full_inside:.2f}s inside the client) -- {out}")
        print(f"RATIO speed: dumpdata+loaddata / pull = {baseline / full_wall:.2f}x (target >= 3x)")

        run_manage(
            ["shell", "-c", "from tests.synctools import scenarios; print(scenarios.touch_books(100))"], source_db
        )
        _, inc_inside, _, out = pull(server, client_db, "--incremental")
        print(f"synctools incremental pull after 1% edited: {inc_inside:.3f}s inside the client -- {out}")
        print(f"RATIO incremental / full = {inc_inside / full_inside:.2%} (target < 5%)")
    finally:
        server.stop()


def memory(dbs: Databases, tmp: Path, memory_sizes: list[int]) -> None:
    # --- memory: server worker and client, small vs large -----------------------------------
    peaks = []
    for rows in memory_sizes:
        db = dbs.new(f"memory_source_{rows}")
        started = time.perf_counter()
        seed(db, rows)
        seeded = time.perf_counter() - started
        server = Server(db, tmp)
        try:
            before = server.worker_peak_mib()
            wall, _, client_rss, _ = pull(server, dbs.new(f"memory_client_{rows}"))
            server_rss = server.worker_peak_mib()
        finally:
            server.stop()
        peaks.append((rows, server_rss, client_rss))
        print(
            f"{rows} rows (seeded in {seeded:.0f}s): pull {wall:.1f}s; peak RSS server worker {server_rss} MiB "
            f"(idle {before} MiB), client {client_rss} MiB"
        )
    if len(peaks) >= 2:
        (small, s_server, s_client), (large, l_server, l_client) = peaks[0], peaks[-1]
        print(
            f"RATIO memory {large} vs {small} rows: server {l_server / s_server:.2f}x, "
            f"client {l_client / s_client:.2f}x (target <= 1.5x)"
        )


if __name__ == "__main__":
    main()
