"""The site agent: reception, emission, discovery and heartbeat for one volume, through `tracker.services` only.

A round claims a batch with `claim_paths` (which also marks `syncing_<site>` and skips files in error
backoff or claimed by another agent), copies it with one rsync per origin volume, then records the outcome in
bulk (`mark_synced_many` / `mark_error_many`). Claims of a killed agent go stale and are offered again by
`claim_paths`; a stopped agent gives its claims back with `release_claims`. Files deleted at their origin are
moved into the volume's trash (`trash`), bounded per round.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

from tracker import rsyncpolicy, services
from tracker.agent import AGENT_VERSION, conf, trash
from tracker.agent.capacity import CapacityError, volume_capacity
from tracker.agent.known import iter_scan_nodes
from tracker.agent.rsync import CONFIG_ERROR, EXCLUDED, MESSAGE_LIMIT, BatchResult, copy_batch
from tracker.agent.scanner import PatternRules, compare, walk_volume
from tracker.agent.volumes import VolumeLocation, VolumeURLError, parse_volume_url

logger = logging.getLogger(__name__)

MAX_BATCHES_PER_ROUND = 10_000  # a guard: every claimed file leaves the queue (synced, or backing off)
STATUS_INTERVAL_MS = 5_000  # how often a busy agent rewrites last_reception / last_emission at most
DELETION_STORM = -6  # exit_deletion: more deletions than deletionMaxPerRound; nothing was moved


class AgentError(Exception):
    """The agent cannot run for this site at all (no volume node, unusable url)."""


def flag(value: object, default: bool) -> bool:
    """Volume and global switches arrive as JSON booleans, but people also type "true"/"0" in the admin."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _int(value: object, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


@dataclass
class PhaseReport:
    """What one phase did in a round."""

    batches: int = 0
    synced: int = 0
    errors: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    skipped: str = ""


@dataclass
class ScanReport:
    files: int = 0
    new: int = 0
    published: int = 0
    modified: int = 0
    deleted: int = 0
    duration: float = 0.0
    skipped: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class DeletionReport:
    """Deletions propagated in a round: files moved into the trash, already gone, failed; a storm moves none."""

    trashed: int = 0
    gone: int = 0
    errors: int = 0
    storm: bool = False
    purged: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class RoundReport:
    reception: PhaseReport = field(default_factory=PhaseReport)
    emission: PhaseReport = field(default_factory=PhaseReport)
    scan: ScanReport = field(default_factory=ScanReport)
    deletion: DeletionReport = field(default_factory=DeletionReport)

    @property
    def busy(self) -> bool:
        return bool(self.reception.batches or self.emission.batches or self.scan.published or self.scan.modified)

    def as_dict(self) -> dict:
        return {
            "reception": vars(self.reception),
            "emission": vars(self.emission),
            "scan": vars(self.scan),
            "deletion": vars(self.deletion),
        }


def _stderr_summary(results: list[BatchResult]) -> str:
    text = "\n".join(r.stderr.strip() for r in results if r.stderr.strip())
    if not text:
        text = "\n".join(f"{path}: {message}" for r in results for path, _code, message in r.errors[:20])
    return text[-MESSAGE_LIMIT:]


def _exit_code(results: list[BatchResult]) -> int:
    """The volume's exit_* key: 0 when every file made it, else the first failure's code."""
    for result in results:
        if result.errors:
            return result.errors[0][1] if result.returncode == 0 else result.returncode
    return 0


