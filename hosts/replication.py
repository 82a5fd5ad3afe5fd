"""What a replication pull (synctools) may change in this site's hosts: the importers' ownership rule.

A pulled host replaces the local host of the same name, except a local host that belongs to this site: one
not pulled from this source that is owned by an account this site made itself (not pulled from this source
before this pull), or that the owner of the pulled copy may not take over (`hosts.ownership.may_take_over`:
locked, or owned by a master account while the pulled owner is not one). Such a host keeps its local copy.
"""

from __future__ import annotations

from typing import Any

from hosts import ownership
from hosts.models import Account, Host


def host_refusals(rows: list[tuple[Host, Host | None]], context: Any) -> set[int]:
    """Indexes of (pulled, local) pairs whose pulled host must not replace the local one."""
    local_hosts = [local for _, local in rows if local is not None]
    if not local_hosts:
        return set()
    pulled_before = context.came_from_source(Host, [host.pk for host in local_hosts])
    owner_ids = {host.account_id for host in local_hosts if host.account_id is not None}
    accounts = Account.objects.in_bulk(owner_ids | {pulled.account_id for pulled, _ in rows if pulled.account_id})
    source_accounts = context.came_from_source(Account, owner_ids)
    refused = set()
    for index, (pulled, local) in enumerate(rows):
        if local is None or local.pk in pulled_before:
            continue
        owner = accounts.get(local.account_id)
        if owner is not None and owner.pk not in source_accounts:
            refused.add(index)  # owned by one of this site's own accounts
            continue
        new_owner = accounts.get(pulled.account_id)
        if local.account_id != pulled.account_id and not ownership.may_take_over(
            locked=local.locked,
            owner_is_master=owner is not None and owner.is_master,
            claimant_is_master=new_owner is not None and new_owner.is_master,
        ):
            refused.add(index)
    return refused


def seen_refusals(rows: list, context: Any) -> set[int]:
    """A host's seen mark follows its host: refused where the host's pulled copy was."""
    refused_hosts = context.refused(Host)
    return {index for index, (pulled, _) in enumerate(rows) if pulled.host_id in refused_hosts}
