"""Files of the volume this web host serves: `/api/file/` reads them, `/api/upload` writes them and their nodes.

TRACKER_FILE_VOLUME names the site; its volume's url must be a local folder. A path is the file's `_id`
(project-relative) and never leaves that folder: `..` segments are refused by the id rules, and symbolic
links are resolved and must stay inside. An upload is written to a temporary name beside its target,
flushed to disk, then renamed over it inside the transaction that creates or versions the node, so a refused
or failed upload leaves neither a file nor a node behind.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_module
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.db import transaction

from tracker import conf, limits, permissions, rsyncpolicy
from tracker.models import Node
from tracker.services.actors import Actor, _judge_write
from tracker.services.columns import validate_file_id
from tracker.services.errors import Conflict, Forbidden, InvalidId, NotFound, TrackerError
from tracker.services.nodes import _publish_items, read_nodes, version_node
from tracker.services.sitestate import get_volume


class UploadTooLarge(TrackerError):
    """The file is over TRACKER_MAX_UPLOAD_BYTES (413)."""

    status = 413


def served_volume() -> tuple[str, Path]:
    """(site, real path of its folder) of TRACKER_FILE_VOLUME; NotFound with the reason when there is none."""
    site = conf.file_volume()
    if not site:
        raise NotFound("This server serves no volume: set TRACKER_FILE_VOLUME to a local volume's name.")
    volume = get_volume(site)
    if volume is None:
        raise NotFound(f"TRACKER_FILE_VOLUME names {site}, which is not a volume.")
    try:
        location = rsyncpolicy.parse_url(volume.get("url") or "")
    except rsyncpolicy.VolumeURLError as exc:
        raise NotFound(f"The served volume {site} has no usable url: {exc}") from exc
    if location.host is not None or not os.path.isdir(location.path):
        raise NotFound(f"The served volume {site} is not a folder on this machine.")
    return site, Path(os.path.realpath(location.path))


def _inside(root: Path, real: str) -> bool:
    return real == str(root) or real.startswith(str(root).rstrip("/") + "/")


def _file_path(root: Path, path: str) -> Path:
    """Where the file `_id` `path` lives under `root` (not resolved); InvalidId for folders and bad ids."""
    validate_file_id(path)
    if path.endswith("/"):
        raise InvalidId(f"{path} is a folder: give a file's path", path)
    return root.joinpath(path.lstrip("/"))


def open_file(path: str, actor: Actor | None) -> tuple[int, int, str]:
    """(file descriptor, size, site) of the served file `path`, which the actor may read.

    NotFound when the node is not tracked or not visible to the actor, when the file is missing or not a
    regular file, and when a symbolic link leads out of the volume (the answer does not tell which)."""
    site, root = served_volume()
    target = _file_path(root, path)
    if read_nodes([path], actor)[0] is None:
        raise NotFound(f"{path} not found", path)
    real = os.path.realpath(target)
    if not _inside(root, real):
        raise NotFound(f"{path} not found in the volume {site}", path)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise NotFound(f"{path} not found in the volume {site}", path) from exc
    stat = os.fstat(fd)
    if not stat_module.S_ISREG(stat.st_mode):
        os.close(fd)
        raise NotFound(f"{path} is not a file in the volume {site}", path)
    return fd, stat.st_size, site


def _make_parents(root: Path, folder: Path) -> None:
    """Create `folder` under `root`, each level checked: no level may resolve outside the volume."""
    relative = folder.relative_to(root)
    current = root
    for part in relative.parts:
        current = current / part
        if os.path.lexists(current):
            if not _inside(root, os.path.realpath(current)) or not os.path.isdir(current):
                raise Forbidden(f"{current.relative_to(root)} leads out of the volume or is not a folder")
            continue
        with contextlib.suppress(FileExistsError):
            os.mkdir(current, 0o775)
    if not _inside(root, os.path.realpath(folder)):
        raise Forbidden("the upload's folder leads out of the volume")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _judge_upload(path: str, actor: Actor, keys: dict, *, lock: bool) -> Node | None:
    """The stored node (None: new) once the actor may publish or version it; `lock`: row-locked till commit."""
    qs = Node.objects.select_for_update() if lock else Node.objects
    node = qs.filter(node_id=path).first()
    if node is None:
        _judge_write(actor, permissions.Op.PUBLISH, path, None, keys)
        return None
    _judge_write(actor, permissions.Op.VERSION, path, node, keys)
    holder = node.data.get("lock")
    if holder not in (None, actor.name):
        raise Conflict(f"{path} is locked by {holder}", path)
    return node


def upload_file(path: str, chunks: Iterable[bytes], size: int, actor: Actor, *, comment: str = "") -> dict:
    """Write a file into the served volume and publish it (a new node) or version it (an existing one).

    The permission matrix judges the write before a byte is written (publish for a new file, version for a
    tracked one; a file locked by someone else is a Conflict). The file's node gets origin (the served site),
    file_size, file_mtime and the comment; a version keeps the previous state as a child node."""
    site, root = served_volume()
    target = _file_path(root, path)
    limit = conf.max_upload_bytes()
    if size > limit:
        raise UploadTooLarge(f"the file is {size} bytes; at most {limit} (TRACKER_MAX_UPLOAD_BYTES)", path)
    if not isinstance(comment, str):
        raise InvalidId("comment must be text", path)
    keys = {"comment": comment, "origin": site}
    # file_size and file_mtime are sync keys, which only agents set: here the server measured them itself, so
    # it writes them as its volume's agent, once the caller's own right to publish or version was judged.
    writer = Actor(actor.name, actor.user_class, agent=True)
    with limits.time_limit():
        _judge_upload(path, actor, keys, lock=False)  # before a byte is written
    if os.path.lexists(target) and (os.path.islink(target) or not os.path.isfile(target)):
        raise Forbidden(f"{path} exists in the volume and is not a plain file", path)
    _make_parents(root, target.parent)
    # The body is copied outside the database's time limit (a large file takes as long as the disk needs).
    fd, temporary = tempfile.mkstemp(prefix=".syncsite-upload-", dir=target.parent)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise UploadTooLarge(f"the file is over {limit} bytes (TRACKER_MAX_UPLOAD_BYTES)", path)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            mtime_ms = int(os.fstat(out.fileno()).st_mtime * 1000)
        os.chmod(temporary, 0o664)
        keys.update({"file_size": written, "file_mtime": mtime_ms})
        with limits.time_limit(), transaction.atomic():
            node = _judge_upload(path, actor, {"comment": comment, "origin": site}, lock=True)
            if node is None:
                result = _publish_items([{**keys, "_id": path}], writer)[0]
                if isinstance(result, TrackerError):
                    raise result
            else:
                result = version_node(path, keys, writer)
            os.replace(temporary, target)
            _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return result
