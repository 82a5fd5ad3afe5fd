"""`manage.py syncer GROUP COMMAND [ARGS]`: the click command line of hosts and its plugins (hosts.cli).

The arguments go to the click group untouched, so help, usage errors and exit codes are click's;
a command's error goes to stderr with a non-zero exit. Through `call_command` the same errors arrive
as `CommandError` (with click's exit code as `returncode`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from hosts import cli as syncer_cli
from hosts.discovery import failed_plugins


def _plugin_errors() -> list[str]:
    return [f"syncer plugin {name!r} failed to import: {error}" for name, error in failed_plugins().items()]


class Command(BaseCommand):
    help = "Import, inventorize and export hosts, and run plugins' commands (`syncer --help` lists them)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help="a command and its arguments")

    def prog_name(self, argv: list[str]) -> str:
        return f"{os.path.basename(argv[0])} {argv[1]}"

    def run_from_argv(self, argv: list[str]) -> None:
        """Hand everything after `manage.py syncer` to click; exit with its code."""
        errors = _plugin_errors()
        try:
            if errors:
                sys.stderr.write("".join(f"CommandError: {line}\n" for line in errors))
                code = 1
            else:
                code = syncer_cli.run(argv[2:], prog_name=self.prog_name(argv))
        finally:
            connections.close_all()
        if code:
            sys.exit(code)

    def handle(self, *args: str, **options: Any) -> None:
        errors = _plugin_errors()
        if errors:
            raise CommandError("; ".join(errors))
        err = _Capture()
        code = syncer_cli.run(list(args), prog_name="syncer", stdout=self.stdout, stderr=err)
        if code:
            message = err.text().strip()
            message = message.removeprefix("CommandError: ").removeprefix("Error: ")
            raise CommandError(message, returncode=code)


class _Capture:
    """Collects the error text of one run, to raise it as a CommandError."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        return None

    def text(self) -> str:
        return "".join(self.parts)
