"""hosts -> Checkmk through Checkmk's REST API 1.0 (account type `checkmk`), written against `syncerapi.v1`.

The account: address = the site URL (`https://monitor.example.com/mysite`), username = the automation
user, password = its secret. Custom fields: see ACCOUNT_FIELDS and docs/checkmk.md.

What it manages, per host after rules (the *filtered* attributes): the folder (from the attribute the
account names), the attributes `ipaddress`, `alias`, `site` and `tag_<group>`, and labels (every other
exported attribute). Attributes a host had before Syncsite took it over are kept: updates send only the
changed managed attributes (`update_attributes`). Syncsite marks its hosts with the label
`syncsite/account: <account>`; only marked hosts are ever deleted as stale.

Checkmk is read once per run; only the difference is written, with the bulk endpoints in chunks of
`bulk_size` (500); single-object edits carry the object's ETag in `If-Match` (412: re-read, retry once).
Changes are activated (`If-Match: *`, `redirect=false`, waiting for the run to finish) only when
something was written, and not after a run where Checkmk refused something unless `activate_on_error`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from typing import Any

import requests

from syncerapi.v1 import AccountField, Host, cc, redact_url, register_cronjob
from syncerapi.v1.core import Plugin, cli
from syncerapi.v1.exporting import Change, ExportError, ExportResult, chunked, plan_changes
from syncerapi.v1.inventory import run_inventory

ACCOUNT_TYPE = "checkmk"
CACHE_KEY = "checkmk"
OWNER_LABEL = "syncsite/account"
MANAGED_ATTRIBUTES = ("ipaddress", "alias", "site")
BUILTIN_TAG_GROUPS = frozenset({"agent", "snmp_ds", "address_family", "piggyback", "networking", "criticality"})
FOLDER_PART = re.compile(r"[^-\w]")
ACTIVATION_POLL = 0.2


class CheckmkError(ExportError):
    """A refusal of Checkmk: the status, its `title`/`detail` and the offending `fields`."""

    def __init__(self, what: str, response: requests.Response | None = None, message: str = ""):
        self.status = response.status_code if response is not None else 0
        body: dict[str, Any] = {}
        if response is not None:
            try:
                parsed = response.json()
                body = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                body = {}
        self.detail = str(body.get("detail") or body.get("title") or message or (response.reason if response else ""))
        self.fields = body.get("fields") or {}
        self.ext = body.get("ext") if isinstance(body.get("ext"), dict) else {}
        text = f"{what}: {self.status} {self.detail}" if self.status else f"{what}: {self.detail}"
        if self.fields:
            text += f" (fields: {json.dumps(self.fields, sort_keys=True, default=str)})"
        super().__init__(text)


def folder_path(value: Any) -> str:
    """A Checkmk folder path (`/a/b`) from an attribute value (`a/b`, `a~b`, `/a/b`): unsafe characters -> `_`."""
    parts = [FOLDER_PART.sub("_", part.strip()) for part in re.split(r"[~/\\]", str(value or "")) if part.strip()]
    return "/" + "/".join(parts)


def folder_id(path: str) -> str:
    """The folder's id in URLs: `~a~b` (Checkmk accepts `~` where a path has `/`)."""
    return "~" + path.strip("/").replace("/", "~")


def inventory_value(tree: Any, path: str) -> Any:
    """A value of a host's HW/SW inventory tree (host_inv_api.py's JSON) by a dotted path.

    `hardware.cpu` is a node: its attribute pairs (and table rows, if any) as a dict; `hardware.cpu.model`
    is one attribute of the node `hardware.cpu`. None when the tree has no such path.
    """
    node = tree if isinstance(tree, dict) else {}
    parts = [part for part in path.split(".") if part]
    for index, part in enumerate(parts):
        children = node.get("Nodes") or {}
        if part in children:
            node = children[part]
            continue
        pairs = (node.get("Attributes") or {}).get("Pairs") or {}
        return pairs.get(part) if index == len(parts) - 1 else None
    pairs = dict((node.get("Attributes") or {}).get("Pairs") or {})
    rows = (node.get("Table") or {}).get("Rows") or []
    if rows:
        pairs["rows"] = rows
    return pairs or None


