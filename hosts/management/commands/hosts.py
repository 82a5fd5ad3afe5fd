"""`manage.py hosts ...`: another name of `manage.py syncer` (the same click command line)."""

from hosts.management.commands.syncer import Command as SyncerCommand


class Command(SyncerCommand):
    help = "The same as `manage.py syncer`: import, inventorize and export hosts, and plugins' commands."