class SiteAgent:
    """One site's agent. Not thread-safe; run one per process (several processes per site are fine)."""

    def __init__(self, site: str, *, log: Callable[[str], None] | None = None) -> None:
        self.site = site
        self.log = log or logger.info
        self.started_ms = services.now_ms()
        self.claimed: dict[str, set[str]] = {}  # destination site -> paths claimed and not yet recorded
        self._prefetched: list[tuple[str, str | None]] | None = None  # the next reception batch, claimed
        self.stop_event = threading.Event()
        self.volume = self._load_volume()

    # ------------------------------------------------------------------ configuration

    def _load_volume(self) -> dict:
        volume = services.get_volume(self.site)
        if volume is None:
            raise AgentError(f"no volume named {self.site!r} in the tracker")
        return volume

    def _phase_location(self, phase: str, enabled: bool, report: PhaseReport) -> VolumeLocation | None:
        """This volume's location for a phase, or None with the reason on the report (and on the volume node)."""
        if not enabled:
            report.skipped = f"{phase} disabled"
            return None
        try:
            return self.location()
        except AgentError as exc:
            services.update_volume(self.site, {f"exit_{phase}": CONFIG_ERROR, f"stderr_{phase}": str(exc)})
            report.skipped = str(exc)
            return None

    def location(self) -> VolumeLocation:
        try:
            return parse_volume_url(self.volume.get("url") or "")
        except VolumeURLError as exc:
            raise AgentError(f"volume {self.site}: {exc}") from exc

    def _rsync_options(self) -> dict:
        return {"rsync_args": self.volume.get("rsync_args") or "", "rsync_env": self.volume.get("rsync_env") or ""}

    def _transfer_rules(self) -> PatternRules:
        """The global glob rules, parsed (rsyncpolicy.PatternRuleError when a stored rule does not parse)."""
        parameters = services.global_parameters()
        include = rsyncpolicy.parse_pattern_rules(parameters.get("includePatternRules"), "includePatternRules")
        exclude = rsyncpolicy.parse_pattern_rules(parameters.get("excludePatternRules"), "excludePatternRules")
        exclude += rsyncpolicy.parse_pattern_rules(parameters.get("excludedFiles"), "excludedFiles")
        return PatternRules(include, exclude)

    def _copy(
        self, source: VolumeLocation, destination: VolumeLocation, paths: list[str], rules: PatternRules | None = None
    ) -> BatchResult:
        """copy_batch for the paths the glob rules allow; the others fail with EXCLUDED and are not copied.

        The rules are matched here, on the ids (an allow-list), never handed to rsync as filter rules; the
        excludes also reach rsync as plain `--exclude=<glob>` so the insides of folder packages obey them.
        With `rules` given (read beforehand) this reads nothing from the database."""
        if rules is None:
            try:
                rules = self._transfer_rules()
            except rsyncpolicy.PatternRuleError as exc:
                return BatchResult(returncode=CONFIG_ERROR, errors=[(p, CONFIG_ERROR, str(exc)) for p in paths])
        refused = []
        if rules.include_patterns or rules.exclude_patterns:
            allowed = []
            for path in paths:
                reason = rules.refuses(path)
                if reason:
                    refused.append((path, EXCLUDED, reason))
                else:
                    allowed.append(path)
            paths = allowed
        result = copy_batch(source, destination, paths, excludes=rules.exclude_patterns, **self._rsync_options())
        result.errors += refused
        return result

    # ------------------------------------------------------------------ heartbeat

    def heartbeat(self, status: str = "on") -> None:
        """Agent keys on the volume node; the connection keys say whether the volume root is reachable."""
        now = services.now_ms()
        self.volume = self._load_volume()
        changes: dict = {
            "agentStatus": status,
            "agentVersion": AGENT_VERSION,
            "agentStartTime": self.started_ms,
            "lastConnectionAttempt": now,
        }
        reachable = None
        try:
            location = self.location()
            if not location.is_remote:
                reachable = os.path.isdir(location.path) and os.access(location.path, os.R_OK | os.X_OK)
        except AgentError:
            reachable = False
        if reachable is not None:
            previous_ok = (self.volume.get("lastConnectionSuccess") or 0) >= (
                self.volume.get("lastConnectionAttempt") or 0
            ) and self.volume.get("lastConnectionAttempt") is not None
            if reachable:
                changes["lastConnectionSuccess"] = now
            if self.volume.get("lastConnectionAttempt") is None or previous_ok != reachable:
                changes["lastConnectionStatusChange"] = now
        if self.volume.get("agentStatus") != status and "lastConnectionStatusChange" not in changes:
            changes["lastConnectionStatusChange"] = now
        if status == "on":
            changes.update(self._capacity(now))
        self.volume = services.update_volume(self.site, changes)

    def _capacity(self, now: int) -> dict:
        """bytesTotal / bytesUsed of the volume (statvfs here; `df` over ssh at most every
        TRACKER_CAPACITY_INTERVAL_SECONDS), with capacityTime; capacityError when it cannot be read."""
        try:
            location = self.location()
        except AgentError:
            return {}
        last = self.volume.get("capacityTime")
        interval = conf.capacity_interval_seconds() * 1000
        if location.is_remote and isinstance(last, int | float) and now - last < interval:
            return {}
        try:
            total, used = volume_capacity(location)
        except CapacityError as exc:
            return {"capacityError": str(exc)[:MESSAGE_LIMIT], "capacityTime": now}
        return {"bytesTotal": total, "bytesUsed": used, "capacityTime": now, "capacityError": None}

    # ------------------------------------------------------------------ copying

    def _record(self, result: BatchResult, destination_site: str) -> None:
        if result.synced:
            services.mark_synced_many(result.synced, destination_site)
        if result.errors:
            services.mark_error_many(result.errors, destination_site)
        claimed = self.claimed.get(destination_site, set())
        claimed.difference_update(result.synced)
        claimed.difference_update(path for path, _c, _m in result.errors)

    def _claim(self, destination_site: str, paths: list[str]) -> None:
        self.claimed.setdefault(destination_site, set()).update(paths)

    def _report_phase(self, phase: str, results: list[BatchResult], synced: int) -> None:
        """exit_/stderr_/last_<phase> on the volume node: written when the outcome changes, and the time of the
        last success at most every STATUS_INTERVAL_MS (a write per batch of 1,000 files costs more than the
        batch's own bookkeeping)."""
        changes: dict = {f"exit_{phase}": _exit_code(results), f"stderr_{phase}": _stderr_summary(results)}
        now = services.now_ms()
        if synced:
            changes[f"last_{phase}"] = now
        same = all(self.volume.get(key) == value for key, value in changes.items() if key != f"last_{phase}")
        recent = now - (self.volume.get(f"last_{phase}") or 0) < STATUS_INTERVAL_MS
        if same and (not synced or recent):
            return
        self.volume = services.update_volume(self.site, changes)

    def release(self) -> int:
        """Give back every claim not recorded yet (on a clean stop), so no file waits for the stale timeout."""
        released = 0
        self._prefetched = None
        for destination_site, paths in self.claimed.items():
            if paths:
                released += services.release_claims(sorted(paths), destination_site)
                paths.clear()
        return released

    def receive_batch(self, *, prefetch: bool = False) -> PhaseReport:
        """One batch of reception: claim, copy from each origin volume to here, record.

        `prefetch` (the round's loop): while rsync copies this batch, the next one is claimed, so the claim's
        database time hides behind the copy. The copy runs in a helper thread that touches no database."""
        report = PhaseReport()
        here = self._phase_location("reception", flag(self.volume.get("enableReception"), True), report)
        if here is None:
            self._prefetched = None
            return report
        limit = services.batch_size(self.volume, "syncAmountReception")
        if self._prefetched is not None:
            claimed, self._prefetched = self._prefetched, None
        else:
            claimed = self._claim_reception(limit)
        if not claimed:
            return report
        report.batches = 1
        report.batch_sizes.append(len(claimed))
        groups: dict[str, list[str]] = {}
        for path, origin in claimed:
            groups.setdefault(origin or "", []).append(path)
        jobs = [self._reception_job(origin, paths) for origin, paths in groups.items()]
        if prefetch and not self.stop_event.is_set():
            failure: list[BaseException] = []

            def copy_all() -> None:
                try:
                    self._run_jobs(here, jobs)
                except BaseException as exc:  # re-raised by the agent's thread
                    failure.append(exc)

            worker = threading.Thread(target=copy_all, name=f"rsync-{self.site}")
            worker.start()
            try:
                self._prefetched = self._claim_reception(limit)
            finally:
                worker.join()
            if failure:
                raise failure[0]
        else:
            self._run_jobs(here, jobs)
        results: list[BatchResult] = []
        for job in jobs:
            result = job["result"]
            self._record(result, self.site)
            results.append(result)
            report.synced += len(result.synced)
            report.errors += len(result.errors)
            self.log(
                f"reception {self.site} <- {job['origin'] or '?'}: {len(result.synced)} synced,"
                f" {len(result.errors)} failed in {result.duration:.2f}s"
            )
        self._report_phase("reception", results, report.synced)
        return report

    def _claim_reception(self, limit: int) -> list[tuple[str, str | None]]:
        claimed = services.claim_paths(self.site, limit)
        self._claim(self.site, [path for path, _origin in claimed])
        return claimed

    def _reception_job(self, origin: str, paths: list[str]) -> dict:
        """What copying one origin's files needs, read from the database now (the copy itself reads nothing)."""
        job: dict = {"origin": origin, "paths": paths, "result": None}
        origin_volume = services.get_volume(origin) if origin else None
        if origin_volume is None:
            message = f"origin volume {origin!r} not found" if origin else "the file has no origin"
            job["result"] = BatchResult(returncode=CONFIG_ERROR, errors=[(p, CONFIG_ERROR, message) for p in paths])
            return job
        try:
            job["source"] = parse_volume_url(origin_volume.get("url") or "")
            job["rules"] = self._transfer_rules()
        except VolumeURLError as exc:
            message = f"origin volume {origin}: {exc}"
            job["result"] = BatchResult(returncode=CONFIG_ERROR, errors=[(p, CONFIG_ERROR, message) for p in paths])
        except rsyncpolicy.PatternRuleError as exc:
            job["result"] = BatchResult(returncode=CONFIG_ERROR, errors=[(p, CONFIG_ERROR, str(exc)) for p in paths])
        return job

    def _run_jobs(self, here: VolumeLocation, jobs: list[dict]) -> None:
        for job in jobs:
            if job["result"] is None:
                job["result"] = self._copy(job["source"], here, job["paths"], rules=job["rules"])

    def emission_destinations(self) -> list[dict]:
        """Volumes that cannot pull (reception off): this agent pushes this site's files to them."""
        destinations = []
        for name in services.sites():
            if name == self.site:
                continue
            volume = services.get_volume(name)
            if volume and not flag(volume.get("enableReception"), True) and volume.get("url"):
                destinations.append(volume)
        return destinations

    def emit_batch(self) -> PhaseReport:
        """One batch per destination that cannot pull: claim for it, push from here, record for it."""
        report = PhaseReport()
        here = self._phase_location("emission", flag(self.volume.get("enableEmission"), False), report)
        if here is None:
            return report
        limit = services.batch_size(self.volume, "syncAmountEmission")
        results: list[BatchResult] = []
        for volume in self.emission_destinations():
            destination_site = volume.get("name") or volume["_id"]
            claimed = services.claim_paths(destination_site, limit, origin=self.site)
            if not claimed:
                continue
            paths = [path for path, _origin in claimed]
            self._claim(destination_site, paths)
            try:
                destination = parse_volume_url(volume.get("url") or "")
            except VolumeURLError as exc:
                message = f"destination volume {destination_site}: {exc}"
                result = BatchResult(returncode=CONFIG_ERROR, errors=[(p, CONFIG_ERROR, message) for p in paths])
            else:
                result = self._copy(here, destination, paths)
            self._record(result, destination_site)
            results.append(result)
            report.batches += 1
            report.batch_sizes.append(len(paths))
            report.synced += len(result.synced)
            report.errors += len(result.errors)
            self.log(
                f"emission {self.site} -> {destination_site}: {len(result.synced)} synced,"
                f" {len(result.errors)} failed in {result.duration:.2f}s"
            )
        if results:
            self._report_phase("emission", results, report.synced)
        return report

    # ------------------------------------------------------------------ deletions

    def propagate_deletions(self) -> DeletionReport:
        """Move files deleted at their origin into this volume's trash (enableDeletion, off by default).

        More than deletionMaxPerRound of them at once is a storm: nothing is moved, exit_deletion is set to
        DELETION_STORM with the reason in stderr_deletion (the dashboard and notifications read those keys), and
        the volume waits for a person. Trash day folders older than trashRetentionDays are purged."""
        report = DeletionReport()
        if not flag(self.volume.get("enableDeletion"), False):
            report.skipped = "deletion propagation disabled"
            return report
        try:
            here = self.location()
            if here.is_remote:
                raise AgentError(f"volume {self.site} is remote ({here.url}): deletions run on the volume's machine")
            if not os.path.isdir(here.path):
                raise AgentError(f"volume root {here.path} is not a readable folder")
        except AgentError as exc:
            services.update_volume(self.site, {"exit_deletion": CONFIG_ERROR, "stderr_deletion": str(exc)})
            report.skipped = str(exc)
            return report
        maximum = self.volume.get("deletionMaxPerRound")
        if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 0:
            maximum = conf.deletion_max_per_round()
        paths = services.deletions_for_site(self.site, maximum + 1)
        changes: dict = {}
        if len(paths) > maximum:
            report.storm = True
            report.errors = len(paths)
            message = (
                f"deletion storm: more than {maximum} files deleted at their origin would be moved to the trash"
                f" of {self.site} in one round; nothing was moved. Check the origin, then raise deletionMaxPerRound"
                " on the volume for one round (or turn enableDeletion off)."
            )
            changes = {"exit_deletion": DELETION_STORM, "stderr_deletion": message}
            self.log(f"deletion {self.site}: {message}")
        elif paths:
            moved = trash.move_to_trash(here.path, paths)
            services.mark_trashed_many(moved.moved + moved.gone, self.site)
            report.trashed, report.gone, report.errors = len(moved.moved), len(moved.gone), len(moved.errors)
            errors = "\n".join(f"{path}: {why}" for path, why in moved.errors)
            changes = {"exit_deletion": CONFIG_ERROR if moved.errors else 0, "stderr_deletion": errors[-MESSAGE_LIMIT:]}
            if moved.moved:
                changes["last_deletion"] = services.now_ms()
            self.log(f"deletion {self.site}: {report.trashed} moved to the trash, {report.gone} already gone")
        elif self.volume.get("exit_deletion"):
            changes = {"exit_deletion": 0, "stderr_deletion": ""}
        retention = self.volume.get("trashRetentionDays")
        if isinstance(retention, bool) or not isinstance(retention, int) or retention < 0:
            retention = conf.trash_retention_days()
        purge_errors: list[str] = []
        report.purged = trash.purge(here.path, retention, errors=purge_errors)
        for error in purge_errors:
            self.log(f"trash purge {self.site}: {error}")
        if changes:
            self.volume = services.update_volume(self.site, changes)
        return report

    # ------------------------------------------------------------------ discovery

    def scan(self, *, force: bool = False) -> ScanReport:
        """Walk the volume and tell the tracker what is new, modified or deleted here."""
        report = ScanReport()
        parameters = services.global_parameters()
        if not flag(parameters.get("enableScans"), True) or not flag(self.volume.get("enableDiscovery"), False):
            report.skipped = "discovery disabled"
            return report
        started_ms = services.now_ms()
        last_scan = self.volume.get("last_scan")
        interval_ms = _int(parameters.get("sleepBetweenScans"), 60) * 1000
        if not force and isinstance(last_scan, int | float) and started_ms - last_scan < interval_ms:
            report.skipped = "scanned recently (sleepBetweenScans)"
            return report
        started = time.monotonic()
        try:
            here = self.location()
            if here.is_remote:
                raise AgentError(f"volume {self.site} is remote ({here.url}): scans run on the volume's own machine")
            if not os.path.isdir(here.path):
                raise AgentError(f"volume root {here.path} is not a readable folder")
        except AgentError as exc:
            self.volume = services.update_volume(
                self.site, {"exit_scan": CONFIG_ERROR, "stderr_scan": str(exc), "last_scan": started_ms}
            )
            report.skipped = str(exc)
            return report
        nodes = list(iter_scan_nodes(self.site))
        packages = {n["_id"] for n in nodes if n["_id"].endswith("/")}
        walk = walk_volume(
            here.path,
            PatternRules.from_parameters(parameters),
            packages=packages,
            scan_packages=flag(self.volume.get("enableDiscoveryPackages"), True),
            skip_names={conf.partial_dir(), trash.TRASH_DIR},
        )
        report.files = len(walk.files)
        new_since = None
        if flag(parameters.get("ignoreExistingFiles"), False):
            new_since = int(last_scan) if isinstance(last_scan, int | float) else started_ms
        diff = compare(
            walk.files,
            nodes,
            self.site,
            detect_modified=flag(self.volume.get("enableDiscoveryUpdatedFiles"), True),
            detect_deleted=flag(self.volume.get("enableDiscoveryDeletedFiles"), False),
            new_since_ms=new_since,
        )
        del nodes
        report.new = len(diff.new)
        comment = f"scanned at {self.site}"
        chunk = conf.publish_chunk()
        for start in range(0, len(diff.new), chunk):
            items = [
                {"_id": path, "origin": self.site, "comment": comment, "file_mtime": mtime, "file_size": size}
                for path, mtime, size in diff.new[start : start + chunk]
            ]
            results = services.publish_many(items, author=conf.scan_author())
            report.published += sum(1 for r in results if r is not None)
            report.errors += [f"{item['_id']}: not published" for item, r in zip(items, results, strict=True) if not r]
        for path, mtime, size in diff.modified:
            services.mark_modified(path, self.site, file_mtime=mtime, file_size=size)
            report.modified += 1
        for path, mtime, size in diff.baseline[: conf.publish_chunk()]:
            services.update_node(path, {"file_mtime": mtime, "file_size": size})
        if diff.deleted:
            report.deleted = services.mark_deleted_many(diff.deleted, self.site)
        report.errors = walk.errors + report.errors
        report.duration = time.monotonic() - started
        self.volume = services.update_volume(
            self.site,
            {
                "last_scan": started_ms,
                "scan_duration": round(report.duration, 3),
                "exit_scan": 1 if report.errors else 0,
                "stderr_scan": "\n".join(report.errors)[-MESSAGE_LIMIT:],
            },
        )
        self.log(
            f"scan {self.site}: {report.files} files, {report.published} new, {report.modified} modified,"
            f" {report.deleted} deleted in {report.duration:.2f}s"
        )
        return report

    # ------------------------------------------------------------------ rounds

    def run_once(self, *, force_scan: bool = True) -> RoundReport:
        """Drain the reception and emission queues batch by batch, then scan once."""
        report = RoundReport()
        self.heartbeat("on")
        receive = functools.partial(self.receive_batch, prefetch=True)
        for phase, total in ((receive, report.reception), (self.emit_batch, report.emission)):
            for _ in range(MAX_BATCHES_PER_ROUND):
                if self.stop_event.is_set():
                    break
                step = phase()
                total.batches += step.batches
                total.synced += step.synced
                total.errors += step.errors
                total.batch_sizes += step.batch_sizes
                total.skipped = step.skipped
                if not step.batches:
                    break
        if not self.stop_event.is_set():
            report.deletion = self.propagate_deletions()
        if not self.stop_event.is_set():
            report.scan = self.scan(force=force_scan)
        return report

    def run_forever(self) -> None:
        """Rounds until stop_event is set; claims are given back and the status set to off on the way out."""
        try:
            while not self.stop_event.is_set():
                close_old_connections()
                try:
                    report = self.run_once(force_scan=False)
                except AgentError:
                    raise
                except Exception:  # a lost database or a full disk must not end the agent: log, wait, retry
                    logger.exception("agent round for %s failed", self.site)
                    self.stop_event.wait(conf.poll_seconds())
                    continue
                if not report.busy:
                    self.stop_event.wait(conf.poll_seconds())
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.release()
        self.heartbeat("off")