class CheckmkExport(Plugin):
    """One export run against one Checkmk site; one requests Session, one run-log entry."""

    name = "Checkmk export"
    source = "checkmk"
    account_type = ACCOUNT_TYPE
    account_fields = (
        AccountField("folder_attribute", help="host attribute whose value is the folder path (default: main folder)"),
        AccountField("folder_attributes", help="JSON object of attributes for folders Syncsite creates"),
        AccountField("host_group_attribute", help="host attribute listing host groups to create (comma-separated)"),
        AccountField("keep_foreign_labels", help="true: labels set in Checkmk by others stay (default false)"),
        AccountField("delete_stale", help="true: delete hosts this account created that left Syncsite"),
        AccountField("delete_limit", help="at most this many stale hosts per run (HOSTS_IMPORT_DELETE_LIMIT)"),
        AccountField("bulk_size", help="hosts per bulk request (default 500)"),
        AccountField("activate_sites", help="comma-separated sites to activate (default: all)"),
        AccountField("activate_on_error", help="true: activate even when Checkmk refused some hosts"),
        AccountField("activation_timeout", help="seconds to wait for an activation (default 300)"),
        AccountField("inventory_labels", help="true: inventorize-hosts stores the hosts' service labels"),
        AccountField("inventory_paths", help="comma-separated HW/SW inventory paths to store"),
    )

    def __init__(self, account: str | dict[str, Any], *, dry_run: bool = False):
        super().__init__(account)
        if self.config.get("type") != ACCOUNT_TYPE:
            self.discard()
            raise ValueError(f"account {self.config.get('name')!r} is not a checkmk account")
        address = str(self.config.get("address") or "").rstrip("/")
        if not address:
            self.discard()
            raise ValueError(f"account {self.config.get('name')!r} has no address (the site URL)")
        self.base = address + "/check_mk/api/1.0"
        self.dry_run = dry_run
        self.result = ExportResult(dry_run=dry_run)
        self.headers = {
            "Authorization": f"Bearer {self.config.get('username', '')} {self.config.get('password', '')}",
            "Accept": "application/json",
        }

    # --- HTTP ------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, what: str, *, expect: Iterable[int] = (200,), **kwargs: Any):
        """One REST API request; anything but the expected status raises CheckmkError with Checkmk's words."""
        return self.call_url(method, self.base + path, what, expect=expect, **kwargs)

    def call_url(self, method: str, url: str, what: str, *, expect: Iterable[int] = (200,), **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = self.inner_request(method, url, headers=headers, **kwargs)
        except requests.RequestException as exc:
            site = redact_url(str(self.config.get("address")))
            raise CheckmkError(what, message=f"{site} unreachable ({type(exc).__name__})") from exc
        if response.status_code not in tuple(expect):
            raise CheckmkError(what, response)
        return response

    def read(self, path: str, what: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", path, what, params=params or None).json()

    def edit(self, method: str, path: str, what: str, body: dict[str, Any], object_path: str = "") -> requests.Response:
        """Edit one existing object with its ETag in If-Match; a stale ETag (412) is re-read and retried once.

        `object_path` is where the object (and so its ETag) is read when `path` is an action on it.
        """
        for attempt in range(2):
            etag = self.call("GET", object_path or path, what).headers.get("ETag", "")
            try:
                return self.call(method, path, what, json=body, headers={"If-Match": etag})
            except CheckmkError as exc:
                if exc.status != 412 or attempt:
                    raise
        raise CheckmkError(what, message="the object kept changing")

    # --- configuration ---------------------------------------------------------------------------------

    def setting(self, name: str, default: Any = "") -> Any:
        value = self.config.get(name)
        return default if value in (None, "") else value

    def flag(self, name: str, default: bool) -> bool:
        value = self.setting(name, default)
        return value.strip().lower() in {"1", "true", "yes", "on"} if isinstance(value, str) else bool(value)

    def number(self, name: str, default: int) -> int:
        try:
            return max(int(self.setting(name, default)), 1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"account field {name} must be a number") from exc

    # --- desired state ---------------------------------------------------------------------------------

    def desired_hosts(self) -> dict[str, dict[str, Any]]:
        """{hostname: {"folder", "attributes", "labels", "groups"}} from the export hosts after rules."""
        folder_attribute = self.setting("folder_attribute", None)
        group_attribute = self.setting("host_group_attribute", None)
        owner = str(self.config.get("name"))
        hosts: dict[str, dict[str, Any]] = {}
        for db_host in Host.get_export_hosts().iterator(chunk_size=2000):
            computed = self.get_attributes(db_host, CACHE_KEY)
            if computed is False:
                continue
            everything = computed["all"]
            # folder and host groups come from all attributes: they need not be whitelisted, never become labels
            folder = folder_path(everything.get(folder_attribute, "")) if folder_attribute else "/"
            groups = [part.strip() for part in str(everything.get(group_attribute) or "").split(",") if part.strip()]
            attributes: dict[str, Any] = {}
            labels: dict[str, str] = {}
            for key, value in computed["filtered"].items():
                if key in (folder_attribute, group_attribute, "HOSTNAME"):
                    continue
                if key in MANAGED_ATTRIBUTES or key.startswith("tag_"):
                    attributes[key] = "" if value is None else str(value)
                else:
                    labels[key] = "" if value is None else str(value)
            labels[OWNER_LABEL] = owner
            hosts[db_host.hostname] = {"folder": folder, "attributes": attributes, "labels": labels, "groups": groups}
        self.flush_cache()
        return hosts

    # --- hosts -----------------------------------------------------------------------------------------

    def read_hosts(self) -> dict[str, dict[str, Any]]:
        document = self.read("/domain-types/host_config/collections/all", "read hosts", effective_attributes="false")
        current = {}
        for entry in document.get("value", []):
            extensions = entry.get("extensions") or {}
            current[entry["id"]] = {
                "folder": folder_path(extensions.get("folder", "/")),
                "attributes": extensions.get("attributes") or {},
            }
        return current

    def export_hosts(self, *, force_delete: bool = False) -> ExportResult:
        result = self.result
        desired = self.desired_hosts()
        current = self.read_hosts()
        keep_foreign = self.flag("keep_foreign_labels", False)
        managed_label_keys = {key for host in desired.values() for key in host["labels"]}
        owner = str(self.config.get("name"))

        def wanted_labels(wanted: dict[str, Any], existing: dict[str, Any]) -> dict[str, str]:
            labels = dict(existing["attributes"].get("labels") or {}) if keep_foreign else {}
            for key in managed_label_keys:
                labels.pop(key, None)
            labels.update(wanted["labels"])
            return labels

        def difference(wanted: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any] | None:
            attrs = existing["attributes"]
            update = {key: value for key, value in wanted["attributes"].items() if attrs.get(key) != value}
            labels = wanted_labels(wanted, existing)
            if labels != (attrs.get("labels") or {}):
                update["labels"] = labels
            move = wanted["folder"] if wanted["folder"] != existing["folder"] else None
            return {"update_attributes": update, "move": move} if update or move else None

        managed = [
            name for name, host in current.items() if host["attributes"].get("labels", {}).get(OWNER_LABEL) == owner
        ]
        plan = plan_changes(
            desired, current, difference, managed=managed, config=self.config, force_delete=force_delete
        )
        result.unchanged += plan.unchanged
        if plan.over_limit:
            result.errors.append(plan.refused_delete)
        elif plan.refused_delete:
            result.notes.append(plan.refused_delete)
        if not plan.empty:
            self.ensure_folders(
                {host["folder"] for host in plan.create.values()}
                | {change["move"] for change in plan.update.values() if change["move"]}
            )
        if self.dry_run:
            result.changes.extend(plan.changes())
            result.created, result.updated, result.deleted = len(plan.create), len(plan.update), len(plan.delete)
            return result
        size = self.number("bulk_size", 500)
        for batch in chunked(plan.create.items(), size):
            entries = [
                {
                    "host_name": name,
                    "folder": folder_id(host["folder"]),
                    "attributes": {**host["attributes"], "labels": host["labels"]},
                }
                for name, host in batch
            ]
            self.bulk("POST", "host_config", "bulk-create", entries, result, "created")
        updates = [
            {"host_name": name, "update_attributes": change["update_attributes"]}
            for name, change in plan.update.items()
            if change["update_attributes"]
        ]
        for batch in chunked(updates, size):
            self.bulk("PUT", "host_config", "bulk-update", batch, result, "updated")
        moved_only = 0
        for name, change in plan.update.items():
            if change["move"]:
                try:
                    self.move_host(name, change["move"])
                    moved_only += 0 if change["update_attributes"] else 1
                except CheckmkError as exc:
                    result.errors.append(f"host {name}: {exc}")
        result.updated += moved_only
        for batch in chunked(plan.delete, size):
            self.bulk("POST", "host_config", "bulk-delete", batch, result, "deleted")
        return result

    def move_host(self, name: str, folder: str) -> None:
        path = f"/objects/host_config/{name}"
        self.edit(
            "POST", path + "/actions/move/invoke", f"move host {name}", {"target_folder": folder_id(folder)}, path
        )

    def bulk(self, method: str, domain: str, action: str, entries: list[Any], result: ExportResult, count: str) -> None:
        """One bulk request. Checkmk applies what it can and names the failed hosts (400 with `ext.failed_hosts`);
        a request it refuses as a whole (a schema error) is split in halves until the bad entries stand alone,
        so one bad host never stops the rest."""
        path = f"/domain-types/{domain}/actions/{action}/invoke"
        try:
            self.call(method, path, f"{action} {len(entries)} {domain}", expect=(200, 204), json={"entries": entries})
            setattr(result, count, getattr(result, count) + len(entries))
            return
        except CheckmkError as exc:
            if exc.status != 400:
                raise
            failed = exc.ext.get("failed_hosts")
            if isinstance(failed, dict) and failed:
                for name, messages in failed.items():
                    text = "; ".join(messages) if isinstance(messages, list) else str(messages)
                    result.errors.append(f"host {name}: {action} refused: {text}")
                setattr(result, count, getattr(result, count) + len(entries) - len(failed))
                return
            if len(entries) == 1:
                result.errors.append(f"host {self._entry_name(entries[0])}: {exc}")
                return
        half = len(entries) // 2
        self.bulk(method, domain, action, entries[:half], result, count)
        self.bulk(method, domain, action, entries[half:], result, count)

    @staticmethod
    def _entry_name(entry: Any) -> str:
        return entry if isinstance(entry, str) else str(entry.get("host_name") or entry.get("name"))

    # --- folders ---------------------------------------------------------------------------------------

    def ensure_folders(self, paths: set[str]) -> None:
        """Create missing folders (parents first) with the account's folder attributes; existing ones are kept."""
        wanted = {path for path in paths if path and path != "/"}
        if not wanted:
            return
        document = self.read(
            "/domain-types/folder_config/collections/all", "read folders", parent="~", recursive="true"
        )
        current_folders = {
            folder_path(item.get("extensions", {}).get("path", "/")) for item in document.get("value", [])
        }
        try:
            attributes = json.loads(self.setting("folder_attributes", "{}"))
        except ValueError as exc:
            raise ValueError("account field folder_attributes must be a JSON object") from exc
        if not isinstance(attributes, dict):
            raise ValueError("account field folder_attributes must be a JSON object")
        missing: set[str] = set()
        for path in wanted:
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                prefix = "/" + "/".join(parts[:depth])
                if prefix not in current_folders:
                    missing.add(prefix)
        for path in sorted(missing, key=lambda p: p.count("/")):
            parent, _, name = path.rpartition("/")
            body = {"name": name, "title": name, "parent": folder_id(parent or "/") if parent else "~"}
            if attributes:
                body["attributes"] = attributes
            if self.dry_run:
                self.result.changes.append(Change("create", f"folder {path}", attributes))
                continue
            try:
                self.call("POST", "/domain-types/folder_config/collections/all", f"create folder {path}", json=body)
                current_folders.add(path)
            except CheckmkError as exc:
                self.result.errors.append(f"folder {path}: {exc}")

    # --- groups ----------------------------------------------------------------------------------------

    def export_groups(self) -> ExportResult:
        """Host tag groups (`tag_<group>` attributes) and host groups (the host group attribute) the rules use."""
        result = self.result
        desired = self.desired_hosts()
        tags: dict[str, set[str]] = {}
        groups: set[str] = set()
        for host in desired.values():
            groups.update(host["groups"])
            for key, value in host["attributes"].items():
                group = key[len("tag_") :]
                if key.startswith("tag_") and value and group not in BUILTIN_TAG_GROUPS:
                    tags.setdefault(group, set()).add(value)
        current_tags = {
            item["id"]: list((item.get("extensions") or {}).get("tags", []))
            for item in self.read("/domain-types/host_tag_group/collections/all", "read tag groups").get("value", [])
        }
        for group, values in sorted(tags.items()):
            if group not in current_tags:
                body = {"id": group, "title": group, "tags": [{"id": v, "title": v} for v in sorted(values)]}
                self._write(
                    result,
                    "created",
                    f"tag group {group}",
                    "POST",
                    "/domain-types/host_tag_group/collections/all",
                    body,
                )
            elif new_tags := values - {tag.get("id") for tag in current_tags[group]}:
                # existing tags are sent back as Checkmk has them (title, aux tags); the new ones appended
                kept = [
                    {key: tag[key] for key in ("id", "title", "aux_tags") if key in tag} for tag in current_tags[group]
                ]
                body = {"tags": [*kept, *({"id": v, "title": v} for v in sorted(new_tags))], "repair": True}
                self._write(result, "updated", f"tag group {group}", "PUT", f"/objects/host_tag_group/{group}", body)
            else:
                result.unchanged += 1
        current_groups = {
            item["id"]
            for item in self.read("/domain-types/host_group_config/collections/all", "read host groups").get(
                "value", []
            )
        }
        missing = sorted(groups - current_groups)
        result.unchanged += len(groups) - len(missing)
        if self.dry_run:
            result.changes.extend(Change("create", f"host group {name}") for name in missing)
            result.created += len(missing)
        else:
            for batch in chunked(missing, self.number("bulk_size", 500)):
                entries = [{"name": name, "alias": name} for name in batch]
                self.bulk("POST", "host_group_config", "bulk-create", entries, result, "created")
        return result

    def _write(self, result: ExportResult, count: str, what: str, method: str, path: str, body: dict) -> None:
        if self.dry_run:
            result.changes.append(Change(count[:-1], what, body))  # created -> create, updated -> update
            setattr(result, count, getattr(result, count) + 1)
            return
        try:
            if method == "PUT":
                self.edit(method, path, what, body)
            else:
                self.call(method, path, what, json=body)
            setattr(result, count, getattr(result, count) + 1)
        except CheckmkError as exc:
            result.errors.append(f"{what}: {exc}")

    # --- activation ------------------------------------------------------------------------------------

    def activate(self) -> str:
        """Activate pending changes (If-Match: *, redirect=false) and wait for the run; returns its id."""
        body: dict[str, Any] = {"redirect": False, "force_foreign_changes": False}
        sites = [site.strip() for site in str(self.setting("activate_sites")).split(",") if site.strip()]
        if sites:
            body["sites"] = sites
        response = self.call(
            "POST",
            "/domain-types/activation_run/actions/activate-changes/invoke",
            "activate changes",
            expect=(200, 422),
            json=body,
            headers={"If-Match": "*"},
        )
        if response.status_code == 422:  # Checkmk: no pending changes
            return ""
        activation_id = str(response.json().get("id", ""))
        deadline = time.monotonic() + self.number("activation_timeout", 300)
        while True:
            status = self.read(f"/objects/activation_run/{activation_id}", "activation status")
            if not (status.get("extensions") or {}).get("is_running"):
                break
            if time.monotonic() > deadline:
                raise CheckmkError("activate changes", message=f"activation {activation_id} still running")
            time.sleep(ACTIVATION_POLL)
        self.result.activation_id = activation_id
        return activation_id

    def finish_with_activation(self, activate: bool) -> ExportResult:
        result = self.result
        if result.changed and not self.dry_run and activate:
            if result.failed and not self.flag("activate_on_error", False):
                result.notes.append("not activated: Checkmk refused part of the run")
            else:
                self.activate()
        return result

    # --- inventory -------------------------------------------------------------------------------------

    def inventorize(self) -> dict[str, Any]:
        """Checkmk's service labels and the HW/SW inventory paths the account names -> host inventory."""
        objects: dict[str, dict[str, Any]] = {}
        if self.flag("inventory_labels", True):
            document = self.call(
                "POST",
                "/domain-types/service/collections/all",
                "read service labels",
                json={"columns": ["host_name", "description", "labels"]},
                read_only=True,
            ).json()
            for item in document.get("value", []):
                row = item.get("extensions") or {}
                target = objects.setdefault(str(row.get("host_name", "")), {})
                for key, value in (row.get("labels") or {}).items():
                    target[f"label_{key}"] = value
        paths = [p.strip() for p in str(self.setting("inventory_paths")).split(",") if p.strip()]
        if paths:
            # HW/SW inventory is not in REST API 1.0: Checkmk serves it at check_mk/host_inv_api.py
            url = self.base.rsplit("/api/1.0", 1)[0] + "/host_inv_api.py"
            names = list(Host.get_export_hosts().values_list("hostname", flat=True))
            for batch in chunked(names, self.number("bulk_size", 500)):
                response = self.call_url(
                    "GET",
                    url,
                    "read HW/SW inventory",
                    params={"output_format": "json", "request": json.dumps({"hosts": batch})},
                )
                trees = response.json().get("result") or {}
                for name, tree in trees.items():
                    found = {path: value for path in paths if (value := inventory_value(tree, path)) is not None}
                    if found:
                        objects.setdefault(name, {}).update(found)
        counts = run_inventory(self.config, ((name, data) for name, data in objects.items() if name))
        self.log_details.extend(
            [
                ("updated", counts["updated"]),
                ("unchanged", counts["unchanged"]),
                ("not_found", len(counts["not_found"])),
            ]
        )
        return counts


# --- entry points: commands and cronjobs ---------------------------------------------------------------


def _run(account: str, action: str, *, dry_run: bool = False, activate: bool = True) -> ExportResult:
    """Run one action with one plugin (one session, one log entry); raise ValueError when the run failed."""
    plugin = CheckmkExport(account, dry_run=dry_run)
    plugin.name = f"Checkmk {action}"
    result = plugin.result
    try:
        if action == "export-hosts":
            plugin.export_hosts()
            plugin.finish_with_activation(activate)
        elif action == "export-groups":
            plugin.export_groups()
            plugin.finish_with_activation(activate)
        elif action == "activate":
            result.activation_id = plugin.activate()
        elif action == "inventorize-hosts":
            counts = plugin.inventorize()
            result.updated, result.unchanged = counts["updated"], counts["unchanged"]
    except (ExportError, ValueError) as exc:
        result.errors.append(str(exc))
    finally:
        result.log_into(plugin)
        plugin.close()
    if result.failed:
        lines = [*(str(change) for change in result.changes), *result.errors]
        raise ValueError(f"Checkmk {action} {account!r} failed ({result.summary()}):\n" + "\n".join(lines))
    return result


def run_checkmk(action: str, account: str, dry_run: bool = False, no_activate: bool = False) -> str:
    result = _run(account, action, dry_run=dry_run, activate=not no_activate)
    lines = [str(change) for change in result.changes] + [f"{cc.WARNING}{note}{cc.ENDC}" for note in result.notes]
    return "\n".join([*lines, result.summary()])


ACTIONS = ("export-hosts", "export-groups", "activate", "inventorize-hosts")


def register() -> None:
    """The command `manage.py syncer checkmk ACTION ACCOUNT` and one cronjob per action, in one place."""
    cli.add_command(
        "checkmk",
        run_checkmk,
        help="Checkmk: export-hosts, export-groups, activate, inventorize-hosts",
        arguments=[
            (("action",), {"choices": ACTIONS}),
            (("account",), {"help": "a checkmk account"}),
            (("--dry-run",), {"action": "store_true", "help": "list each change, write nothing"}),
            (("--no-activate",), {"action": "store_true", "help": "leave the changes pending"}),
        ],
    )
    for action in ACTIONS:

        def job(account: str | None = None, _action: str = action) -> str:
            if not account:
                raise ValueError(f"the checkmk {_action} cronjob needs a checkmk account")
            return run_checkmk(_action, account)

        job.__name__ = job.__qualname__ = f"checkmk_{action.replace('-', '_')}"
        register_cronjob(f"checkmk: {action}", job)


register()
