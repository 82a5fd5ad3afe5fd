"""Inventory runs: attach data gathered elsewhere to existing hosts (syncerapi.v1.inventory).

The account options are cmdbsyncer's, so its inventory plugins run unchanged:
`inventorize_key` (the section; default the account name), `rewrite_hostname` (see hosts.import_hosts;
a list gives the data to several hosts), `inventorize_match_by_domain` (the data goes to every host
whose name ends with the record's name), `inventorize_collect_by_key` with
`inventorize_rewrite_collect_by_key` (records naming another host in that field are listed on that
host, in the section `<key>_collection`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from hosts.import_hosts import import_hostnames
from hosts.jinja import render_jinja

logger = logging.getLogger("syncerapi")

BATCH = 1000


def inventorize_host(
    host_obj: Any, labels: dict[str, Any], key: str, config: dict[str, Any] | bool | None
) -> bool | None:
    """Replace the inventory section `key` of one host with `labels` and save it when it changed.

    None when there is no host (`Host.get_host(..., create=False)` gave False), else whether it changed.
    `config` is the account dict (kept for cmdbsyncer's signature; False for collections).
    """
    if not host_obj:
        return None
    if isinstance(labels, list):
        labels = {"list": labels}
    changed = host_obj.update_inventory(key, labels or {})
    if changed:
        host_obj.save()
    return changed


def _account(config: dict[str, Any] | str) -> dict[str, Any]:
    from hosts.services import get_account

    if isinstance(config, str):
        account = get_account(config)
        if account is None:
            raise ValueError(f"account {config!r} does not exist or is disabled")
        return account
    return config


def _collect_value(config: dict[str, Any], labels: dict[str, Any]) -> str | None:
    collect_key = config.get("inventorize_collect_by_key")
    if not collect_key:
        return None
    value = labels.get(collect_key)
    if not value:
        return None
    rewrite = config.get("inventorize_rewrite_collect_by_key")
    if rewrite:
        value = render_jinja(rewrite, **labels)
    return str(value).strip() or None


def run_inventory(
    config: dict[str, Any] | str,
    objects: Iterable[tuple[str, Any]],
    sub_key: str | None = None,
) -> dict[str, Any]:
    """Store each (hostname, data) pair as the inventory section of existing hosts.

    The section is the account's `inventorize_key`, else its name, plus `_<sub_key>` when given; list
    data is stored as `{"list": [...]}`. Hosts are never created. One transaction, hosts loaded and
    written in batches. Returns {"updated", "unchanged", "not_found", "collections"}.
    """
    from hosts.models import Host

    config = _account(config)
    key = str(config.get("inventorize_key") or config.get("name") or "").strip()
    if not key:
        raise ValueError("run_inventory needs an account config with a name or an inventorize_key")
    if sub_key:
        key = f"{key}_{sub_key}"
    by_domain = bool(config.get("inventorize_match_by_domain"))

    stats: dict[str, Any] = {"updated": 0, "unchanged": 0, "not_found": [], "collections": 0}
    collected: dict[str, list[str]] = {}

    def store(hosts: Iterable[Any], data: dict[str, Any], changed: list[Any]) -> None:
        for host in hosts:
            if host.update_inventory(key, data):
                changed.append(host)
            else:
                stats["unchanged"] += 1

    def flush(batch: dict[str, dict[str, Any]]) -> None:
        changed: list[Any] = []
        if by_domain:
            for name, data in batch.items():
                matches = list(Host.objects.filter(hostname__endswith=name))
                if not matches:
                    stats["not_found"].append(name)
                store(matches, data, changed)
        else:
            hosts = {h.hostname: h for h in Host.objects.filter(hostname__in=list(batch))}
            for name, data in batch.items():
                if name in hosts:
                    store([hosts[name]], data, changed)
                else:
                    stats["not_found"].append(name)
        if changed:
            Host.objects.bulk_update(changed, ["inventory", "cache"], batch_size=BATCH)
            stats["updated"] += len(changed)

    with transaction.atomic():
        batch: dict[str, dict[str, Any]] = {}
        for hostname, raw in objects:
            data = {"list": raw} if isinstance(raw, list) else dict(raw or {})
            names = import_hostnames(hostname, config, data)
            if not names:
                stats["not_found"].append(str(hostname))
                continue
            for name in names:
                batch[name] = data
                target = _collect_value(config, data)
                if target and target != name:
                    collected.setdefault(target, []).append(name)
            if len(batch) >= BATCH:
                flush(batch)
                batch = {}
        if batch:
            flush(batch)
        for target, members in collected.items():
            host = Host.get_host(target, create=False)
            if inventorize_host(
                host, {str(index): member for index, member in enumerate(members)}, f"{key}_collection", False
            ):
                stats["collections"] += 1
    logger.info(
        "inventory %s: %d updated, %d unchanged, %d not found",
        key,
        stats["updated"],
        stats["unchanged"],
        len(stats["not_found"]),
    )
    return stats
