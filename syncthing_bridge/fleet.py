"""Fleet actions: change several Syncthing daemons' configuration in one step, through their config API.

Every action reads each daemon's current configuration first and writes only what differs, so running it again
changes nothing and reports "unchanged". The daemon validates every write itself; a write it rejects (HTTP 400)
is the caller's bad input (`errors.FleetInputError`, 400), a daemon that cannot be reached is a `SyncthingError`.
Called through `syncthing_bridge.services`, which re-exports these functions.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from syncsite.redact import redact_urls_in_text
from syncthing_bridge import services
from syncthing_bridge.client import Syncthing, SyncthingError, SyncthingHTTPError, SyncthingNotFoundError
from syncthing_bridge.errors import FleetInputError
from syncthing_bridge.models import SyncthingInstance

FOLDER_TYPES = ("sendreceive", "sendonly", "receiveonly")
UNSPECIFIED_HOSTS = ("0.0.0.0", "::", "", None)  # noqa: S104 (a listen address to rewrite, not a bind)
VERSIONING_TYPES = ("", "simple", "staggered", "trashcan", "external")


@dataclass
class InstanceReport:
    """What one action changed on one instance; `error` when the daemon failed."""

    instance: str
    changes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def status(self) -> str:
        return "failed" if self.error else "changed" if self.changes else "unchanged"

    def as_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "status": self.status, "changes": self.changes, "error": self.error}


def reports_as_dicts(reports: Iterable[InstanceReport]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in reports]


def _run(instances: Iterable[SyncthingInstance], work: Callable[[SyncthingInstance, Syncthing], list[str]]):
    """Apply `work` to each instance, one pooled client each, concurrently; one report per instance, in order.

    A daemon's HTTP 400 is bad input (raised at once); other daemon failures are recorded in that report."""
    targets = list(instances)

    def one(instance: SyncthingInstance) -> InstanceReport:
        report = InstanceReport(instance.name)
        try:
            with services.client_for(instance) as st:
                report.changes = work(instance, st)
        except SyncthingHTTPError as exc:
            if exc.status_code == 400:
                refusal = redact_urls_in_text(f"{instance.name}: the daemon refused the change: {exc.body or exc}")
                raise FleetInputError(refusal) from exc
            report.error = str(exc)
        except SyncthingError as exc:
            report.error = str(exc)
        return report

    if len(targets) <= 1:
        return [one(i) for i in targets]
    with concurrent.futures.ThreadPoolExecutor(min(8, len(targets))) as pool:
        return list(pool.map(one, targets))


def _device_id_of(instance: SyncthingInstance) -> str:
    if not instance.device_id:
        services.test_connection(instance)
    return instance.device_id


def _folder(st: Syncthing, folder_id: str) -> dict | None:
    try:
        return st.config.folders.get(folder_id)
    except SyncthingNotFoundError:
        return None


def _device(st: Syncthing, device_id: str) -> dict | None:
    try:
        return st.config.devices.get(device_id)
    except SyncthingNotFoundError:
        return None


def ensure_device(st: Syncthing, device_id: str, name: str = "", addresses: list[str] | None = None) -> list[str]:
    """The device is in this daemon's config with this name and these addresses (when given)."""
    current = _device(st, device_id)
    wanted: dict[str, Any] = {}
    if name:
        wanted["name"] = name
    if addresses:
        wanted["addresses"] = list(addresses)
    if current is None:
        st.config.devices.add({"deviceID": device_id, "addresses": ["dynamic"], **wanted})
        return [f"device {name or device_id[:7]} added"]
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changes:
        st.config.devices.patch(device_id, changes)
        return [f"device {name or device_id[:7]}: {', '.join(sorted(changes))} set"]
    return []


