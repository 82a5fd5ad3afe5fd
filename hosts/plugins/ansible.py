"""Ansible dynamic inventory: the JSON an inventory script prints for `--list` and `--host NAME`.

Shape (https://docs.ansible.com/ansible/latest/dev_guide/developing_inventory.html):
`{"_meta": {"hostvars": {host: vars}}, "all": {"children": [groups..., "ungrouped"]}, group: {"hosts": [...]}}`.
Groups come from one label (comma separated values put a host in several groups); host vars are the
host's filtered attributes. This module only shapes data; the command and the API feed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

UNGROUPED = "ungrouped"
_INVALID_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


def group_name(value: Any) -> str:
    """A valid Ansible group name for a label value (Ansible itself would rewrite it the same way)."""
    name = _INVALID_GROUP_CHARS.sub("_", str(value).strip())
    if not name:
        return ""
    if name[0].isdigit():
        name = f"_{name}"
    return name


def host_groups(attributes: Mapping[str, Any], group_label: str) -> list[str]:
    """The groups a host belongs to according to its `group_label` attribute (string, list or CSV)."""
    value = attributes.get(group_label)
    if value is None or value == "":
        return []
    values = value if isinstance(value, list | tuple | set) else str(value).split(",")
    names = {group_name(item) for item in values}
    names.discard("")
    names.discard("all")
    return sorted(names)


def build_inventory(hosts: Iterable[tuple[Any, ...]], *, group_label: str = "ansible_group") -> dict:
    """The `--list` document for (hostname, host vars) pairs or (hostname, host vars, all attributes) triples.

    The groups are read from the third element when given (a group label need not be a host var), else
    from the host vars.
    """
    hostvars: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for hostname, attributes, *rest in hosts:
        hostvars[hostname] = dict(attributes)
        for group in host_groups(rest[0] if rest else attributes, group_label) or [UNGROUPED]:
            groups.setdefault(group, []).append(hostname)
    inventory: dict[str, Any] = {"_meta": {"hostvars": hostvars}}
    children = sorted(name for name in groups if name != UNGROUPED)
    children.append(UNGROUPED)
    inventory["all"] = {"children": children}
    for name in children:
        inventory[name] = {"hosts": sorted(groups.get(name, []))}
    return inventory


def host_inventory(attributes: Mapping[str, Any] | None) -> dict:
    """The `--host NAME` document: the host's vars, `{}` for an unknown host (Ansible's convention)."""
    return dict(attributes or {})
