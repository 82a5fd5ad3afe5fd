"""syncerapi.v1.inventory: attach data gathered elsewhere to existing hosts.

`run_inventory(config, objects, sub_key=None)` stores (hostname, data) pairs as inventory sections;
`inventorize_host(host_obj, labels, key, config)` does it for one host (cmdbsyncer's names and options).
"""

from hosts.inventory import inventorize_host, run_inventory

__all__ = ["inventorize_host", "run_inventory"]