def sync_addresses(instance: SyncthingInstance, st: Syncthing) -> list[str]:
    """Where peers reach this daemon: its listen addresses with an unspecified host replaced by its GUI host."""
    host = urlsplit(instance.url).hostname or "127.0.0.1"
    result = []
    for address in st.config.options.get().get("listenAddresses") or []:
        if address == "default":
            result.append("dynamic")
            continue
        parts = urlsplit(address)
        if parts.hostname in UNSPECIFIED_HOSTS and parts.port:
            shown = f"[{host}]" if ":" in host else host
            address = f"{parts.scheme}://{shown}:{parts.port}"
        result.append(address)
    return result or ["dynamic"]


# --------------------------------------------------------------------------------------------- devices


def pair_instances(first: SyncthingInstance, second: SyncthingInstance) -> list[InstanceReport]:
    """Each daemon gets the other in its config, with its name and sync addresses."""
    if first.pk == second.pk:
        raise FleetInputError("pair two different instances")
    peers = {}
    for me in (first, second):
        with services.client_for(me) as st:
            peers[me.pk] = (_device_id_of(me), sync_addresses(me, st))
    other = {first.pk: second, second.pk: first}
    return _run(
        [first, second],
        lambda me, st: ensure_device(st, peers[other[me.pk].pk][0], other[me.pk].name, peers[other[me.pk].pk][1]),
    )


def accept_device(
    instance: SyncthingInstance, device_id: str, name: str = "", addresses: list[str] | None = None
) -> InstanceReport:
    """A device that asked to connect (pending) is added to the config; unchanged when it is there already."""

    def work(inst: SyncthingInstance, st: Syncthing) -> list[str]:
        pending = st.cluster.pending_devices()
        if device_id not in pending and _device(st, device_id) is None:
            raise FleetInputError(redact_urls_in_text(f"{device_id} is neither pending nor configured on {inst.name}"))
        offered = pending.get(device_id, {})
        listed = [offered["address"]] if offered.get("address") else None
        return ensure_device(st, device_id, name or offered.get("name", ""), addresses or listed)

    return _run([instance], work)[0]


def set_device_paused(device_id: str, paused: bool, instances: Iterable[SyncthingInstance]) -> list[InstanceReport]:
    """Pause or resume a device in the config of each instance that has it configured."""

    def work(inst: SyncthingInstance, st: Syncthing) -> list[str]:
        current = _device(st, device_id)
        if current is None or bool(current.get("paused")) == paused:
            return []
        st.config.devices.patch(device_id, {"paused": paused})
        return [f"device {current.get('name') or device_id[:7]} {'paused' if paused else 'resumed'}"]

    return _run(instances, work)


# --------------------------------------------------------------------------------------------- folders


def _check_versioning(versioning: dict | None) -> dict | None:
    if versioning is None:
        return None
    kind = versioning.get("type", "")
    if kind not in VERSIONING_TYPES:
        raise FleetInputError(f"versioning type must be one of {', '.join(repr(t) for t in VERSIONING_TYPES)}")
    params = versioning.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise FleetInputError("versioning params must map names to strings")
    return {"type": kind, "params": params}


def _versioning_differs(current: dict, wanted: dict) -> bool:
    now = current.get("versioning") or {}
    return now.get("type", "") != wanted["type"] or any(
        (now.get("params") or {}).get(k) != v for k, v in wanted["params"].items()
    )


