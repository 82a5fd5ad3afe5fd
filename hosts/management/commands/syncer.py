"""`manage.py syncer <command>`: the subcommands plugins registered through syncerapi.v1.core.cli."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.cli import cli


class Command(BaseCommand):
    help = "Run a command added by a Syncer plugin (see docs/plugins.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = cli.commands()
        subparsers = parser.add_subparsers(dest="syncer_command", metavar="command", parser_class=type(parser))
        subparsers.required = True
        for name, command in commands.items():
            sub = subparsers.add_parser(
                name, help=command.help, called_from_command_line=parser._called_from_command_line
            )
            for args, kwargs in command.arguments:
                sub.add_argument(*args, **kwargs)

    def handle(self, *args, **options):
        name = options.pop("syncer_command", None)
        command = cli.commands().get(name)
        if command is None:
            raise CommandError(f"unknown syncer command {name!r}; known: {', '.join(cli.commands()) or 'none'}")
        dests = set()
        for arg_args, arg_kwargs in command.arguments:
            dest = arg_kwargs.get("dest") or next(
                (a.lstrip("-").replace("-", "_") for a in arg_args if a.startswith("--")),
                arg_args[0].lstrip("-").replace("-", "_"),
            )
            dests.add(dest)
        kwargs = {k: v for k, v in options.items() if k in dests}
        try:
            result = command.func(**kwargs)
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        if result is not None:
            self.stdout.write(str(result))
