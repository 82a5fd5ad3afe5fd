"""syncerapi.v1.inventory: run_inventory(config, objects) attaches (hostname, data) pairs to hosts."""

from hosts.inventory import run_inventory

__all__ = ["run_inventory"]