def share_folder(
    folder_id: str,
    paths: dict[SyncthingInstance, str],
    folder_type: str | None = None,
    versioning: dict | None = None,
    label: str = "",
) -> list[InstanceReport]:
    """The folder exists on every given instance (created at its path where missing, which also accepts a pending
    offer of it) and is shared with all of them; the peers are added to each config where they are missing.

    `folder_type` None: a new folder is send-receive and an existing one keeps its type, so sharing a send-only
    folder with one more instance never turns it back into send-receive."""
    if not folder_id or len(paths) < 1:
        raise FleetInputError("give a folder id and at least one instance with its path")
    if folder_type is not None and folder_type not in FOLDER_TYPES:
        raise FleetInputError(f"folder type must be one of {', '.join(FOLDER_TYPES)}")
    versioning = _check_versioning(versioning)
    members = list(paths)
    peers = {}
    for me in members:
        with services.client_for(me) as st:
            peers[me.pk] = (_device_id_of(me), sync_addresses(me, st))

    def work(me: SyncthingInstance, st: Syncthing) -> list[str]:
        changes: list[str] = []
        for other in members:
            if other.pk != me.pk:
                changes += ensure_device(st, peers[other.pk][0], other.name, peers[other.pk][1])
        wanted = {peers[m.pk][0] for m in members}
        current = _folder(st, folder_id)
        if current is None:
            new = {
                "id": folder_id,
                "label": label or folder_id,
                "path": paths[me],
                "type": folder_type or "sendreceive",
                "devices": [{"deviceID": d} for d in sorted(wanted)],
            }
            if versioning is not None:
                new["versioning"] = versioning
            st.config.folders.add(new)
            return [*changes, f"folder {folder_id} created at {paths[me]} ({new['type']})"]
        patch: dict[str, Any] = {}
        have = {d["deviceID"] for d in current.get("devices") or []}
        if not wanted <= have:
            patch["devices"] = (current.get("devices") or []) + [{"deviceID": d} for d in sorted(wanted - have)]
            changes.append(f"folder {folder_id} shared with {len(wanted - have)} more device(s)")
        if folder_type is not None and current.get("type") != folder_type:
            patch["type"] = folder_type
            changes.append(f"folder {folder_id} type set to {folder_type}")
        if versioning is not None and _versioning_differs(current, versioning):
            patch["versioning"] = versioning
            changes.append(f"folder {folder_id} versioning set to {versioning['type'] or 'none'}")
        if patch:
            st.config.folders.patch(folder_id, patch)
        return changes

    return _run(members, work)


def unshare_folder(folder_id: str, instances: Iterable[SyncthingInstance], *, confirm: bool) -> list[InstanceReport]:
    """Remove the folder from these instances' configs (files stay on disk) and stop the others sharing it with
    them. Needs `confirm`: the removed instances stop syncing the folder."""
    if not confirm:
        raise FleetInputError("removing a folder needs confirmation (confirm=true, --yes)")
    leaving = list(instances)
    gone = {_device_id_of(i) for i in leaving}
    leaving_pks = {i.pk for i in leaving}
    staying = [i for i in services.enabled_instances() if i.pk not in leaving_pks]

    def remove(me: SyncthingInstance, st: Syncthing) -> list[str]:
        if _folder(st, folder_id) is None:
            return []
        st.config.folders.delete(folder_id)
        return [f"folder {folder_id} removed"]

    def forget(me: SyncthingInstance, st: Syncthing) -> list[str]:
        current = _folder(st, folder_id)
        if current is None:
            return []
        kept = [d for d in current.get("devices") or [] if d["deviceID"] not in gone]
        if len(kept) == len(current.get("devices") or []):
            return []
        st.config.folders.patch(folder_id, {"devices": kept})
        return [f"folder {folder_id} no longer shared with {len(current['devices']) - len(kept)} device(s)"]

    return _run(leaving, remove) + [r for r in _run(staying, forget) if r.status != "unchanged"]


def _sharing(folder_id: str, instances: Iterable[SyncthingInstance] | None) -> list[SyncthingInstance]:
    return list(instances) if instances is not None else services.enabled_instances()


def set_ignores(
    folder_id: str, patterns: list[str], instances: Iterable[SyncthingInstance] | None = None
) -> list[InstanceReport]:
    """The folder's `.stignore` holds exactly these lines on every instance that has the folder."""
    if any("\n" in p or "\r" in p for p in patterns):
        raise FleetInputError("one ignore pattern per item, without line breaks")

    def work(me: SyncthingInstance, st: Syncthing) -> list[str]:
        if _folder(st, folder_id) is None:
            return []
        current = st.db.ignores(folder_id).get("ignore") or []
        if list(current) == list(patterns):
            return []
        st.db.post("ignores", params={"folder": folder_id}, data={"ignore": list(patterns)})
        return [f"folder {folder_id} ignore patterns set ({len(patterns)} line(s))"]

    return _run(_sharing(folder_id, instances), work)


