"""Inventory runs: attach data gathered elsewhere to existing hosts (syncerapi.v1.inventory)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from hosts.normalize import normalize_hostname

logger = logging.getLogger("syncerapi")

BATCH = 1000


def run_inventory(config: dict[str, Any] | str, objects: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Store each (hostname, data) pair as the inventory section of an existing host.

    The section key is the account's `inventorize_key` custom field, else its name. Hosts that do
    not exist are skipped (inventory never creates hosts). Work is done in one transaction, with
    hosts loaded and written in batches. Returns {"updated", "unchanged", "not_found"} counts and names.
    """
    from hosts.models import Host
    from hosts.services import get_account

    if isinstance(config, str):
        account = get_account(config)
        if account is None:
            raise ValueError(f"account {config!r} does not exist or is disabled")
        config = account
    key = str(config.get("inventorize_key") or config.get("name") or "").strip()
    if not key:
        raise ValueError("run_inventory needs an account config with a name or an inventorize_key")

    stats: dict[str, Any] = {"updated": 0, "unchanged": 0, "not_found": []}

    def flush(batch: list[tuple[str, dict[str, Any]]]) -> None:
        names = [name for name, _ in batch]
        hosts = {h.hostname: h for h in Host.objects.filter(hostname__in=names)}
        changed = []
        for name, data in batch:
            host = hosts.get(name)
            if host is None:
                stats["not_found"].append(name)
            elif host.update_inventory(key, data):
                changed.append(host)
            else:
                stats["unchanged"] += 1
        if changed:
            Host.objects.bulk_update(changed, ["inventory", "cache"], batch_size=BATCH)
            stats["updated"] += len(changed)

    with transaction.atomic():
        batch: dict[str, dict[str, Any]] = {}
        for hostname, data in objects:
            name = normalize_hostname(hostname)
            if not name:
                stats["not_found"].append(str(hostname))
                continue
            batch[name] = data or {}
            if len(batch) >= BATCH:
                flush(list(batch.items()))
                batch = {}
        if batch:
            flush(list(batch.items()))
    logger.info(
        "inventory %s: %d updated, %d unchanged, %d not found",
        key,
        stats["updated"],
        stats["unchanged"],
        len(stats["not_found"]),
    )
    return stats
