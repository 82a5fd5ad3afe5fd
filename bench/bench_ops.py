"""Benchmark of the operations paths, each against a baseline measured in the same run.

1. Telling a failed round: `report_round` for a round with FAILED failed files (the event, the incident, one
   digest mail through Django's locmem backend) against the round's own bookkeeping of those failures
   (`mark_error_many`). One message whatever the number of failures; the cost should stay a fraction.
2. A Prometheus scrape (`/metrics`, the site's gauges over SITES sites and FILES tracked files) and the
   health check task against the monitoring page's per-site summary (`tracker.monitoring.site_summaries`).

Runs on a throw-away SQLite file; BENCH_DATABASE_URL (an empty PostgreSQL database) measures on PostgreSQL.
Full sizes: FILES=100000 files at SITES=20 sites, FAILED=1000. `--quick` (or QUICK=1): 5,000 files, 5 sites.

    .venv/bin/python bench/bench_ops.py [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-ops-"))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ["SYNCSITE_VAR_DIR"] = str(WORK / "var")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["METRICS_TOKEN"] = "bench"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from notifications.models import Channel, Rule  # noqa: E402
from tracker import monitoring, services  # noqa: E402

QUICK = "--quick" in sys.argv or os.environ.get("QUICK") == "1"
FILES = int(os.environ.get("FILES", 5_000 if QUICK else 100_000))
SITES = int(os.environ.get("SITES", 5 if QUICK else 20))
FAILED = int(os.environ.get("FAILED", 1_000))


def timed(func, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    print(
        f"load average {os.getloadavg()}; {FILES} files, {SITES} sites, {FAILED} failed;"
        f" db {settings.DATABASES['default']['ENGINE']}"
    )
    services.create_volume("origin", url=str(WORK / "origin"), enableReception=False)
    for i in range(SITES):
        services.create_volume(f"s{i:02}", url=f"ssh://nobody@127.0.0.1:1/s{i:02}", notifiedEmails="ops@example.com")
    chunk = 5_000
    for start in range(0, FILES, chunk):
        items = [
            {"_id": f"/proj/d{i // 500:04}/f{i:06}.bin", "origin": "origin"}
            for i in range(start, min(FILES, start + chunk))
        ]
        services.publish_many(items, author="bench")
    channel = Channel.objects.create(name="mail", kind=Channel.EMAIL, recipients="ops@example.com")
    rule = Rule.objects.create(name="all", cooldown_minutes=0)
    rule.channels.set([channel])
    paths = [f"/proj/d{i // 500:04}/f{i:06}.bin" for i in range(FAILED)]
    errors = [(p, 255, "ssh: connect to host 127.0.0.1 port 1: Connection refused") for p in paths]

    baseline = timed(lambda: services.mark_error_many(errors, "s00"))
    mail.outbox = []
    tell = timed(lambda: services.report_round("s00", f"0 synced, {FAILED} failed", FAILED))
    print(
        f"1. failed round: mark_error_many {baseline:.3f}s (baseline); report_round + digest {tell:.3f}s;"
        f" ratio {tell / baseline:.2f}; messages per round {len(mail.outbox) / 3:.0f}"
    )

    client = Client()
    summaries = timed(lambda: (monitoring.cache.clear(), monitoring.site_summaries(services.sites())))
    scrape = timed(lambda: client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench"))
    check = timed(lambda: services.check_health())
    print(
        f"2. monitoring summaries {summaries:.3f}s (baseline); /metrics scrape {scrape:.3f}s, ratio"
        f" {scrape / summaries:.2f}; health check {check:.3f}s, ratio {check / summaries:.2f}"
    )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
