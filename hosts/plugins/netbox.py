"""hosts <-> NetBox through NetBox's REST API with pynetbox (account type `netbox`), on `syncerapi.v1`.

The account: address = the NetBox URL, password = an API token. pynetbox talks through the plugin's own
requests Session (`Plugin.session`: pooled, retried, bounded by the account's timeout, TLS as the account says).

Import (`import-hosts`, `inventorize-hosts`): devices and virtual machines become hosts, with labels named
`nb_*` (site, role, platform, tenant, status, tags, custom fields, primary IPs, device type, cluster; config
context and interfaces on request). `netbox_filter` (NetBox's own query parameters, `tag=prod&site=dc1`)
narrows what NetBox returns; `import_filter` and `rewrite_hostname` then apply as for every importer.

Export (`export-hosts`): hosts after rules become devices (or virtual machines). Site, role, platform,
manufacturer, device type, cluster, tags and custom fields are created when missing. NetBox is read once;
only the difference is written, in NetBox's bulk (list) create / update / delete calls of at most
`bulk_size` (100) objects. Syncsite tags what it exports with `syncsite-<account>`; only tagged objects
that left Syncsite are handled as stale: deleted, set `offline` or tagged `syncsite-stale` (`stale_action`),
with the importers' delete policy and limit. See docs/netbox.md.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pynetbox
import requests

from hosts.plugins.importers import ImportPlugin, InventorizeMixin
from hosts.plugins.sources import Row, SourceError
from syncerapi.v1 import AccountField, Host, cc, redact_url, register_cronjob
from syncerapi.v1.core import Plugin, cli
from syncerapi.v1.exporting import Change, ExportError, ExportResult, chunked, plan_changes

ACCOUNT_TYPE = "netbox"
CACHE_KEY = "netbox"
LIST_PAGE = 1000  # NetBox's MAX_PAGE_SIZE default: the fewest list requests
DEVICE = "device"
VM = "vm"
STALE_TAG = "syncsite-stale"
STALE_ACTIONS = ("delete", "offline", "tag")
SLUG = re.compile(r"[^a-z0-9_-]+")

ACCOUNT_FIELDS = (
    AccountField("netbox_filter", help="NetBox query parameters for the import, e.g. tag=prod&site=dc1"),
    AccountField("import_config_context", help="true: config context keys become nb_cc_* labels"),
    AccountField("import_interfaces", help="true: interfaces and IP addresses become nb_interfaces"),
    AccountField("object_type_attribute", help="host attribute saying device or vm (default: default_object_type)"),
    AccountField("default_object_type", help="device or vm (default device)"),
    AccountField("site_attribute", help="host attribute naming the site (default site)"),
    AccountField("role_attribute", help="host attribute naming the device role (default role)"),
    AccountField("platform_attribute", help="host attribute naming the platform (default platform)"),
    AccountField("manufacturer_attribute", help="host attribute naming the manufacturer (default manufacturer)"),
    AccountField("device_type_attribute", help="host attribute naming the device type (default device_type)"),
    AccountField("cluster_attribute", help="host attribute naming a VM's cluster (default cluster)"),
    AccountField("status_attribute", help="host attribute with the NetBox status (default status)"),
    AccountField("serial_attribute", help="host attribute with the serial number (default serial)"),
    AccountField("ipv4_attribute", help="host attribute with the primary IPv4 address (default ipv4)"),
    AccountField("ipv6_attribute", help="host attribute with the primary IPv6 address (default ipv6)"),
    AccountField("tags_attribute", help="host attribute with comma-separated tags (default tags)"),
    AccountField("custom_fields", help="comma-separated host attributes exported as NetBox custom fields"),
    AccountField("default_site", help="site when the host has none (default syncsite)"),
    AccountField("default_role", help="device role when the host has none (default server)"),
    AccountField("default_manufacturer", help="manufacturer when the host has none (default generic)"),
    AccountField("default_device_type", help="device type when the host has none (default generic)"),
    AccountField("default_status", help="status when the host has none (default active)"),
    AccountField("interface_name", help="interface that carries the primary IPs (default mgmt0)"),
    AccountField("stale_action", help="delete, offline or tag: what happens to exported objects that left"),
    AccountField("delete_stale", help="true: handle objects this account exported that left Syncsite"),
    AccountField("delete_limit", help="at most this many stale objects per run (HOSTS_IMPORT_DELETE_LIMIT)"),
    AccountField("bulk_size", help="objects per bulk request (default 100)"),
)


class NetboxError(ExportError):
    """NetBox refused or could not be reached: what was done, the status and NetBox's own message."""

    def __init__(self, what: str, message: str, status: int = 0, body: Any = None):
        self.status = status
        self.body = body
        super().__init__(f"{what}: {status} {message}" if status else f"{what}: {message}")


def slugify(value: str) -> str:
    """NetBox's slug of a name: lowercase, [a-z0-9_-], at most 100 characters."""
    return SLUG.sub("-", str(value).strip().lower()).strip("-")[:100] or "x"