def set_versioning(
    folder_id: str, versioning: dict, instances: Iterable[SyncthingInstance] | None = None
) -> list[InstanceReport]:
    """The folder's file versioning on every instance that has it (type "" turns it off)."""
    wanted = _check_versioning(versioning)

    def work(me: SyncthingInstance, st: Syncthing) -> list[str]:
        current = _folder(st, folder_id)
        if current is None or not _versioning_differs(current, wanted):
            return []
        st.config.folders.patch(folder_id, {"versioning": wanted})
        return [f"folder {folder_id} versioning set to {wanted['type'] or 'none'}"]

    return _run(_sharing(folder_id, instances), work)


def set_folder_paused(
    folder_id: str, paused: bool, instances: Iterable[SyncthingInstance] | None = None
) -> list[InstanceReport]:
    """Pause or resume the folder on each instance that has it."""

    def work(me: SyncthingInstance, st: Syncthing) -> list[str]:
        current = _folder(st, folder_id)
        if current is None or bool(current.get("paused")) == paused:
            return []
        st.config.folders.patch(folder_id, {"paused": paused})
        return [f"folder {folder_id} {'paused' if paused else 'resumed'}"]

    return _run(_sharing(folder_id, instances), work)


def _reset_folder(
    folder_id: str, instances: Iterable[SyncthingInstance] | None, folder_type: str, counter: str, verb: str
) -> list[InstanceReport]:
    """Override (send-only) or revert (receive-only) where the copy of this type has `counter` items to reset."""

    def work(me: SyncthingInstance, st: Syncthing) -> list[str]:
        current = _folder(st, folder_id)
        if current is None or current.get("type") != folder_type or not st.db.status(folder_id).get(counter):
            return []
        (st.db.override if folder_type == "sendonly" else st.db.revert)(folder_id)
        return [f"folder {folder_id} {verb}"]

    return _run(_sharing(folder_id, instances), work)


def override_folder(folder_id: str, instances: Iterable[SyncthingInstance] | None = None) -> list[InstanceReport]:
    """On send-only copies that differ from the cluster: make this copy the global version again."""
    return _reset_folder(folder_id, instances, "sendonly", "needTotalItems", "overridden")


def revert_folder(folder_id: str, instances: Iterable[SyncthingInstance] | None = None) -> list[InstanceReport]:
    """On receive-only copies with local changes: drop them and take the cluster's version back."""
    return _reset_folder(folder_id, instances, "receiveonly", "receiveOnlyTotalItems", "reverted")


def accept_folder(instance: SyncthingInstance, folder_id: str, device_id: str, path: str = "") -> InstanceReport:
    """Accept a folder a device offered: share the existing folder with it, or create it at `path`."""

    def work(inst: SyncthingInstance, st: Syncthing) -> list[str]:
        current = _folder(st, folder_id)
        if current is not None:
            devices = current.get("devices") or []
            if any(d["deviceID"] == device_id for d in devices):
                return []
            st.config.folders.patch(folder_id, {"devices": [*devices, {"deviceID": device_id}]})
            return [f"folder {folder_id} shared with {device_id[:7]}"]
        offer = (st.cluster.pending_folders().get(folder_id) or {}).get("offeredBy", {}).get(device_id)
        if offer is None:
            raise FleetInputError(redact_urls_in_text(f"{device_id[:7]} offers no folder {folder_id!r} to {inst.name}"))
        if not path:
            raise FleetInputError(
                redact_urls_in_text(f"folder {folder_id!r} is new on {inst.name}: give the path where to keep it")
            )
        label = offer.get("label") or folder_id
        st.config.folders.add({"id": folder_id, "label": label, "path": path, "devices": [{"deviceID": device_id}]})
        return [f"folder {folder_id} created at {path}"]

    return _run([instance], work)[0]
