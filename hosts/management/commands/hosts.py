"""`manage.py hosts <command>`: import, inventorize and export hosts (commands registered with syncerapi.v1.core.cli).

Errors of a command (a bad source, an unknown account, a refused host) go to stderr with a non-zero exit.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.cli import cli


def _dest(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    if kwargs.get("dest"):
        return kwargs["dest"]
    long = next((arg for arg in args if str(arg).startswith("--")), args[0])
    return str(long).lstrip("-").replace("-", "_")


class Command(BaseCommand):
    help = (
        "Import, inventorize and export hosts: import-csv, import-json, import-yaml, import-http, inventorize-csv, "
        "inventorize-json, export-csv, export-json, ansible, debug-host, show-accounts (and plugins' commands)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="hosts_command", metavar="command", required=True)
        for name, command in cli.commands().items():
            sub = subparsers.add_parser(
                name,
                help=command.help,
                description=command.help,
                **(
                    {"called_from_command_line": parser.called_from_command_line}
                    if isinstance(parser, CommandParser)
                    else {}
                ),
            )
            for args, kwargs in command.arguments:
                sub.add_argument(*args, **kwargs)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["hosts_command"]
        command = cli.commands().get(name)
        if command is None:
            raise CommandError(f"unknown command {name!r}; known: {', '.join(cli.commands())}")
        wanted = {_dest(arg_args, arg_kwargs) for arg_args, arg_kwargs in command.arguments}
        kwargs = {key: value for key, value in options.items() if key in wanted}
        try:
            result = command.func(**kwargs)
        except (ValueError, LookupError, PermissionError) as exc:
            raise CommandError(str(exc)) from exc
        if result is not None:
            self.stdout.write(str(result))
