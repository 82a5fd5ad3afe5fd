"""`manage.py syncer` subcommands that come with the hosts app itself."""

from __future__ import annotations

from hosts.cli import cli


@cli.command("debug-rules", help="Show which rules match a host and the attributes they produce (alias: debug-host)")
@cli.argument("hostname")
@cli.argument("--model", choices=["custom_attributes", "rewrite", "filter"], default=None, help="only this rule phase")
def debug_rules(hostname: str, model: str | None = None) -> None:
    from hosts.models import Host
    from hosts.plugin import Plugin

    if not Host.get_host(hostname, create=False):
        raise LookupError(f"host {hostname!r} not found: it does not exist")
    plugin = Plugin()
    try:
        plugin.debug_rules(hostname, model)
    finally:
        plugin.discard()


cli.alias("debug-host", "debug-rules")


@cli.command("run-cronjob", help="Run a registered cronjob now (recorded like a scheduled run)")
@cli.argument("job")
@cli.argument("--account", default=None)
def run_cronjob(job: str, account: str | None = None) -> str:
    from hosts import cronjobs

    result = cronjobs.run_cronjob(job, account=account)
    return f"{job}: done" if result is None else f"{job}: {result}"


@cli.command("list-cronjobs", help="List the registered cronjobs")
def list_cronjobs() -> str:
    from hosts import cronjobs

    return "\n".join(cronjobs.registered_cronjobs())
