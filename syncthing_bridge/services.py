"""The only door into syncthing_bridge: other apps and the views call these functions, never the models directly.

It is also the only writer of this app's tables. The tracker is reached only through `tracker.services`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, close_old_connections, connections, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from syncsite.redact import redact_urls_in_text
from syncthing_bridge import conf
from syncthing_bridge.client import Syncthing, SyncthingError, SyncthingNotFoundError, parse_datetime
from syncthing_bridge.errors import DaemonError, FleetInputError, InstanceConfigError, SyncthingBridgeError  # noqa: F401
from syncthing_bridge.models import (
    SyncthingDevice,
    SyncthingInstance,
    VolumeMapping,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRACKED_EVENTS = ("ItemFinished", "FolderCompletion", "LocalIndexUpdated")


# --------------------------------------------------------------------------------------------- clients


def _ca_file(pem: str) -> str:
    """requests wants a file path for a CA bundle: keep the PEM in the var dir under its content hash."""
    directory = Path(settings.VAR_DIR) / "syncthing-ca"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (hashlib.sha256(pem.encode()).hexdigest()[:32] + ".pem")
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(pem)
        tmp.replace(path)
    return str(path)


def usable(instance: SyncthingInstance) -> SyncthingInstance:
    """The instance itself, or InstanceConfigError (409) when its stored configuration cannot work."""
    problems = instance.configuration_problems()
    if problems:
        raise InstanceConfigError(f"Syncthing instance {instance.name!r} is misconfigured: {'; '.join(problems)}")
    return instance


def daemon_action(func: Callable[..., T], instance: SyncthingInstance, *args: Any) -> T:
    """Run `func(instance, *args)` for the API: a misconfigured instance is InstanceConfigError (409), a daemon that
    fails or cannot be reached DaemonError (502), its message shown without the credentials of any URL in it.
    """
    usable(instance)
    try:
        return func(instance, *args)
    except InstanceConfigError:
        raise
    except SyncthingError as exc:
        raise DaemonError(redact_urls_in_text(str(exc))) from exc


def client_for(instance: SyncthingInstance, timeout: float | None = None) -> Syncthing:
    """A bindings client for the instance (its CA certificate verifies a self-signed GUI certificate).

    InstanceConfigError when the stored configuration cannot work; nothing is sent then.
    """
    usable(instance)
    ca = _ca_file(instance.ca_certificate.strip() + "\n") if instance.ca_certificate.strip() else None
    return Syncthing.from_url(instance.url, instance.api_key, timeout=timeout or instance.timeout, ssl_cert_file=ca)


def enabled_instances() -> list[SyncthingInstance]:
    return list(SyncthingInstance.objects.filter(enabled=True))


def get_instance(pk_or_name: int | str) -> SyncthingInstance:
    """By primary key or name; SyncthingInstance.DoesNotExist otherwise."""
    if isinstance(pk_or_name, int) or str(pk_or_name).isdigit():
        found = SyncthingInstance.objects.filter(Q(pk=int(pk_or_name)) | Q(name=str(pk_or_name))).first()
        if found:
            return found
        raise SyncthingInstance.DoesNotExist(f"no Syncthing instance {pk_or_name!r}")
    return SyncthingInstance.objects.get(name=pk_or_name)


def create_instance(name: str, url: str, api_key: str, **fields: Any) -> SyncthingInstance:
    """A new instance, validated like the admin form validates it (ValidationError otherwise)."""
    instance = SyncthingInstance(name=name, url=url, api_key=api_key, **fields)
    instance.full_clean()
    check_site(instance.site, instance.syncthing_only)
    instance.save()
    return instance


def update_instance(instance: SyncthingInstance, **fields: Any) -> SyncthingInstance:
    """Change configured fields; a blank or missing api_key keeps the stored one. ValidationError when invalid."""
    if not fields.get("api_key"):
        fields.pop("api_key", None)
    previous_site = instance.site
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean(exclude=[f.name for f in instance._meta.fields if f.name not in fields] if fields else None)
    check_site(instance.site, instance.syncthing_only, previous_site)
    instance.save(update_fields=list(fields) or None)
    return instance


def check_site(site: str, syncthing_only: bool, previous: str | None = None) -> None:
    """A site must name a tracker volume unless declared Syncthing-only: a misspelt site would feed nothing.

    One rule for the admin, the API and the services; a site stored before the rule existed is kept as is."""
    if not site or syncthing_only or site == previous:
        return
    if site not in _tracker().sites():
        raise ValidationError(
            {
                "site": f"There is no tracker volume named {site!r}: name an existing volume,"
                " or tick 'Syncthing-only site' for a site the tracker does not know."
            }
        )


def delete_instance(instance: SyncthingInstance) -> None:
    instance.delete()


def map_folder(instance: SyncthingInstance, folder_id: str, tracker_prefix: str, **fields: Any) -> VolumeMapping:
    """Track the files of a Syncthing folder under `tracker_prefix` in the tracker."""
    VolumeMapping(instance=instance, folder_id=folder_id, tracker_prefix=tracker_prefix).clean()
    mapping, _ = VolumeMapping.objects.update_or_create(
        instance=instance, folder_id=folder_id, defaults={"tracker_prefix": tracker_prefix, **fields}
    )
    return mapping


# --------------------------------------------------------------------------------------------- actions


def _record_error(instance: SyncthingInstance, exc: Exception) -> None:
    message = redact_urls_in_text(str(exc))[:2000]
    SyncthingInstance.objects.filter(pk=instance.pk).update(reachable=False, last_error=message)
    instance.reachable, instance.last_error = False, message


def test_connection(instance: SyncthingInstance) -> dict:
    """Ask the daemon who and what it is; records reachability. Raises SyncthingError with the reason."""
    with client_for(instance) as st:
        try:
            version = st.system.version()
            status = st.system.status()
        except SyncthingError as exc:
            _record_error(instance, exc)
            raise
    SyncthingInstance.objects.filter(pk=instance.pk).update(
        reachable=True, last_error="", version=version.get("version", ""), device_id=status.get("myID", "")
    )
    instance.reachable, instance.version, instance.device_id = True, version.get("version", ""), status.get("myID", "")
    return {"version": version.get("version", ""), "device_id": status.get("myID", ""), "uptime": status.get("uptime")}


def rescan_folder(instance: SyncthingInstance, folder_id: str, sub: str | None = None) -> None:
    with client_for(instance) as st:
        st.db.scan(folder_id, sub=sub)


def pause_device(instance: SyncthingInstance, device_id: str) -> None:
    _set_device_paused(instance, device_id, paused=True)


def resume_device(instance: SyncthingInstance, device_id: str) -> None:
    _set_device_paused(instance, device_id, paused=False)


def _set_device_paused(instance: SyncthingInstance, device_id: str, *, paused: bool) -> None:
    """Pause or resume a device on the daemon, then mirror it (a paused device is not connected)."""
    with client_for(instance) as st:
        result = st.system.pause(device_id) if paused else st.system.resume(device_id)
    if not result["success"]:
        verb = "pausing" if paused else "resuming"
        raise SyncthingError(f"{verb} {device_id} on {instance.name} failed: {result['error']}")
    mirrored = {"paused": True, "connected": False} if paused else {"paused": False}
    SyncthingDevice.objects.filter(instance=instance, device_id=device_id).update(**mirrored)


def restart(instance: SyncthingInstance) -> None:
    """Ask the daemon to restart itself (its event ids start over; the listener copes)."""
    with client_for(instance) as st:
        st.system.restart()


# --------------------------------------------------------------------------------------------- state mirror


def _when(value: str | None) -> datetime | None:
    """A daemon timestamp, or None for Syncthing's "never" (the zero time)."""
    if not value or value.startswith(("1970-01-01", "0001-")):
        return None
    try:
        return parse_datetime(value)
    except SyncthingError:
        return None


