"""Export plugins: Ansible dynamic inventory, CSV and JSON of the filtered attributes of export hosts.

Host vars and exported columns are the *filtered* attributes (what the filter rules whitelist); the
Ansible groups are read from the group label among *all* attributes, so it need not be whitelisted.

Written against `syncerapi.v1` only: hosts come from `Host.get_export_hosts()` and their attributes from
`Plugin.get_attributes` (custom attributes -> rewrite -> filter, cached per host). Hosts a rule ignores
are left out.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hosts.plugins.ansible import build_inventory, host_inventory
from hosts.plugins.exporters import write_csv, write_json
from syncerapi.v1 import Host, register_cronjob
from syncerapi.v1.core import Plugin, app_config, cli
from syncerapi.v1.rest import API

CACHE_KEY = "export"


def default_group_label() -> str:
    """Label whose value names a host's Ansible group(s) (HOSTS_ANSIBLE_GROUP_LABEL)."""
    return str(app_config.get("HOSTS_ANSIBLE_GROUP_LABEL", "ansible_group"))


class ExportPlugin(Plugin):
    """Iterates the export hosts with their filtered attributes; the run log counts what was written."""

    name = "export"
    source = "export"

    def __init__(self, account: str | dict[str, Any] | bool = False, *, record: bool = True):
        super().__init__(account)
        self.record = record
        self.exported = 0
        self.ignored = 0

    def hosts(self, with_all: bool = False) -> Iterator[tuple[Any, ...]]:
        """(hostname, filtered attributes), plus all attributes as a third element with `with_all`."""
        for db_host in Host.get_export_hosts().iterator(chunk_size=2000):
            attributes = self.get_attributes(db_host, CACHE_KEY)
            if attributes is False:
                self.ignored += 1
                continue
            self.exported += 1
            if with_all:
                yield db_host.hostname, attributes["filtered"], attributes["all"]
            else:
                yield db_host.hostname, attributes["filtered"]

    def attributes_of(self, hostname: str) -> dict[str, Any] | None:
        db_host = Host.get_host(hostname, create=False)
        if not db_host or db_host.is_object or db_host.disabled:
            return None
        attributes = self.get_attributes(db_host, CACHE_KEY)
        return None if attributes is False else attributes["filtered"]

    def finish(self) -> None:
        """Write the run log (a real export) or only the computed caches (a read such as an inventory call)."""
        self.log_details.extend([("exported", self.exported), ("ignored", self.ignored)])
        if self.record:
            self.close()
        else:
            self.flush_cache()
            self.discard()


def ansible_inventory(*, group_label: str | None = None, host: str | None = None) -> dict[str, Any]:
    """`--list` document, or `--host NAME` vars; shared by the command and GET /api/v1/ansible/inventory."""
    plugin = ExportPlugin(record=False)
    plugin.name, plugin.source = "Ansible inventory", "ansible"
    try:
        if host is not None:
            return host_inventory(plugin.attributes_of(host))
        return build_inventory(plugin.hosts(with_all=True), group_label=group_label or default_group_label())
    finally:
        plugin.finish()


def export(fmt: str, stream: Any, *, hostname_column: str = "host", delimiter: str = ",") -> int:
    """Write every export host's filtered attributes as CSV or JSON to `stream`; returns how many."""
    plugin = ExportPlugin()
    plugin.name, plugin.source = f"{fmt.upper()} export", f"{fmt}_export"
    try:
        if fmt == "csv":
            return write_csv(plugin.hosts(), stream, hostname_column=hostname_column, delimiter=delimiter)
        return write_json(plugin.hosts(), stream)
    finally:
        plugin.finish()


def _write_to(output: str | None, fmt: str, **kwargs: Any) -> str | None:
    if output and output != "-":
        try:
            with open(output, "w", encoding="utf-8", newline="") as stream:
                count = export(fmt, stream, **kwargs)
        except OSError as exc:
            raise ValueError(f"{output}: cannot write ({exc.strerror})") from exc
        return f"{count} hosts written to {output}"
    buffer = io.StringIO()
    export(fmt, buffer, **kwargs)
    sys.stdout.write(buffer.getvalue())
    return None


@cli.command("export-csv", help="Export the filtered attributes of all export hosts as CSV")
@cli.argument("--output", "-o", help="file to write (default: standard output)")
@cli.argument("--hostname-column", default="host", help="name of the hostname column (default 'host')")
@cli.argument("--delimiter", default=",", help="field delimiter (default ',')")
def export_csv(output: str | None = None, hostname_column: str = "host", delimiter: str = ",") -> str | None:
    if len(delimiter) != 1:
        raise ValueError(f"the CSV delimiter must be one character, got {delimiter!r}")
    return _write_to(output, "csv", hostname_column=hostname_column, delimiter=delimiter)


@cli.command("export-json", help="Export the filtered attributes of all export hosts as JSON")
@cli.argument("--output", "-o", help="file to write (default: standard output)")
def export_json(output: str | None = None) -> str | None:
    return _write_to(output, "json")


@cli.command("ansible", help="Ansible dynamic inventory (use this command as an inventory script)")
@cli.argument("--list", dest="list_hosts", action="store_true", help="all groups and host vars")
@cli.argument("--host", help="the vars of one host")
@cli.argument("--group-label", help="label naming the groups (default HOSTS_ANSIBLE_GROUP_LABEL or ansible_group)")
def ansible(list_hosts: bool = False, host: str | None = None, group_label: str | None = None) -> str:
    if bool(list_hosts) == bool(host):
        raise ValueError("give exactly one of --list or --host NAME")
    return json.dumps(ansible_inventory(group_label=group_label, host=host), indent=2, sort_keys=True, default=str)


def _export_job(fmt: str):
    def job(account: str | None = None) -> str:
        plugin = Plugin(account) if account else None
        output = (plugin.config.get("address") if plugin else "") or ""
        if plugin is not None:
            plugin.discard()
        if not output:
            raise ValueError(f"the export-{fmt} cronjob needs an account whose address is the output file")
        return _write_to(output, fmt) or ""

    job.__name__ = job.__qualname__ = f"export_{fmt}_job"
    return job


register_cronjob("hosts: export-csv", _export_job("csv"))
register_cronjob("hosts: export-json", _export_job("json"))


# --- REST: GET /api/v1/ansible/inventory ---------------------------------------------------------------------


class AnsibleInventoryView(APIView):
    """Ansible's dynamic inventory JSON (`--list` shape), or one host's vars with `?host=NAME`."""

    @extend_schema(
        parameters=[
            OpenApiParameter("host", str, description="return only this host's vars (Ansible's --host)"),
            OpenApiParameter("group_label", str, description="label naming the groups (default ansible_group)"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return Response(
            ansible_inventory(
                group_label=request.query_params.get("group_label") or None,
                host=request.query_params.get("host") or None,
            )
        )


API.add_namespace([re_path(r"^inventory/?$", AnsibleInventoryView.as_view(), name="ansible-inventory")], "ansible")
