"""Discovery: walk a volume with os.scandir and compare what is there with what the tracker knows.

The walk is one pass (no per-file Python work beyond a stat and a dict insert) so 100,000 unchanged files take a
second or two. The comparison is pure: it takes the walk and the tracker's nodes and says which files are new,
modified or deleted here; `tracker.agent.runner` turns that into service calls.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# rsync's in-flight temporary files are `.<name>.<6 random characters>`: never publish them.
RSYNC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")


def split_patterns(raw: str | Sequence[str] | None) -> list[str]:
    """Pattern rules as stored on the global parameters node: comma or newline separated globs."""
    if not raw:
        return []
    items = raw if isinstance(raw, list | tuple) else re.split(r"[,\n]", str(raw))
    return [item.strip() for item in items if item and item.strip() and not item.strip().startswith("#")]


def _compile(patterns: list[str]) -> tuple[re.Pattern | None, re.Pattern | None]:
    """One regex for basename globs (`*.tmp`), one for path globs (`/render/cache/*`, anything with a /)."""
    names = [fnmatch.translate(p) for p in patterns if "/" not in p.rstrip("/")]
    paths = [fnmatch.translate(p.rstrip("/") if p != "/" else p) for p in patterns if "/" in p.rstrip("/")]
    return (
        re.compile("|".join(names)) if names else None,
        re.compile("|".join(paths)) if paths else None,
    )


class PatternRules:
    """excludePatternRules / includePatternRules (plus excludedFiles): globs on the name or on the full path.

    A pattern without `/` matches a file or folder name anywhere (`*.tmp`, `.DS_Store`); one with `/` matches
    the whole tracker path (`/render/cache/*`). Excluded folders are not walked. When include rules exist, only
    files matching one of them are published (folders are always walked).
    """

    def __init__(self, include: str | Sequence[str] | None = "", exclude: str | Sequence[str] | None = "") -> None:
        self.include_patterns = split_patterns(include)
        self.exclude_patterns = split_patterns(exclude)
        self._exclude_name, self._exclude_path = _compile(self.exclude_patterns)
        self._include_name, self._include_path = _compile(self.include_patterns)

    @classmethod
    def from_parameters(cls, parameters: dict) -> PatternRules:
        excludes = split_patterns(parameters.get("excludePatternRules")) + split_patterns(
            parameters.get("excludedFiles")
        )
        return cls(parameters.get("includePatternRules"), excludes)

    def refuses(self, node_id: str) -> str:
        """Why a transfer of `node_id` is not allowed by the rules ("" when it is): an exclude matching the path,
        one of its folders or its name, or (files only) no include matching it."""
        if not self.exclude_patterns and not self.include_patterns:
            return ""
        body = node_id.strip("/")
        segments = body.split("/")
        if self.exclude_patterns:
            folder = "/"
            for segment in segments[:-1]:
                folder += segment + "/"
                if self.excluded(folder, segment):
                    return f"{folder} is excluded by excludePatternRules"
            if self.excluded(node_id, segments[-1]):
                return f"{node_id} is excluded by excludePatternRules"
        if self.include_patterns and not node_id.endswith("/") and not self.included(node_id, segments[-1]):
            return f"{node_id} matches no includePatternRules"
        return ""

    def excluded(self, node_id: str, name: str) -> bool:
        if self._exclude_name is not None and self._exclude_name.match(name):
            return True
        return self._exclude_path is not None and bool(self._exclude_path.match(node_id.rstrip("/")))

    def included(self, node_id: str, name: str) -> bool:
        if self._include_name is None and self._include_path is None:
            return True
        if self._include_name is not None and self._include_name.match(name):
            return True
        return self._include_path is not None and bool(self._include_path.match(node_id))


@dataclass
class WalkResult:
    """What is on disk: tracker path -> (mtime in epoch ms, size), and the folders that could not be read."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _package_stat(path: str, errors: list[str]) -> tuple[int, int]:
    """A folder package as one unit: newest mtime and total size of the regular files inside."""
    newest, total = 0, 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        total += st.st_size
                        newest = max(newest, st.st_mtime_ns // 1_000_000)
        except OSError as exc:
            errors.append(f"{current}: {exc.strerror or exc}")
    return newest, total


def walk_volume(
    root: str | os.PathLike,
    rules: PatternRules | None = None,
    *,
    packages: Iterable[str] = (),
    scan_packages: bool = True,
    skip_names: Iterable[str] = (),
) -> WalkResult:
    """Every regular file under `root` as a tracker path; known folder packages (`/x/pkg/`) count as one unit.

    Symlinks are not followed and not published (they could point out of the volume).
    """
    rules = rules or PatternRules()
    package_ids = set(packages)
    skip = set(skip_names)
    result = WalkResult()
    files = result.files
    has_excludes = bool(rules.exclude_patterns)
    has_includes = bool(rules.include_patterns)
    stack: list[tuple[str, str]] = [(os.fspath(root), "/")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            result.errors.append(f"{directory}: {exc.strerror or exc}")
            continue
        for entry in entries:
            name = entry.name
            if name in skip:
                continue
            node_id = prefix + name
            try:
                if entry.is_dir(follow_symlinks=False):
                    folder_id = node_id + "/"
                    if has_excludes and rules.excluded(folder_id, name):
                        continue
                    if folder_id in package_ids:
                        if scan_packages:
                            files[folder_id] = _package_stat(entry.path, result.errors)
                        continue
                    stack.append((entry.path, folder_id))
                elif entry.is_file(follow_symlinks=False):
                    if RSYNC_TEMP.match(name):
                        continue
                    if has_excludes and rules.excluded(node_id, name):
                        continue
                    if has_includes and not rules.included(node_id, name):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    files[node_id] = (st.st_mtime_ns // 1_000_000, st.st_size)
            except OSError as exc:
                result.errors.append(f"{entry.path}: {exc.strerror or exc}")
    return result


@dataclass
class ScanDiff:
    """What a scan means for the tracker."""

    new: list[tuple[str, int, int]] = field(default_factory=list)  # (path, mtime ms, size)
    modified: list[tuple[str, int, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    baseline: list[tuple[str, int, int]] = field(default_factory=list)  # origin here, no file_mtime/size yet
    unchanged: int = 0


def differs(local: tuple[int, int], node: dict) -> bool:
    """Whether the file on disk is not the version the tracker describes (size, then mtime)."""
    mtime, size = local
    known_size = node.get("file_size")
    known_mtime = node.get("file_mtime")
    if isinstance(known_size, int | float) and int(known_size) != size:
        return True
    if isinstance(known_mtime, int | float):
        known_mtime = int(known_mtime)
        if known_mtime % 1000 == 0:  # recorded with second precision
            return mtime // 1000 != known_mtime // 1000
        return mtime != known_mtime
    return False


def compare(
    walk: dict[str, tuple[int, int]],
    nodes: Iterable[dict],
    site: str,
    *,
    detect_modified: bool = True,
    detect_deleted: bool = True,
    new_since_ms: int | None = None,
) -> ScanDiff:
    """Compare the walk with the tracker's file nodes, judging only copies this site is known to hold.

    A node is judged here when the file originates here or this site's copy is up to date (synced_<site> >=
    time) and not in flight; an outdated or missing copy is the reception's business, not a modification or a
    deletion. `walk` is consumed (what remains are the new files).
    """
    diff = ScanDiff()
    synced_key, syncing_key = f"synced_{site}", f"syncing_{site}"
    for node in nodes:
        node_id = node.get("_id")
        local = walk.pop(node_id, None)
        if node.get("deleted"):
            continue
        is_origin = node.get("origin") == site
        synced = node.get(synced_key)
        up_to_date = is_origin or (
            isinstance(synced, int | float) and synced >= (node.get("time") or 0) and not node.get(syncing_key)
        )
        if not up_to_date:
            continue
        if local is None:
            if detect_deleted:
                diff.deleted.append(node_id)
            continue
        if node.get("file_mtime") is None and node.get("file_size") is None:
            if is_origin:
                diff.baseline.append((node_id, *local))
            else:
                diff.unchanged += 1
            continue
        if local[1] == node.get("file_size") and local[0] == node.get("file_mtime"):
            diff.unchanged += 1  # the common case, decided without a function call
        elif detect_modified and differs(local, node):
            diff.modified.append((node_id, *local))
        else:
            diff.unchanged += 1
    for node_id in sorted(walk):
        mtime, size = walk[node_id]
        if new_since_ms is not None and mtime < new_since_ms:
            continue
        diff.new.append((node_id, mtime, size))
    return diff
