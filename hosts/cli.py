"""The `manage.py syncer` command line: one click group that plugins extend (syncerapi.v1.core.cli).

Written as cmdbsyncer plugins write it (the group behaves as Flask's `AppGroup`):

    import click
    from syncerapi.v1.core import cli

    @cli.group(name="vmware")
    def vmware(): ...

    @vmware.command("import_vms")
    @click.option("--account", required=True)
    def import_vms(account): ...

runs as `manage.py syncer vmware import_vms --account x` (or `import-vms`: `_` and `-` are one).
Syncsite's argparse-style form keeps working through a thin adapter onto click:

    @cli.command("import-mysource", help="Import hosts from my source")
    @cli.argument("account")
    @cli.argument("--dry-run", action="store_true")
    def import_mysource(account, dry_run=False): ...

A command's return value, when not None, is printed. An exception ends the command with the message
on stderr and exit code 1; an unexpected one (not a ValueError, LookupError or PermissionError) is
also written to the run log as a failed entry.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Sequence
from functools import update_wrapper
from typing import Any, TextIO

import click

#: Domain errors: the message is the whole story (printed as `CommandError: message`).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, LookupError, PermissionError)

_output: contextvars.ContextVar[TextIO | None] = contextvars.ContextVar("syncer_cli_output", default=None)


def _canonical(name: str) -> str:
    return name.replace("_", "-")


def _echo_result(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print what a Syncsite-style command returns (click ignores return values)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if result is not None:
            stream = _output.get() or sys.stdout
            stream.write(f"{result}\n")
        return result

    return update_wrapper(run, func)


class _CallableType(click.ParamType):
    """An argparse `type=` callable as a click type: its ValueError/TypeError becomes a usage error."""

    def __init__(self, func: Callable[[str], Any]):
        self.func = func
        self.name = getattr(func, "__name__", "value")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.func(value)
        except (ValueError, TypeError) as exc:
            self.fail(f"{value!r} is not a valid {self.name}: {exc}", param, ctx)


def _click_type(value: Any) -> Any:
    if value is None or value in (str, int, float, bool) or isinstance(value, click.ParamType):
        return value
    return _CallableType(value)


def argparse_param(args: Sequence[str], kwargs: dict[str, Any]) -> click.Parameter:
    """One argparse `add_argument(*args, **kwargs)` as the click option or argument it stands for."""
    options = dict(kwargs)
    action = options.pop("action", None)
    dest = options.pop("dest", None)
    nargs = options.pop("nargs", None)
    choices = options.pop("choices", None)
    type_ = _click_type(options.pop("type", None))
    if choices is not None:
        type_ = click.Choice([str(choice) for choice in choices])
    params: dict[str, Any] = {}
    for key in ("default", "required", "metavar"):
        if key in options:
            params[key] = options.pop(key)
    help_text = options.pop("help", None)
    options.pop("const", None)
    if options:
        raise TypeError(f"cli.argument{tuple(args)}: unsupported argparse keywords {sorted(options)}")
    if type_ is not None:
        params["type"] = type_
    if nargs in ("*", "+"):
        params["nargs"] = -1
        if nargs == "+":
            params["required"] = True
    elif isinstance(nargs, int):
        params["nargs"] = nargs
    if not str(args[0]).startswith("-"):
        if nargs in ("?", "*"):
            params.setdefault("required", False)
        decls = [dest or str(args[0])]
        return click.Argument(decls, **params)
    decls = [str(arg) for arg in args] + ([dest] if dest else [])
    if action == "store_true":
        params.update(is_flag=True, default=params.get("default", False))
    elif action == "store_false":
        params.update(is_flag=True, flag_value=False, default=params.get("default", True))
    elif action == "append":
        params["multiple"] = True
    elif action == "count":
        params["count"] = True
    elif action not in (None, "store"):
        raise TypeError(f"cli.argument{tuple(args)}: unsupported argparse action {action!r}")
    return click.Option(decls, help=help_text, **params)


class SyncerGroup(click.Group):
    """A click group where `export_hosts` and `export-hosts` name one command, with aliases and the
    argparse-style adapter of Syncsite's earlier `cli` registry. Sub-groups are of the same class."""

    group_class = type

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = {}

    # -- lookup: one spelling in help, both on the command line --------------------------------------------

    def _resolve(self, name: str) -> str | None:
        for candidate in (name, _canonical(name), name.replace("-", "_"), self.aliases.get(_canonical(name))):
            if candidate and candidate in self.commands:
                return candidate
        return None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        resolved = self._resolve(cmd_name)
        return self.commands.get(resolved) if resolved else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command is not None else name), command, rest

    def __contains__(self, name: str) -> bool:
        return self._resolve(name) is not None

    # -- registration ---------------------------------------------------------------------------------------

    def command(self, *args: Any, **kwargs: Any) -> Any:
        """click's `command` (name, then click's keywords); the return value of the function is printed."""
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return self.command()(args[0])
        make = super().command

        def decorator(func: Callable[..., Any]) -> click.Command:
            params = func.__dict__.pop("__click_params__", None)  # they belong to the command, not the function
            wrapped = _echo_result(func)
            if params is not None:
                wrapped.__click_params__ = params  # type: ignore[attr-defined]
            return make(*args, **kwargs)(wrapped)

        return decorator

    def argument(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator (below `@cli.command`): an argparse-style argument, added as click's option/argument."""
        param = argparse_param(args, kwargs)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            func.__dict__.setdefault("__click_params__", []).append(param)
            return func

        return decorator

    def add_command(  # type: ignore[override]
        self,
        cmd: click.Command | str,
        name: str | Callable[..., Any] | None = None,
        help: str = "",
        arguments: Sequence[tuple[Sequence[str], dict[str, Any]]] = (),
        *,
        aliases: Sequence[str] = (),
    ) -> None:
        """click's `add_command(cmd, name=None)`, or Syncsite's `add_command(name, func, help, arguments)`."""
        if isinstance(cmd, str):
            if not callable(name):
                raise TypeError("cli.add_command(name, func, ...): func must be callable")
            func = name
            for arg_args, arg_kwargs in reversed(list(arguments)):
                func = self.argument(*arg_args, **arg_kwargs)(func)
            command = self.command(cmd, help=help or None)(func)
            for alias in aliases:
                self.aliases[_canonical(alias)] = command.name or cmd
            return
        super().add_command(cmd, name if isinstance(name, str) else None)
        for alias in aliases:
            self.aliases[_canonical(alias)] = name if isinstance(name, str) else cmd.name  # type: ignore[assignment]

    def alias(self, alias: str, name: str) -> None:
        """Make `alias` run the command `name` (not listed in help)."""
        self.aliases[_canonical(alias)] = name

    def remove(self, name: str) -> None:
        """Unregister a command (and the aliases pointing at it)."""
        resolved = self._resolve(name)
        if resolved:
            self.commands.pop(resolved, None)
            self.aliases = {key: value for key, value in self.aliases.items() if value != resolved}


def run(
    args: Sequence[str],
    *,
    prog_name: str = "manage.py syncer",
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line once and return its exit code; errors go to `stderr`, never as a traceback.

    click's `standalone_mode=False` handling, done here so that exit codes propagate and a command's
    return value is never mistaken for one: 0 on success, `ctx.exit(code)`'s code, 2 on a usage error
    (click's message), 1 when the command raised (`CommandError: message` for a domain error; the
    exception type and message otherwise, plus a failed run log entry).
    """
    err = stderr or sys.stderr
    token = _output.set(stdout)
    try:
        with cli.make_context(prog_name, list(args)) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, ctx.exit(code)
        return exc.exit_code
    except (click.exceptions.Abort, EOFError, KeyboardInterrupt):
        err.write("Aborted!\n")
        return 1
    except click.ClickException as exc:
        exc.show(file=err)
        return exc.exit_code
    except EXPECTED_ERRORS as exc:
        err.write(f"CommandError: {exc}\n")
        return 1
    except Exception as exc:  # a plugin's command failed: say so, record it, exit non-zero
        message = f"{type(exc).__name__}: {exc}"
        err.write(f"Error: {message}\n")
        _log_failure(list(args), message)
        return 1
    finally:
        _output.reset(token)
    return 0


def _log_failure(args: list[str], message: str) -> None:
    from hosts.models import LogEntry

    command = " ".join(arg for arg in args if not arg.startswith("-"))[:200] or "syncer"
    try:
        LogEntry.objects.create(
            source="cli",
            name=f"manage.py syncer {command}"[:200],
            has_error=True,
            details=[["error", message]],
        )
    except Exception as exc:  # the database itself may be what failed; the stderr message stands
        print(f"(the failure could not be logged: {exc})", file=sys.stderr)


@click.group(cls=SyncerGroup, name="syncer", help="Import, inventorize and export hosts (and plugins' commands).")
def cli() -> None:
    """The root of `manage.py syncer` (and its alias `manage.py hosts`)."""
