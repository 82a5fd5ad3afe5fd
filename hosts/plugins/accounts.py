"""`show-accounts`: the accounts with their settings, never their passwords (a hosts-internal command)."""

from __future__ import annotations

from syncerapi.v1.core import cli


@cli.command("show-accounts", help="List the accounts (passwords are never shown)")
def show_accounts() -> str:
    from hosts.services import account_rows

    rows = account_rows()
    if not rows:
        return "no accounts"
    header = ("name", "type", "address", "master", "enabled", "hosts", "fields")
    table = [header, *[tuple(str(row[key]) for key in header) for row in rows]]
    widths = [max(len(line[index]) for line in table) for index in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table
    )