def describe_errors(body: Any) -> str:
    """NetBox's error body as one line: `{"field": ["msg"]}` -> `field: msg`, `{"detail": m}` -> m."""
    if isinstance(body, dict):
        if set(body) == {"detail"}:
            return str(body["detail"])
        parts = []
        for key, value in body.items():
            text = "; ".join(str(item) for item in value) if isinstance(value, list) else describe_errors(value)
            parts.append(f"{key}: {text}")
        return ", ".join(parts)
    if isinstance(body, list):
        return "; ".join(describe_errors(item) for item in body if item)
    return str(body)


def _name(value: Any, key: str = "name") -> str:
    return str(value.get(key) or "") if isinstance(value, dict) else ""


def _address(value: Any) -> str:
    return _name(value, "address")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _truthy(value: Any) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"} if isinstance(value, str) else bool(value)


class NetboxMixin:
    """The NetBox connection of a plugin: pynetbox over the plugin's Session, with NetBox's words on failure."""

    config: dict[str, Any]
    session: requests.Session
    verify: bool

    def setting(self, name: str, default: Any = "") -> Any:
        value = self.config.get(name)
        return default if value in (None, "") else value

    def number(self, name: str, default: int) -> int:
        try:
            return max(int(self.setting(name, default)), 1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"account field {name} must be a number") from exc

    @property
    def timeout(self) -> float:
        """The account's request_timeout, else 300 s: NetBox takes tens of seconds for a bulk write of 100 devices."""
        configured = self.config.get("request_timeout")
        try:
            return float(configured) if configured else 300.0
        except (TypeError, ValueError):
            return 300.0

    @property
    def nb(self) -> pynetbox.api:
        api = getattr(self, "_nb", None)
        if api is None:
            address = str(self.config.get("address") or "").rstrip("/")
            if not address:
                raise NetboxError("connect", f"account {self.config.get('name')!r} has no address (the NetBox URL)")
            session = self.session
            session.verify = self.verify
            session.headers.update(self.account_headers())  # type: ignore[attr-defined]
            proxy = str(self.config.get("proxy") or "").strip()
            if proxy:
                session.proxies.update({"http": proxy, "https": proxy})
            self.requests_sent: Counter[str] = Counter()
            session.hooks["response"].append(self._count_request)
            api = pynetbox.api(address, token=str(self.config.get("password") or ""))
            api.http_session = session
            self._nb = api
        return api

    def _count_request(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Requests per method and endpoint (`POST dcim/devices`), for the run log and the bench."""
        path = urlsplit(response.request.url or "").path
        endpoint = path.split("/api/", 1)[-1].strip("/")
        self.requests_sent[f"{response.request.method} {endpoint}"] += 1

    def call(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one pynetbox call; a refusal or an unreachable NetBox becomes NetboxError with NetBox's message."""
        try:
            return func(*args, **kwargs)
        except pynetbox.RequestError as exc:
            try:
                body = exc.req.json()
            except ValueError:
                body = (exc.req.text or exc.req.reason or "")[:500]
            raise NetboxError(what, describe_errors(body), exc.req.status_code, body) from exc
        except requests.RequestException as exc:
            site = redact_url(str(self.config.get("address")))
            raise NetboxError(what, f"NetBox at {site} unreachable ({type(exc).__name__})") from exc

    def listing(self, endpoint: Any, what: str, **filters: Any) -> list[dict[str, Any]]:
        """Every object of a list endpoint as NetBox's JSON dicts, 1000 per request.

        pynetbox builds the requests and follows the pages; its RecordSet's `response` yields the JSON
        objects as they come, before they are wrapped as Records (which a run of 10,000 devices would pay
        for twice: once to build them, once to turn them back into dicts)."""
        return self.call(what, lambda: list(endpoint.filter(limit=LIST_PAGE, **filters).response))


# --- import --------------------------------------------------------------------------------------------


def object_labels(item: dict[str, Any], kind: str, *, config_context: bool = False) -> dict[str, Any]:
    """The `nb_*` labels of one device or virtual machine."""
    labels: dict[str, Any] = {
        "nb_object_type": kind,
        "nb_id": item.get("id"),
        "nb_site": _name(item.get("site")),
        "nb_role": _name(item.get("role")),
        "nb_platform": _name(item.get("platform")),
        "nb_tenant": _name(item.get("tenant")),
        "nb_status": _name(item.get("status"), "value"),
        "nb_tags": ",".join(sorted(_name(tag) for tag in item.get("tags") or [])),
        "nb_primary_ip4": _address(item.get("primary_ip4")).split("/")[0],
        "nb_primary_ip6": _address(item.get("primary_ip6")).split("/")[0],
        "nb_primary_ip": _address(item.get("primary_ip")).split("/")[0],
        "nb_serial": _text(item.get("serial")),
    }
    if kind == DEVICE:
        device_type = item.get("device_type") or {}
        labels["nb_device_type"] = _name(device_type, "model")
        labels["nb_manufacturer"] = _name(device_type.get("manufacturer") if isinstance(device_type, dict) else None)
    else:
        labels["nb_cluster"] = _name(item.get("cluster"))
    for tag in item.get("tags") or []:
        labels[f"nb_tag_{_name(tag, 'slug')}"] = True
    for key, value in (item.get("custom_fields") or {}).items():
        if value is not None:
            labels[f"nb_cf_{key}"] = value if isinstance(value, str | int | float | bool) else json.dumps(value)
    if config_context:
        for key, value in (item.get("config_context") or {}).items():
            labels[f"nb_cc_{key}"] = value if isinstance(value, str | int | float | bool) else json.dumps(value)
    return {key: value for key, value in labels.items() if value not in ("", None)}


class NetboxImport(NetboxMixin, ImportPlugin):
    """Devices and virtual machines -> hosts (one list request per 1000 objects), in one transaction."""

    label = "NetBox"
    source = "netbox_import"
    account_type = ACCOUNT_TYPE
    account_fields = ACCOUNT_FIELDS

    def netbox_filter(self) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        for key, value in parse_qsl(str(self.option("netbox_filter", "")), keep_blank_values=False):
            filters.setdefault(key, []).append(value)
        return {key: values[0] if len(values) == 1 else values for key, values in filters.items()}

    def read(self) -> list[Row]:
        filters = self.netbox_filter()
        context = _truthy(self.option("import_config_context", False))
        if not context:
            filters["exclude"] = "config_context"  # the costliest part of a listing, left out unless asked for
        rows: list[Row] = []
        try:
            for kind, endpoint in ((DEVICE, self.nb.dcim.devices), (VM, self.nb.virtualization.virtual_machines)):
                items = self.listing(endpoint, f"list {endpoint.name}", **filters)
                rows.extend(
                    (str(item["name"]), object_labels(item, kind, config_context=context))
                    for item in items
                    if item.get("name")
                )
            if _truthy(self.option("import_interfaces", False)):
                self.add_interfaces(rows)
        except NetboxError as exc:
            raise SourceError(str(exc)) from exc
        return rows

    def add_interfaces(self, rows: list[Row]) -> None:
        """`nb_interfaces`: a JSON list of {name, mac, addresses} per device or VM (two more listings each)."""
        by_object: dict[tuple[str, int], list[dict[str, Any]]] = {}
        addresses: dict[tuple[str, int], list[str]] = {}
        for ip in self.listing(self.nb.ipam.ip_addresses, "list ip-addresses"):
            if ip.get("assigned_object_id"):
                addresses.setdefault((str(ip.get("assigned_object_type")), ip["assigned_object_id"]), []).append(
                    str(ip.get("address"))
                )
        for kind, endpoint, type_name in (
            (DEVICE, self.nb.dcim.interfaces, "dcim.interface"),
            (VM, self.nb.virtualization.interfaces, "virtualization.vminterface"),
        ):
            owner = "device" if kind == DEVICE else "virtual_machine"
            for interface in self.listing(endpoint, f"list {endpoint.name}"):
                parent = interface.get(owner) or {}
                by_object.setdefault((kind, parent.get("id")), []).append(
                    {
                        "name": interface.get("name"),
                        "mac": interface.get("mac_address"),
                        "addresses": sorted(addresses.get((type_name, interface["id"]), [])),
                    }
                )
        for _hostname, labels in rows:
            found = by_object.get((labels["nb_object_type"], labels.get("nb_id")))
            if found:
                labels["nb_interfaces"] = json.dumps(sorted(found, key=lambda i: str(i["name"])))

    def address(self) -> str:
        return str(self.option("address") or "")


class NetboxInventorize(InventorizeMixin, NetboxImport):
    source = "netbox_inventorize"


# --- export --------------------------------------------------------------------------------------------

REFERENCE_FIELDS = ("site", "role", "platform", "cluster", "device_type")


class NetboxExport(NetboxMixin, Plugin):
    """One export run against one NetBox: read once, diff, bulk writes; one Session, one run-log entry."""

    name = "NetBox export"
    source = "netbox_export"
    account_type = ACCOUNT_TYPE
    account_fields = ACCOUNT_FIELDS

    def __init__(self, account: str | dict[str, Any], *, dry_run: bool = False):
        super().__init__(account)
        if self.config.get("type") != ACCOUNT_TYPE:
            self.discard()
            raise ValueError(f"account {self.config.get('name')!r} is not a netbox account")
        self.dry_run = dry_run
        self.result = ExportResult(dry_run=dry_run)
        self.owner_slug = slugify(f"syncsite-{self.config.get('name')}")
        self.refs: dict[str, dict[str, int]] = {}
        self.tag_names: dict[str, str] = {}
        self.custom_field_names: list[str] = [
            part.strip() for part in str(self.setting("custom_fields")).split(",") if part.strip()
        ]
        action = str(self.setting("stale_action", "delete")).lower()
        if action not in STALE_ACTIONS:
            self.discard()
            raise ValueError(f"account field stale_action must be one of {', '.join(STALE_ACTIONS)}, not {action!r}")
        self.stale_action = action

    # --- desired state ---------------------------------------------------------------------------------

    def attribute(self, attributes: dict[str, Any], field: str) -> str:
        return _text(attributes.get(self.setting(f"{field}_attribute", field)))

    def desired_objects(self) -> dict[str, dict[str, Any]]:
        """{hostname: wanted NetBox state by names} from the export hosts after rules."""
        default_kind = str(self.setting("default_object_type", DEVICE)).lower()
        kind_attribute = self.setting("object_type_attribute", None)
        desired: dict[str, dict[str, Any]] = {}
        for db_host in Host.get_export_hosts().iterator(chunk_size=2000):
            computed = self.get_attributes(db_host, CACHE_KEY)
            if computed is False:
                continue
            attributes = computed["all"]
            kind = str(attributes.get(kind_attribute) or default_kind).lower() if kind_attribute else default_kind
            kind = VM if kind in ("vm", "virtual_machine", "virtualmachine", "virtual-machine") else DEVICE
            tags = set()
            for part in self.attribute(attributes, "tags").split(","):
                if part.strip():
                    tags.add(slugify(part))
                    self.tag_names.setdefault(slugify(part), part.strip()[:100])
            wanted: dict[str, Any] = {
                "kind": kind,
                "site": self.attribute(attributes, "site") or str(self.setting("default_site", "syncsite")),
                "role": self.attribute(attributes, "role") or str(self.setting("default_role", "server")),
                "platform": self.attribute(attributes, "platform"),
                "status": self.attribute(attributes, "status") or str(self.setting("default_status", "active")),
                "serial": self.attribute(attributes, "serial"),
                "ipv4": self.attribute(attributes, "ipv4"),
                "ipv6": self.attribute(attributes, "ipv6"),
                "tags": sorted(tags | {self.owner_slug}),  # slugs
                "custom_fields": {
                    name: _text(attributes.get(name)) or None for name in self.custom_field_names if name in attributes
                },
            }
            if kind == DEVICE:
                wanted["manufacturer"] = self.attribute(attributes, "manufacturer") or str(
                    self.setting("default_manufacturer", "generic")
                )
                wanted["device_type"] = self.attribute(attributes, "device_type") or str(
                    self.setting("default_device_type", "generic")
                )
            else:
                wanted["cluster"] = self.attribute(attributes, "cluster")
                wanted.pop("serial")
            desired[db_host.hostname] = wanted
        self.flush_cache()
        return desired

    # --- current state ---------------------------------------------------------------------------------

    def current_objects(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """({name: NetBox state by names}, names of this account's objects not yet marked stale)."""
        current: dict[str, dict[str, Any]] = {}
        managed: list[str] = []
        lists = (
            (DEVICE, self.nb.dcim.devices, "list devices"),
            (VM, self.nb.virtualization.virtual_machines, "list virtual machines"),
        )
        for kind, endpoint, what in lists:
            for item in self.listing(endpoint, what, exclude="config_context"):
                name = str(item.get("name") or "").lower()
                if not name:
                    continue
                tags = sorted(_name(tag, "slug") for tag in item.get("tags") or [])
                state = {
                    "id": item["id"],
                    "kind": kind,
                    "site": _name(item.get("site")),
                    "role": _name(item.get("role")),
                    "platform": _name(item.get("platform")),
                    "status": _name(item.get("status"), "value"),
                    "ipv4": _address(item.get("primary_ip4")),
                    "ipv6": _address(item.get("primary_ip6")),
                    "ipv4_id": (item.get("primary_ip4") or {}).get("id"),
                    "ipv6_id": (item.get("primary_ip6") or {}).get("id"),
                    "tags": tags,
                    "custom_fields": item.get("custom_fields") or {},
                }
                if kind == DEVICE:
                    device_type = item.get("device_type") or {}
                    state["serial"] = _text(item.get("serial"))
                    state["device_type"] = _name(device_type, "model")
                    state["manufacturer"] = _name(device_type.get("manufacturer"))
                else:
                    state["cluster"] = _name(item.get("cluster"))
                if name in current and self.owner_slug not in tags:  # the same name twice: keep the owned one
                    continue
                current[name] = state
                if self.owner_slug in tags and not self.marked_stale(state):
                    managed.append(name)
        return current, managed

    def marked_stale(self, state: dict[str, Any]) -> bool:
        if self.stale_action == "offline":
            return state["status"] == "offline"
        if self.stale_action == "tag":
            return STALE_TAG in state["tags"]
        return False

    # --- the difference --------------------------------------------------------------------------------

    @staticmethod
    def _same_ip(wanted: str, existing: str) -> bool:
        if not wanted:
            return not existing
        try:
            return ipaddress.ip_interface(wanted).ip == ipaddress.ip_interface(existing).ip if existing else False
        except ValueError:
            return wanted == existing

    def difference(self, wanted: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any] | None:
        """The fields (by names) that differ; None when the NetBox object is as wanted."""
        if wanted["kind"] != existing["kind"]:
            return {"kind": wanted["kind"]}  # a device that should be a VM (or back): shown, not converted
        changed: dict[str, Any] = {}
        for key in ("site", "role", "platform", "status", "serial", "device_type", "manufacturer", "cluster"):
            if key in wanted and wanted[key] != existing.get(key):
                changed[key] = wanted[key]
        kept = set(existing["tags"]) - self.managed_tags - {STALE_TAG}  # tags others set in NetBox stay
        tags = sorted(set(wanted["tags"]) | kept)
        if tags != existing["tags"]:
            changed["tags"] = tags
        fields = {
            key: value for key, value in wanted["custom_fields"].items() if existing["custom_fields"].get(key) != value
        }
        if fields:
            changed["custom_fields"] = fields
        for family in ("ipv4", "ipv6"):
            if not self._same_ip(wanted[family], existing[family]):
                changed[family] = wanted[family]
        return changed or None

    # --- reference objects -----------------------------------------------------------------------------

    def ensure_references(self, objects: Iterable[dict[str, Any]]) -> None:
        """Read each kind of reference object once; create the missing ones in bulk; `self.refs` maps names to ids."""
        objects = list(objects)
        nb = self.nb

        def need(key: str) -> set[str]:
            return {str(item[key]) for item in objects if item.get(key)}

        simple = (
            ("site", nb.dcim.sites, {}),
            ("role", nb.dcim.device_roles, {}),
            ("platform", nb.dcim.platforms, {}),
            ("manufacturer", nb.dcim.manufacturers, {}),
        )
        for key, endpoint, extra in simple:
            self._ensure(key, endpoint, need(key), lambda name, extra=extra: {**extra})
        if need("device_type"):
            types = {
                (str(item["manufacturer"]), str(item["device_type"])) for item in objects if item.get("device_type")
            }
            current = {
                (_name(item.get("manufacturer")), str(item["model"])): item["id"]
                for item in self.listing(nb.dcim.device_types, "list device types")
            }
            missing = sorted(types - set(current))
            created = self._create(
                nb.dcim.device_types,
                "device type",
                [
                    {
                        "manufacturer": self.refs["manufacturer"][maker],
                        "model": model,
                        "slug": slugify(f"{maker}-{model}"),
                    }
                    for maker, model in missing
                    if maker in self.refs["manufacturer"]
                ],
                lambda entry: entry["model"],
            )
            for item in created:
                current[(_name(item.get("manufacturer")), str(item["model"]))] = item["id"]
            self.refs["device_type"] = {f"{maker}\0{model}": pk for (maker, model), pk in current.items()}
        if need("cluster"):
            cluster_types = self.listing(nb.virtualization.cluster_types, "list cluster types")
            type_id = next((item["id"] for item in cluster_types if item.get("slug") == "syncsite"), None)
            if type_id is None and not self.dry_run:
                created = self._create(
                    nb.virtualization.cluster_types, "cluster type", [{"name": "Syncsite", "slug": "syncsite"}]
                )
                type_id = created[0]["id"] if created else None
            self._ensure("cluster", nb.virtualization.clusters, need("cluster"), lambda name: {"type": type_id})
        tags = {tag for item in objects for tag in item.get("tags") or []}
        if self.stale_action == "tag":
            tags.add(STALE_TAG)
        current_tags = {str(item["slug"]): item["id"] for item in self.listing(nb.extras.tags, "list tags")}
        missing_tags = sorted(tag for tag in tags if tag not in current_tags)
        for item in self._create(
            nb.extras.tags, "tag", [{"name": self.tag_names.get(tag, tag), "slug": tag} for tag in missing_tags]
        ):
            current_tags[str(item["slug"])] = item["id"]
        self.refs["tag"] = current_tags
        if self.custom_field_names:
            existing = {str(item["name"]) for item in self.listing(nb.extras.custom_fields, "list custom fields")}
            self._create(
                nb.extras.custom_fields,
                "custom field",
                [
                    {
                        "name": name,
                        "label": name,
                        "type": "text",
                        "object_types": ["dcim.device", "virtualization.virtualmachine"],
                    }
                    for name in self.custom_field_names
                    if name not in existing
                ],
            )

    def _ensure(self, key: str, endpoint: Any, names: set[str], extra: Callable[[str], dict[str, Any]]) -> None:
        current: dict[str, int] = {}
        slugs: dict[str, int] = {}
        for item in self.listing(endpoint, f"list {endpoint.name}"):
            current[str(item["name"])] = item["id"]
            slugs[str(item.get("slug"))] = item["id"]
        missing = sorted(name for name in names if name not in current and slugify(name) not in slugs)
        for name in names:
            if name not in current and slugify(name) in slugs:
                current[name] = slugs[slugify(name)]
        entries = [{"name": name[:100], "slug": slugify(name), **extra(name)} for name in missing]
        for item in self._create(endpoint, key, entries):
            current[str(item["name"])] = item["id"]
        self.refs[key] = current

    def _create(
        self, endpoint: Any, what: str, entries: list[dict[str, Any]], label: Callable[[dict], str] | None = None
    ) -> list[dict[str, Any]]:
        """Bulk-create helper objects (sites, tags, ...); a dry run only lists them."""
        label = label or (lambda entry: str(entry.get("name")))
        if not entries:
            return []
        if self.dry_run:
            self.result.changes.extend(Change("create", f"{what} {label(entry)}") for entry in entries)
            return []
        created: list[dict[str, Any]] = []
        for batch in chunked(entries, self.bulk_size):
            result = self.call(
                f"create {len(batch)} {what}(s) ({', '.join(map(label, batch))})", endpoint.create, batch
            )
            created.extend(dict(item) for item in (result if isinstance(result, list) else [result]))
        return created

    @property
    def managed_tags(self) -> set[str]:
        """Tags Syncsite sets from hosts: any tag another host of this run wants (so a removed one is removed)."""
        return getattr(self, "_managed_tags", set())

    @property
    def bulk_size(self) -> int:
        return self.number("bulk_size", 100)

    # --- payloads --------------------------------------------------------------------------------------

    def payload(self, wanted: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        """The NetBox body (ids for references) of the named fields of a wanted object."""
        body: dict[str, Any] = {}
        for key in fields:
            value = wanted.get(key)
            if key in ("site", "role", "platform", "cluster"):
                body[key] = self.refs.get(key, {}).get(value) if value else None
            elif key in ("device_type", "manufacturer"):
                pk = self.refs.get("device_type", {}).get(f"{wanted['manufacturer']}\0{wanted['device_type']}")
                body["device_type"] = pk
            elif key == "tags":
                body["tags"] = [self.refs["tag"][tag] for tag in value if tag in self.refs["tag"]]
            elif key == "custom_fields":
                body["custom_fields"] = value
            elif key in ("status", "serial"):
                body[key] = value
        return body

    # --- the export ------------------------------------------------------------------------------------

    def export_hosts(self, *, force_delete: bool = False) -> ExportResult:
        result = self.result
        desired = self.desired_objects()
        self._managed_tags = {tag for wanted in desired.values() for tag in wanted["tags"]}
        current, managed = self.current_objects()
        plan = plan_changes(
            desired, current, self.difference, managed=managed, config=self.config, force_delete=force_delete
        )
        result.unchanged += plan.unchanged
        if plan.over_limit:
            result.errors.append(plan.refused_delete)
        elif plan.refused_delete:
            result.notes.append(plan.refused_delete)
        for name, change in list(plan.update.items()):
            if set(change) == {"kind"}:
                result.errors.append(
                    f"host {name}: is a {current[name]['kind']} in NetBox but exported as a {change['kind']};"
                    " delete it in NetBox to convert it"
                )
                del plan.update[name]
        if plan.empty:
            return result
        self.ensure_references([*plan.create.values(), *(desired[name] for name in plan.update)])
        if self.dry_run:
            result.changes.extend(plan.changes())
            result.created, result.updated = len(plan.create), len(plan.update)
            result.deleted = len(plan.delete)
            return result
        self.write_creates(plan.create, result)
        self.write_updates(plan.update, desired, current, result)
        self.write_stale(plan.delete, current, result)
        return result

    def endpoint(self, kind: str) -> Any:
        return self.nb.dcim.devices if kind == DEVICE else self.nb.virtualization.virtual_machines

    def bulk(self, verb: str, endpoint: Any, kind: str, entries: list[tuple[str, Any]]) -> list[Any]:
        """One bulk request per `bulk_size` entries. NetBox applies a batch whole or not at all: a refused batch
        records each refused object with NetBox's message and is sent again without them; when NetBox does not
        say which object it refused, the batch's objects are sent one by one."""
        method = {"create": endpoint.create, "update": endpoint.update, "delete": endpoint.delete}[verb]
        done: list[Any] = []
        for batch in chunked(entries, self.bulk_size):
            while batch:
                try:
                    answer = self.call(f"{verb} {len(batch)} {kind}(s)", method, [body for _, body in batch])
                except NetboxError as exc:
                    if exc.status != 400:
                        raise
                    refused = self._refused(exc.body, batch)
                    if not refused and len(batch) > 1:
                        for entry in batch:
                            done.extend(self.bulk(verb, endpoint, kind, [entry]))
                        break
                    refused = refused or {0}
                    for index in sorted(refused):
                        body = (
                            exc.body[index] if isinstance(exc.body, list) and len(exc.body) == len(batch) else exc.body
                        )
                        self.result.errors.append(f"{kind} {batch[index][0]}: {verb} refused: {describe_errors(body)}")
                    batch = [entry for index, entry in enumerate(batch) if index not in refused]
                    continue
                done.extend(answer if isinstance(answer, list) else [name for name, _ in batch])
                break
        return done

    @staticmethod
    def _refused(body: Any, batch: list[Any]) -> set[int]:
        if isinstance(body, list) and len(body) == len(batch):
            return {index for index, item in enumerate(body) if item}
        return set()

    def write_creates(self, creates: dict[str, dict[str, Any]], result: ExportResult) -> None:
        by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {DEVICE: [], VM: []}
        fields = ("site", "role", "platform", "status", "serial", "device_type", "cluster", "tags", "custom_fields")
        for name, wanted in creates.items():
            body = {"name": name, **self.payload(wanted, [f for f in fields if f in wanted])}
            if wanted["kind"] == VM and body.get("site") is None:
                body.pop("site", None)
            by_kind[wanted["kind"]].append((name, {k: v for k, v in body.items() if v not in (None, "", {})}))
        for kind, entries in by_kind.items():
            created = self.bulk("create", self.endpoint(kind), kind, entries)
            result.created += len(created)
            ids = {str(dict(item)["name"]).lower(): dict(item)["id"] for item in created if not isinstance(item, str)}
            self.write_primary_ips(
                kind, {name: (ids[name], creates[name]) for name in ids if name in creates}, result, {}
            )

    def write_updates(
        self,
        updates: dict[str, dict[str, Any]],
        desired: dict[str, dict[str, Any]],
        current: dict[str, dict[str, Any]],
        result: ExportResult,
    ) -> None:
        by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {DEVICE: [], VM: []}
        ips: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {DEVICE: {}, VM: {}}
        for name, change in updates.items():
            state = current[name]
            fields = [key for key in change if key not in ("ipv4", "ipv6")]
            if fields:
                body = self.payload({**desired[name], **change}, fields)
                by_kind[state["kind"]].append((name, {"id": state["id"], **body}))
            if "ipv4" in change or "ipv6" in change:
                ips[state["kind"]][name] = (state["id"], desired[name])
        updated: set[str] = set()
        for kind, entries in by_kind.items():
            done = self.bulk("update", self.endpoint(kind), kind, entries)
            updated.update(str(dict(item)["name"]).lower() for item in done if not isinstance(item, str))
        for kind, objects in ips.items():
            updated.update(self.write_primary_ips(kind, objects, result, current))
        result.updated += len(updated)

    def interface_endpoint(self, kind: str) -> tuple[Any, str, str]:
        if kind == DEVICE:
            return self.nb.dcim.interfaces, "dcim.interface", "device"
        return self.nb.virtualization.interfaces, "virtualization.vminterface", "virtual_machine"

    def write_primary_ips(
        self,
        kind: str,
        objects: dict[str, tuple[int, dict[str, Any]]],
        result: ExportResult,
        current: dict[str, dict[str, Any]],
    ) -> set[str]:
        """Primary IPv4/IPv6: an existing primary address is changed in place; a new one gets the account's
        interface (created when missing) and an IP address on it, then becomes the object's primary IP."""
        wanted_ips = {
            name: {family: wanted[family] for family in ("ipv4", "ipv6") if wanted.get(family)}
            for name, (_, wanted) in objects.items()
        }
        if not any(wanted_ips.values()) and not current:
            return set()
        touched: set[str] = set()
        changes: list[tuple[str, dict[str, Any]]] = []
        removals: list[tuple[str, dict[str, Any]]] = []
        new: dict[str, dict[str, str]] = {}
        for name, (pk, _) in objects.items():
            state = current.get(name) or {}
            for family in ("ipv4", "ipv6"):
                address = wanted_ips[name].get(family, "")
                if self._same_ip(address, state.get(family, "")):
                    continue
                touched.add(name)
                if state.get(f"{family}_id") and address:
                    changes.append((name, {"id": state[f"{family}_id"], "address": self.with_prefix(address)}))
                elif state.get(f"{family}_id"):
                    removals.append((name, {"id": pk, f"primary_ip{family[-1]}": None}))
                else:
                    new.setdefault(name, {})[family] = address
        ip_endpoint = self.nb.ipam.ip_addresses
        self.bulk("update", ip_endpoint, "ip-address", changes)
        self.bulk("update", self.endpoint(kind), kind, removals)
        if not new:
            return touched
        interfaces, type_name, owner = self.interface_endpoint(kind)
        interface_name = str(self.setting("interface_name", "mgmt0"))
        ids = {name: objects[name][0] for name in new}
        have: dict[int, int] = {}
        for batch in chunked(sorted(ids.values()), self.bulk_size):
            for item in self.listing(interfaces, "list interfaces", name=interface_name, **{f"{owner}_id": batch}):
                have[(item.get(owner) or {}).get("id")] = item["id"]
        missing = [
            (name, {owner: pk, "name": interface_name, **({"type": "virtual"} if kind == DEVICE else {})})
            for name, pk in ids.items()
            if pk not in have
        ]
        for item in self.bulk("create", interfaces, "interface", missing):
            if not isinstance(item, str):
                item = dict(item)
                have[(item.get(owner) or {}).get("id")] = item["id"]
        addresses = [
            (
                f"{name}/{family}",
                {
                    "address": self.with_prefix(address),
                    "assigned_object_type": type_name,
                    "assigned_object_id": have[ids[name]],
                    "status": "active",
                },
            )
            for name, families in new.items()
            for family, address in families.items()
            if ids[name] in have
        ]
        created_ips = self.bulk("create", ip_endpoint, "ip-address", addresses)
        primaries: dict[int, dict[str, Any]] = {}
        owner_of_interface = {interface: pk for pk, interface in have.items()}
        for item in created_ips:
            if isinstance(item, str):
                continue
            item = dict(item)
            pk = owner_of_interface.get(item.get("assigned_object_id"))
            family = "4" if ipaddress.ip_interface(item["address"]).version == 4 else "6"
            primaries.setdefault(pk, {"id": pk})[f"primary_ip{family}"] = item["id"]
        names = {pk: name for name, pk in ids.items()}
        self.bulk("update", self.endpoint(kind), kind, [(names[pk], body) for pk, body in primaries.items()])
        return touched | set(new)

    @staticmethod
    def with_prefix(address: str) -> str:
        """An address as NetBox stores it: with its prefix length (/32 or /128 when the host gives none)."""
        if "/" in address:
            return address
        try:
            return f"{address}/{32 if ipaddress.ip_address(address).version == 4 else 128}"
        except ValueError:
            return address  # NetBox says what is wrong with it

    def write_stale(self, names: list[str], current: dict[str, dict[str, Any]], result: ExportResult) -> None:
        """Objects that left Syncsite: deleted (their primary IPs first), set offline, or tagged."""
        for kind in (DEVICE, VM):
            entries = [(name, current[name]) for name in names if current[name]["kind"] == kind]
            if not entries:
                continue
            if self.stale_action == "delete":
                ip_ids = [
                    (name, {"id": state[key]})
                    for name, state in entries
                    for key in ("ipv4_id", "ipv6_id")
                    if state[key]
                ]
                self.bulk("delete", self.nb.ipam.ip_addresses, "ip-address", [(n, b["id"]) for n, b in ip_ids])
                done = self.bulk("delete", self.endpoint(kind), kind, [(name, state["id"]) for name, state in entries])
            elif self.stale_action == "offline":
                done = self.bulk(
                    "update", self.endpoint(kind), kind, [(n, {"id": s["id"], "status": "offline"}) for n, s in entries]
                )
            else:
                tag = self.refs["tag"][STALE_TAG]
                done = self.bulk(
                    "update",
                    self.endpoint(kind),
                    kind,
                    [
                        (n, {"id": s["id"], "tags": [*(self.refs["tag"].get(t) for t in s["tags"]), tag]})
                        for n, s in entries
                    ],
                )
            result.deleted += len(done)


# --- entry points: commands and cronjobs ---------------------------------------------------------------

ACTIONS = ("import-hosts", "inventorize-hosts", "export-hosts")


def run_netbox(action: str, account: str, dry_run: bool = False, force_delete: bool = False) -> str:
    """One NetBox action for an account; a failure raises ValueError (CLI: message on stderr, exit 1)."""
    if action == "export-hosts":
        result = export_hosts(account, dry_run=dry_run, force_delete=force_delete)
        lines = [str(change) for change in result.changes] + [f"{cc.WARNING}{note}{cc.ENDC}" for note in result.notes]
        return "\n".join([*lines, result.summary()])
    plugin_class = NetboxImport if action == "import-hosts" else NetboxInventorize
    plugin = plugin_class(account, dry_run=dry_run, force_delete=force_delete)
    imported = plugin.run()
    text = ", ".join(f"{key} {value}" for key, value in imported.details() if key not in ("message", "dry_run"))
    text = "\n".join([("dry run: " if imported.dry_run else "") + text, *imported.messages])
    if imported.errors:
        raise ValueError(f"NetBox {action} {account!r} failed: {text}")
    return text


def export_hosts(account: str, *, dry_run: bool = False, force_delete: bool = False) -> ExportResult:
    """Export with one plugin (one session, one log entry); ValueError naming every refusal when it failed."""
    plugin = NetboxExport(account, dry_run=dry_run)
    result = plugin.result
    try:
        plugin.export_hosts(force_delete=force_delete)
    except (ExportError, ValueError) as exc:
        result.errors.append(str(exc))
    finally:
        result.log_into(plugin)
        if getattr(plugin, "requests_sent", None):
            plugin.log_details.append(("requests", dict(sorted(plugin.requests_sent.items()))))
        if dry_run:
            plugin.log_details.append(("note", "dry run: nothing written"))
        plugin.close()
    if result.failed:
        lines = [*(str(change) for change in result.changes), *result.errors]
        raise ValueError(f"NetBox export-hosts {account!r} failed ({result.summary()}):\n" + "\n".join(lines))
    return result


def register() -> None:
    """`manage.py syncer netbox ACTION ACCOUNT [--dry-run]` and one cronjob per action."""
    cli.add_command(
        "netbox",
        run_netbox,
        help="NetBox: import-hosts, inventorize-hosts, export-hosts",
        arguments=[
            (("action",), {"choices": ACTIONS}),
            (("account",), {"help": "a netbox account"}),
            (("--dry-run",), {"action": "store_true", "help": "list what would change, write nothing"}),
            (("--force-delete",), {"action": "store_true", "help": "handle stale objects beyond the delete limit"}),
        ],
    )
    for action in ACTIONS:

        def job(account: str | None = None, _action: str = action) -> str:
            if not account:
                raise ValueError(f"the netbox {_action} cronjob needs a netbox account")
            return run_netbox(_action, account)

        job.__name__ = job.__qualname__ = f"netbox_{action.replace('-', '_')}"
        register_cronjob(f"netbox: {action}", job)


register()
