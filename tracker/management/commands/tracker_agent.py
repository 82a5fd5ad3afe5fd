"""`manage.py tracker_agent --site NAME [--once]`: run a site's agent (reception, emission, discovery).

With --once the round ends with a summary line on stderr and the exit code cron needs: 0 when every file
made it, 1 when some failed or a phase could not run (the JSON report stays the last line of stdout).
"""

from __future__ import annotations

import json
import signal

from django.core.management.base import BaseCommand, CommandError

from tracker import services
from tracker.agent.runner import AgentError


class Command(BaseCommand):
    help = "Run the agent of one site: receive and emit files with rsync, scan the volume, report on the volume node."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site", required=True, help="the volume's name (its node in the tracker)")
        parser.add_argument(
            "--once", action="store_true", help="one round (drain the queues, scan once) and exit, for cron"
        )

    def handle(self, *args, site: str, once: bool, **options) -> None:
        verbosity = options.get("verbosity", 1)

        def log(message: str) -> None:
            if verbosity >= 1:
                self.stdout.write(message)

        try:
            agent = services.site_agent(site, log=log)
        except AgentError as exc:
            raise CommandError(str(exc)) from exc

        def stop(signum, _frame) -> None:
            log(f"signal {signum}: finishing the current batch, then stopping")
            agent.stop_event.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if once:
                try:
                    report = agent.run_once(force_scan=True)
                finally:
                    agent.shutdown()
                data = report.as_dict()
                summary, failed, problems = services.summarize(data)
                services.report_round(site, summary, failed, problems)
                if verbosity >= 1:
                    self.stdout.write(json.dumps(data, sort_keys=True))
                line = f"tracker_agent {site}: {summary}"
                if failed:
                    raise CommandError(line, returncode=1)
                if verbosity >= 1:
                    self.stderr.write(line)
            else:
                log(f"agent for {site} started")
                agent.run_forever()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