# --------------------------------------------------------------------------------------------- tracker feed


@dataclass
class FeedStats:
    synced: int = 0
    published: int = 0
    modified: int = 0
    deleted: int = 0
    unmatched: int = 0
    completed: int = 0
    events: int = 0

    def add(self, other: FeedStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _FeedState:
    """What a listener remembers between batches of one instance."""

    pulled: OrderedDict = field(default_factory=OrderedDict)  # (folder, item) -> monotonic time, recent pulls
    # tracker path -> (first seen (monotonic), file version): finished here, but the tracker does not know that
    # version yet (its origin's listener publishes or marks it modified a moment later)
    waiting: dict = field(default_factory=dict)
    completion: dict = field(default_factory=dict)  # (folder, device) -> last completion seen

    def remember_pull(self, folder: str, item: str) -> None:
        self.pulled[(folder, item)] = time.monotonic()
        while len(self.pulled) > 20000:
            self.pulled.popitem(last=False)


def _tracker():
    from tracker import services as tracker_services

    return tracker_services


def _ms(value: Any) -> int:
    when = _when(value) if isinstance(value, str) else None
    return int(when.timestamp() * 1000) if when else 0


@dataclass
class FeedPlan:
    """What a batch of events means for the tracker, worked out with the daemon before any database write."""

    site: str
    events: int = 0
    finished: dict[str, dict] = field(default_factory=dict)  # tracker path -> version pulled into this site
    local: dict[str, dict] = field(default_factory=dict)  # tracker path -> file entry changed by this device
    completions: list[tuple[VolumeMapping, str]] = field(default_factory=list)  # (mapping, device at 100 %)


def plan_feed(
    instance: SyncthingInstance, events: list[dict], st: Syncthing | None = None, state: _FeedState | None = None
) -> FeedPlan:
    """Read the batch (and ask the daemon who changed the files its index updated); writes nothing."""
    plan = FeedPlan(site=instance.site, events=len(events))
    state = state if state is not None else _FeedState()
    if not instance.site:
        return plan
    mappings = {m.folder_id: m for m in VolumeMapping.objects.filter(instance=instance)}
    if not mappings:
        return plan
    local: dict[str, tuple[VolumeMapping, str]] = {}
    finished: dict[str, tuple[VolumeMapping, str]] = {}
    for event in events:
        data = event.get("data") or {}
        mapping = mappings.get(data.get("folder", ""))
        if mapping is None:
            continue
        kind = event.get("type")
        if kind == "ItemFinished":
            if data.get("error") or data.get("type") not in ("file", None) or data.get("action") == "delete":
                continue
            state.remember_pull(mapping.folder_id, data["item"])
            finished[mapping.tracker_path(data["item"])] = (mapping, data["item"])
        elif kind == "LocalIndexUpdated" and mapping.publish_local_files:
            for name in data.get("filenames") or []:
                if state.pulled.pop((mapping.folder_id, name), None) is not None:
                    continue  # the index update that follows a pull; later changes here are news again
                local[mapping.tracker_path(name)] = (mapping, name)
        elif kind == "FolderCompletion":
            key = (mapping.folder_id, data.get("device", ""))
            value = float(data.get("completion", 0) or 0)
            previous = state.completion.get(key)
            state.completion[key] = value
            if value >= 100 and (previous is None or previous < 100):  # only when it reaches 100 %: a tree walk
                plan.completions.append((mapping, key[1]))
    if local or finished:
        plan.local, plan.finished = _file_versions(instance, local, finished, st)
    return plan


def _version(entry: dict) -> dict:
    return {"file_mtime": _ms(entry.get("modified")), "file_size": int(entry.get("size") or 0)}


def _file_versions(
    instance: SyncthingInstance,
    local: dict[str, tuple[VolumeMapping, str]],
    finished: dict[str, tuple[VolumeMapping, str]],
    st: Syncthing | None,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Ask the daemon about the files of a batch.

    Of the files its index updated: those this device modified itself (not pulled from a peer), with their entry.
    Of the files it pulled: the version it now has (mtime, size), so they are marked synced only once the tracker
    records that version.
    """
    own = (instance.device_id or "")[:7]
    close = st is None
    st = st or client_for(instance)
    changed: dict[str, dict] = {}
    pulled: dict[str, dict] = {}
    try:
        if local and not own:
            own = (st.system.status().get("myID") or "")[:7]
        for path, (mapping, name) in local.items():
            try:
                info = st.db.file(mapping.folder_id, name)
            except SyncthingNotFoundError:
                continue
            entry = info.get("local") or info.get("global") or {}
            if entry.get("modifiedBy") == own and entry.get("type") in ("FILE_INFO_TYPE_FILE", 0, "file"):
                changed[path] = entry
        for path, (mapping, name) in finished.items():
            try:
                info = st.db.file(mapping.folder_id, name)
            except SyncthingNotFoundError:
                continue
            # ItemFinished comes before the daemon records the new version locally (its local entry is still the
            # previous version, or empty): the version pulled is the global one
            pulled[path] = _version(info.get("global") or info.get("local") or {})
    finally:
        if close:
            st.close()
    return changed, pulled


def _is_version(node: dict, version: dict) -> bool:
    """The tracker node describes this file version (nodes without file_mtime/file_size are taken as it)."""
    mtime, size = node.get("file_mtime"), node.get("file_size")
    if size is not None and version.get("file_size") is not None and int(size) != version["file_size"]:
        return False
    return mtime is None or not version.get("file_mtime") or abs(int(mtime) - version["file_mtime"]) < 1000


def apply_feed(instance: SyncthingInstance, plan: FeedPlan, state: _FeedState | None = None) -> FeedStats:
    """Write a planned batch to the tracker (call inside a transaction, with the listener's progress)."""
    stats = FeedStats(events=plan.events)
    state = state if state is not None else _FeedState()
    if not plan.site:
        return stats
    tracker = _tracker()
    site = plan.site
    finished = dict(plan.finished)
    if state.waiting:
        horizon = time.monotonic() - conf.unmatched_retry_seconds()
        state.waiting = {p: w for p, w in state.waiting.items() if w[0] > horizon}
        for path, (_, version) in state.waiting.items():
            finished.setdefault(path, version)
    if finished:
        paths = list(finished)
        nodes = dict(zip(paths, tracker.get_nodes(paths), strict=True))
        matched = [p for p in paths if nodes[p] and _is_version(nodes[p], finished[p])]
        if matched:
            stats.synced += tracker.mark_synced_many(matched, site)
        now = time.monotonic()
        for path in paths:
            if path in matched:
                state.waiting.pop(path, None)
            elif path not in state.waiting:
                state.waiting[path] = (now, finished[path])
                logger.debug("%s: %s pulled as %s; tracker has %s", instance.name, path, finished[path], nodes[path])
        stats.unmatched = len(state.waiting)
    if plan.local:
        _apply_local_changes(instance, site, plan.local, stats)
    for mapping, device in plan.completions:
        stats.completed += _feed_completion(instance, mapping, device)
    return stats


def feed_tracker(
    instance: SyncthingInstance,
    events: list[dict],
    st: Syncthing | None = None,
    state: _FeedState | None = None,
) -> FeedStats:
    """Apply a batch of events to the tracker: files finished here are `synced_<site>`; files created or changed
    here are published (comment `modified at <site>`) or marked modified, deleted ones marked deleted; a remote
    device at 100 % for a folder marks the files that came from here synced at that device's site.
    """
    state = state if state is not None else _FeedState()
    plan = plan_feed(instance, events, st, state)
    with transaction.atomic():
        return apply_feed(instance, plan, state)


def _apply_local_changes(instance: SyncthingInstance, site: str, infos: dict[str, dict], stats: FeedStats) -> None:
    tracker = _tracker()
    nodes = dict(zip(infos, tracker.get_nodes(list(infos)), strict=True))
    deleted = [p for p, e in infos.items() if e.get("deleted") and nodes[p] and not nodes[p].get("deleted")]
    if deleted:
        stats.deleted += tracker.mark_deleted_many(deleted, site)
    new = []
    for path, entry in infos.items():
        if entry.get("deleted"):
            continue
        mtime, size = _ms(entry.get("modified")), int(entry.get("size") or 0)
        node = nodes[path]
        if node is None:
            new.append(
                {
                    "_id": path,
                    "origin": site,
                    "comment": f"modified at {site}",
                    "file_mtime": mtime,
                    "file_size": size,
                    f"synced_{site}": tracker.now_ms(),
                }
            )
        elif node.get("file_size") != size or abs(int(node.get("file_mtime") or 0) - mtime) >= 1000:
            tracker.mark_modified(path, site, file_mtime=mtime, file_size=size)
            stats.modified += 1
    if new:
        stats.published += sum(1 for r in tracker.publish_many(new, author=f"syncthing:{instance.name}") if r)


def _feed_completion(instance: SyncthingInstance, mapping: VolumeMapping, device_id: str) -> int:
    """`device_id` holds everything of the folder: files that came from this site are synced at its site."""
    other = SyncthingInstance.objects.filter(device_id=device_id).exclude(site="").exclude(pk=instance.pk).first()
    if other is None:
        return 0
    tracker = _tracker()
    key = f"synced_{other.site}"
    prefix = mapping.tracker_prefix.rstrip("/") + "/"
    paths = [
        node["_id"]
        for node in tracker.iter_file_nodes(prefix)
        if node.get("origin") == instance.site
        and not node.get("deleted")
        and int(node.get(key) or 0) < int(node.get("time") or 0)
    ]
    return tracker.mark_synced_many(paths, other.site) if paths else 0


# --------------------------------------------------------------------------------------------- listener


def save_listener_progress(instance: SyncthingInstance, last_event_id: int, error: str = "") -> None:
    SyncthingInstance.objects.filter(pk=instance.pk).update(
        last_event_id=last_event_id, listener_seen=timezone.now(), listener_error=redact_urls_in_text(error)[:2000]
    )
    instance.last_event_id = last_event_id


def _sqlite_busy(exc: OperationalError) -> bool:
    return "locked" in str(exc)


class InstanceListener:
    """Tails one instance's events from the id stored in the database and feeds the tracker.

    Reconnects with backoff when the daemon goes away or rejects the key; a restarted daemon (ids starting over)
    is followed from its first event.
    """

    def __init__(self, instance: SyncthingInstance, stop: threading.Event, poll_timeout: int | None = None):
        self.instance = instance
        self.stop_event = stop
        self.poll_timeout = poll_timeout or conf.listener_poll_seconds()
        self.stats = FeedStats()
        self.state = _FeedState()
        self.stream = None
        self.rates_at = float("-inf")  # when the byte counters were last sampled (time.monotonic)
        self.moving = False  # a device was transferring at the last sample

    def run(self) -> None:
        delay = conf.listener_min_backoff()
        while not self.stop_event.is_set():
            try:
                self._follow()
                delay = conf.listener_min_backoff()
            except SyncthingError as exc:
                logger.warning("listener %s: %s (retrying in %.0fs)", self.instance.name, exc, delay)
                save_listener_progress(self.instance, self.instance.last_event_id, str(exc))
                if self.stop_event.wait(delay):
                    break
                delay = min(delay * 2, conf.listener_max_backoff())
            except Exception:
                logger.exception("listener %s failed; restarting it", self.instance.name)
                if self.stop_event.wait(delay):
                    break
                delay = min(delay * 2, conf.listener_max_backoff())
            finally:
                close_old_connections()
        connections.close_all()  # this thread's connections: they would outlive it otherwise

    def _apply(self, plan: FeedPlan, last_seen_id: int) -> FeedStats:
        """Write the batch and the progress in one transaction; SQLite's "locked" is waited out a few times."""
        attempt = 0
        while True:
            waiting = dict(self.state.waiting)  # rolled back with the transaction
            try:
                with transaction.atomic():
                    stats = apply_feed(self.instance, plan, self.state)
                    save_listener_progress(self.instance, last_seen_id)
                return stats
            except Exception as exc:
                self.state.waiting = waiting
                attempt += 1
                if not (isinstance(exc, OperationalError) and _sqlite_busy(exc)) or attempt >= 5:
                    raise
                time.sleep(0.05 * 2**attempt)

    def _handle(self, batch: list[dict], st: Syncthing) -> None:
        if batch:
            self._apply_state(batch, st)
        if batch or self.state.waiting:
            plan = plan_feed(self.instance, batch, st, self.state)  # daemon calls: no transaction open
            self.stats.add(self._apply(plan, self.stream.last_seen_id))
        elif self.stream.last_seen_id != self.instance.last_event_id:
            save_listener_progress(self.instance, self.stream.last_seen_id)
        else:
            SyncthingInstance.objects.filter(pk=self.instance.pk).update(
                listener_seen=timezone.now(), listener_error=""
            )

    def _apply_state(self, batch: list[dict], st: Syncthing) -> None:
        """The mirrored state follows the events at once; a failure here must not stop the tracker feed."""
        try:
            apply_events(self.instance, batch, st)
        except SyncthingError as exc:
            logger.warning("listener %s: state update failed: %s", self.instance.name, exc)
        except OperationalError as exc:
            logger.warning("listener %s: state not updated: %s (a refresh repairs it)", self.instance.name, exc)
        from syncthing_bridge import alerts  # DeviceDisconnected, FolderErrors: told at once, not at the next check

        for event in batch:
            alerts.on_event(self.instance, event)

    def _sample_rates(self, st: Syncthing) -> None:
        """The devices' transfer rates from the connections' byte counters, every few seconds (between refreshes)."""
        now = time.monotonic()
        if now - self.rates_at < conf.rate_sample_seconds():
            return
        self.rates_at = now
        try:
            connections = st.system.connections().get("connections", {})
            with database_turn():
                self.moving = store_rates(self.instance, connections)
        except SyncthingError as exc:
            logger.info("listener %s: rates not sampled: %s", self.instance.name, exc)
        except OperationalError as exc:
            logger.warning("listener %s: rates not stored: %s", self.instance.name, exc)

    def _stream(self, st: Syncthing, last_seen_id: int):
        return st.events(
            last_seen_id=last_seen_id,
            poll_timeout=self.poll_timeout,
            retry_delay=conf.listener_min_backoff(),
            max_retry_delay=conf.listener_max_backoff(),
            max_retries=3,
        )

    def _follow(self) -> None:
        self.instance.refresh_from_db()
        st = client_for(self.instance)
        if not self.instance.device_id:
            self.instance.device_id = st.system.status().get("myID", "")
            SyncthingInstance.objects.filter(pk=self.instance.pk).update(device_id=self.instance.device_id)
        # the default subscription (no filters) buffers from daemon start; a filtered one only from its first poll
        self.stream = self._stream(st, self.instance.last_event_id)
        try:
            for batch in self.stream.batches():
                if self.stop_event.is_set():
                    break
                with database_turn():
                    self._handle(batch, st)
                self._sample_rates(st)
                # files finished here but not tracked yet are retried after each poll, and the rates of a transfer
                # are sampled until it ends: poll briefly meanwhile
                brief = 1 if self.state.waiting else conf.rate_sample_seconds() if self.moving else self.poll_timeout
                self.stream.poll_timeout = max(1, min(self.poll_timeout, math.ceil(brief)))

        finally:
            self.stream.stop()
            st.close()


class DiskListener(InstanceListener):
    """Tails an instance's `/rest/events/disk` (LocalChangeDetected, RemoteChangeDetected: not in the main
    stream, and numbered on their own) from `last_disk_event_id`, for last changes and conflict copies."""

    def _follow(self) -> None:
        self.instance.refresh_from_db()
        with client_for(self.instance) as st:
            self.stream = self._stream(st, self.instance.last_disk_event_id)
            try:
                for batch in self.stream.disk_batches():
                    if self.stop_event.is_set():
                        break
                    with database_turn():
                        if batch:
                            self.stats.events += apply_events(self.instance, batch, st)
                        if self.stream.last_seen_id != self.instance.last_disk_event_id:
                            SyncthingInstance.objects.filter(pk=self.instance.pk).update(
                                last_disk_event_id=self.stream.last_seen_id
                            )
                            self.instance.last_disk_event_id = self.stream.last_seen_id
            finally:
                self.stream.stop()


def listen(
    instances: Iterable[SyncthingInstance] | None = None,
    *,
    stop: threading.Event | None = None,
    duration: float | None = None,
    poll_timeout: int | None = None,
) -> FeedStats:
    """Tail the events of every enabled instance (one thread each) until `stop` is set or `duration` passes."""
    stop = stop or threading.Event()
    targets = list(instances) if instances is not None else enabled_instances()
    listeners = [InstanceListener(i, stop, poll_timeout) for i in targets]
    listeners += [DiskListener(i, stop, poll_timeout) for i in targets]
    threads = [
        threading.Thread(target=lst.run, name=f"syncthing-{lst.instance.name}", daemon=True) for lst in listeners
    ]
    for thread in threads:
        thread.start()
    stop.wait(duration)
    stop.set()
    for lst in listeners:  # wakes a stream that is waiting to reconnect
        if lst.stream is not None:
            lst.stream.stop()
    for thread in threads:
        thread.join((poll_timeout or conf.listener_poll_seconds()) + 15)
    total = FeedStats()
    for lst in listeners:
        total.add(lst.stats)
    return total


# --------------------------------------------------------------------------------------------- dashboard


def overview() -> list[SyncthingInstance]:
    """Instances with their devices, folders and completions, in a fixed number of queries (the /syncthing/ page)."""
    return list(
        SyncthingInstance.objects.prefetch_related(
            "devices",
            "folders__completions",
            "folders__errors",
            "folders__conflicts",
            "mappings",
            "pending_devices",
            "pending_folders",
        ).order_by("name")
    )


def dashboard_cards() -> list[dict]:
    """Counts for the home page: {"key", "title", "count", "url", "note"} per card."""
    counts = SyncthingInstance.objects.aggregate(
        total=Count("pk"), up=Count("pk", filter=Q(enabled=True, reachable=True))
    )
    if not counts["total"]:
        return []
    return [
        {
            "key": "syncthing",
            "title": "Syncthing instances",
            "count": counts["total"],
            "url": reverse("syncthing:index"),
            "note": f"{counts['up']} reachable",
        }
    ]


def dashboard_sections() -> list[dict]:
    """Extra home page sections: {"template", "data"} each."""
    instances = list(
        SyncthingInstance.objects.annotate(
            device_count=Count("devices", filter=Q(devices__is_self=False), distinct=True),
            connected_count=Count("devices", filter=Q(devices__connected=True), distinct=True),
            folder_count=Count("folders", distinct=True),
            busy_folders=Count("folders", filter=~Q(folders__state__in=["idle", ""]), distinct=True),
        ).order_by("name")
    )
    if not instances:
        return []
    return [{"template": "syncthing_bridge/dashboard_section.html", "data": {"instances": instances}}]


def status_for_inventory(instance: SyncthingInstance) -> dict:
    """What the inventory plugin stores for an instance: version, uptime, connected devices, folder states."""
    devices = [d for d in instance.devices.all() if not d.is_self]
    return {
        "device_id": instance.device_id,
        "version": instance.version,
        "uptime": instance.uptime,
        "reachable": instance.reachable,
        "site": instance.site,
        "connected_devices": sorted(d.name or d.device_id for d in devices if d.connected),
        "devices": len(devices),
        "folder_states": {f.folder_id: f.state for f in instance.folders.all()},
        "last_refresh": instance.last_refresh.astimezone(UTC).isoformat() if instance.last_refresh else "",
    }


def inventory_objects() -> list[tuple[str, dict]]:
    """(host name, inventory data) per enabled instance, in three queries."""
    return [
        (i.name, status_for_inventory(i))
        for i in SyncthingInstance.objects.filter(enabled=True).prefetch_related("devices", "folders")
    ]


# --------------------------------------------------------------------------------------------- parts of this door
# Re-exported here so other apps and the views have one door; these modules use this one's clients.

from syncthing_bridge.fleet import (  # noqa: E402, F401
    InstanceReport,
    accept_device,
    accept_folder,
    override_folder,
    pair_instances,
    reports_as_dicts,
    revert_folder,
    set_device_paused,
    set_folder_paused,
    set_ignores,
    set_versioning,
    share_folder,
    unshare_folder,
)
from syncthing_bridge.live import apply_events, database_turn  # noqa: E402
from syncthing_bridge.mirror import refresh_all, refresh_instance, refresh_instances, store_rates  # noqa: E402, F401


def tracker_sites() -> list[str]:
    """The tracker sites this bridge feeds (one per instance with a site): columns on the tracker's pages."""
    return list(SyncthingInstance.objects.exclude(site="").values_list("site", flat=True).distinct())


def register_tracker_columns() -> None:
    """Offer the fed sites to the tracker's pages (called from the app's ready())."""
    _tracker().register_column_sites("syncthing_bridge", tracker_sites)
