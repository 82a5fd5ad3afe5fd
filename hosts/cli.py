"""A registry of `manage.py syncer <command>` subcommands that plugins add (syncerapi.v1.core.cli).

    from syncerapi.v1.core import cli

    @cli.command("import-mysource", help="Import hosts from my source")
    @cli.argument("account", help="account name")
    @cli.argument("--dry-run", action="store_true")
    def import_mysource(account, dry_run=False):
        ...

Then: `manage.py syncer import-mysource my_account --dry-run`. Arguments are argparse's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CliCommand:
    name: str
    func: Callable[..., Any]
    help: str = ""
    arguments: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)


class CommandRegistry:
    """What plugins use to add subcommands to `manage.py syncer`."""

    def __init__(self) -> None:
        self._commands: dict[str, CliCommand] = {}

    def command(self, name: str | None = None, help: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the function as a subcommand (name defaults to the function name, _ -> -)."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            command_name = name or func.__name__.replace("_", "-")
            pending = getattr(func, "_cli_arguments", [])
            doc_lines = (func.__doc__ or "").strip().splitlines()
            self._commands[command_name] = CliCommand(
                name=command_name,
                func=func,
                help=help or (doc_lines[0] if doc_lines else ""),
                arguments=list(reversed(pending)),
            )
            return func

        return decorator

    def argument(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator (below @cli.command): add an argparse argument to the subcommand."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            func.__dict__.setdefault("_cli_arguments", []).append((args, kwargs))
            return func

        return decorator

    def add_command(self, name: str, func: Callable[..., Any], help: str = "", arguments=()) -> None:
        """Register without decorators: arguments is a list of (args, kwargs) for argparse."""
        self._commands[name] = CliCommand(name=name, func=func, help=help, arguments=list(arguments))

    def remove(self, name: str) -> None:
        self._commands.pop(name, None)

    def commands(self) -> dict[str, CliCommand]:
        return dict(sorted(self._commands.items()))

    def __contains__(self, name: str) -> bool:
        return name in self._commands


cli = CommandRegistry()
