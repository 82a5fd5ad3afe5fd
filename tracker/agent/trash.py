"""The volume's trash: files deleted at their origin are moved here, never unlinked, and kept for a retention.

Layout: `<volume root>/.syncsite-trash/<YYYY-MM-DD>/<path>` (the day the agent moved it, UTC). A second file
trashed under the same path on the same day gets a `~1`, `~2`... suffix. Every path is checked like a
transfer's (`paths.VolumeGuard`): neither the file nor a folder of the trash may lead out of the volume.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import stat
from dataclasses import dataclass

from tracker.agent.paths import UnsafePath, VolumeGuard, relative_path

TRASH_DIR = ".syncsite-trash"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TrashError(Exception):
    """A trash operation that cannot be done (nothing was changed)."""


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def _trash_root(root: str) -> str:
    """The trash folder of a volume, created when missing; refused when it is a symlink or not a folder."""
    path = os.path.join(os.path.realpath(root), TRASH_DIR)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise UnsafePath(f"{path} is not a folder (a symlink or a file): the trash is not used")
    return path


@dataclass
class MoveResult:
    moved: list[str]  # node ids moved into the trash
    gone: list[str]  # node ids that were not there any more (nothing to move)
    errors: list[tuple[str, str]]  # (node id, why)


def move_to_trash(root: str, node_ids: list[str], day: str | None = None) -> MoveResult:
    """Move these files or folder packages of a local volume into its trash (rename within the volume)."""
    day = day or today()
    result = MoveResult([], [], [])
    guard = VolumeGuard(root)
    try:
        _trash_root(root)
    except (OSError, UnsafePath) as exc:
        result.errors = [(node_id, str(exc)) for node_id in node_ids]
        return result
    for node_id in node_ids:
        try:
            rel = relative_path(node_id).rstrip("/")
            if rel == TRASH_DIR or rel.startswith(TRASH_DIR + "/"):
                raise UnsafePath(f"{node_id} is inside the trash")
            source = guard.target(node_id)
            if not os.path.lexists(source):
                result.gone.append(node_id)
                continue
            target_id = f"/{TRASH_DIR}/{day}/{rel}"
            target = guard.target(target_id)
            parent = os.path.dirname(target)
            os.makedirs(parent, mode=0o700, exist_ok=True)
            guard = VolumeGuard(root)  # folders just made are resolved afresh (never a cached answer)
            guard.target(target_id)
            candidate, counter = target, 0
            while os.path.lexists(candidate):
                counter += 1
                candidate = f"{target}~{counter}"
            os.rename(source, candidate)
            result.moved.append(node_id)
        except (UnsafePath, OSError) as exc:
            result.errors.append((node_id, str(exc)))
    return result


def list_trash(root: str) -> list[tuple[str, str]]:
    """(day, node id) of everything in the trash, sorted; a trashed folder package is one entry."""
    trash = os.path.join(os.path.realpath(root), TRASH_DIR)
    if not os.path.isdir(trash) or os.path.islink(trash):
        return []
    entries = []
    for day in sorted(os.listdir(trash)):
        day_dir = os.path.join(trash, day)
        if not _DAY.match(day) or os.path.islink(day_dir) or not os.path.isdir(day_dir):
            continue
        for folder, dirs, files in os.walk(day_dir):
            rel_folder = os.path.relpath(folder, day_dir)
            prefix = "/" if rel_folder == "." else f"/{rel_folder}/"
            entries += [(day, prefix + name) for name in files]
            entries += [(day, prefix + name) for name in dirs if os.path.islink(os.path.join(folder, name))]
    return entries


def restore(root: str, day: str, node_id: str) -> str:
    """Move a trashed file back to its place; refused when something is there already. Returns where it went."""
    if not _DAY.match(day):
        raise TrashError(f"{day!r} is not a trash day (YYYY-MM-DD)")
    try:
        rel = relative_path(node_id).rstrip("/")
        guard = VolumeGuard(root)
        source = guard.target(f"/{TRASH_DIR}/{day}/{rel}")
        target = guard.target(node_id)
    except UnsafePath as exc:
        raise TrashError(str(exc)) from exc
    if not os.path.lexists(source):
        raise TrashError(f"{node_id} is not in the trash of {day}")
    if os.path.lexists(target):
        raise TrashError(f"{node_id} exists in the volume: move it away first (nothing was restored)")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    guard = VolumeGuard(root)
    guard.target(node_id)
    os.rename(source, target)
    return target


def purge(root: str, retention_days: int, now: dt.datetime | None = None, errors: list[str] | None = None) -> list[str]:
    """Remove the trash's day folders older than `retention_days` (the one place the agent deletes); their names.

    A folder that cannot be removed (permissions, a busy mount) is skipped and named in `errors`, so one stuck
    day neither stops the others nor the round that purges; without `errors` its OSError is raised.
    """
    trash = os.path.join(os.path.realpath(root), TRASH_DIR)
    if not os.path.isdir(trash) or os.path.islink(trash):
        return []
    now = now or dt.datetime.now(dt.UTC)
    limit = (now - dt.timedelta(days=retention_days)).strftime("%Y-%m-%d")
    purged = []
    for day in sorted(os.listdir(trash)):
        path = os.path.join(trash, day)
        if _DAY.match(day) and day < limit and not os.path.islink(path) and os.path.isdir(path):
            try:
                shutil.rmtree(path)
            except OSError as exc:
                if errors is None:
                    raise
                errors.append(f"{TRASH_DIR}/{day}: {exc.strerror or exc}")
                continue
            purged.append(day)
    return purged
