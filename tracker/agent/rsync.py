"""One rsync process per batch of tracker paths, with per-file outcomes that are verified, not assumed.

The list goes in with `--files-from` (NUL separated); rsync's itemized output (`-ii`, one line per file, changed
or not) says what it did, its stderr names the files it could not handle. A file counts as synced only when an
rsync run that covered it exited 0 and the destination matches in size: checked with `stat` on a local
destination, or with a second, dry-run rsync whose itemized output must show nothing left to change. rsync
writes into temporary files and `--partial-dir`, so an interrupted copy never sits under the final name.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from tracker import rsyncpolicy
from tracker.agent import conf
from tracker.agent.paths import UnsafePath, VolumeGuard, check_tree, relative_path
from tracker.agent.volumes import VolumeLocation

# Agent-side failures are negative so they never collide with rsync's own exit codes (0-35, 255).
UNSAFE_PATH = -1  # the path could leave a volume root
NOT_TRANSFERRED = -2  # rsync exited without copying it (excluded, vanished, unsafe symlink skipped)
SIZE_MISMATCH = -3  # the destination does not match the source after the copy
CONFIG_ERROR = -4  # bad url, forbidden rsync_args, two remote volumes, missing volume
EXCLUDED = -5  # the glob rules (includePatternRules, excludePatternRules, excludedFiles) refuse the path
RSYNC_MISSING = 127  # the rsync binary could not be started

MESSAGE_LIMIT = 4000
_ESCAPE = re.compile(r"\\#([0-7]{3})")
_QUOTED = re.compile(r'"([^"]+)"')
_ITEM_LINE = re.compile(r"^([^|\n]{2,})\|([0-9]+)\|([^\n]*)$", re.M)


RsyncConfigError = rsyncpolicy.RsyncConfigError
parse_rsync_args = rsyncpolicy.parse_rsync_args
parse_rsync_env = rsyncpolicy.parse_rsync_env
# Variables of the agent's own environment that could choose rsync's remote shell or connection program:
# the remote shell comes from the agent's typed settings only.
_INHERITED_ENV_DROPPED = ("RSYNC_RSH", "RSYNC_CONNECT_PROG")


@dataclass
class BatchResult:
    """What one batch did: node ids synced, and (node id, code, message) for each failure."""

    returncode: int = 0
    stderr: str = ""
    synced: list[str] = field(default_factory=list)
    errors: list[tuple[str, int, str]] = field(default_factory=list)
    duration: float = 0.0
    commands: int = 0


@dataclass
class _Run:
    returncode: int
    items: dict[str, tuple[str, int]]  # relative name -> (itemize flags, size)
    stderr: str


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """If the agent is killed, rsync gets SIGTERM (it then keeps its partial file in --partial-dir)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _memory_file(name: str) -> BinaryIO:
    """An anonymous in-memory file (memfd) for a child's stdin/stdout; a temporary file where there is none."""
    try:
        return os.fdopen(os.memfd_create(name, os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):
        return tempfile.TemporaryFile()


def _unescape(name: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), name)


def _trim(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else "..." + text[-MESSAGE_LIMIT:]


class RsyncBatch:
    """Copy a list of tracker paths from one volume to another with as few rsync processes as possible."""

    def __init__(
        self,
        source: VolumeLocation,
        destination: VolumeLocation,
        *,
        rsync_args: str | Sequence[str] | None = "",
        rsync_env: str | Mapping | None = "",
        excludes: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.destination = destination
        self.user_args = parse_rsync_args(rsync_args)
        inherited = {k: v for k, v in os.environ.items() if k not in _INHERITED_ENV_DROPPED}
        self.env = {**inherited, "LC_ALL": "C", **parse_rsync_env(rsync_env)}
        remote = source if source.is_remote else destination
        self.rsh = remote.rsh_command(shlex.join(conf.ssh_command())) if remote.is_remote else None
        self.excludes = [pattern for pattern in excludes if pattern]

    def command(self, *, dry_run: bool = False) -> list[str]:
        args = [
            conf.rsync_binary(),
            "-a",
            "-r",  # --files-from turns off -a's recursion; folder packages need it
            "--from0",
            "--files-from=-",
            "-ii",
            "--out-format=%i|%l|%n",
            f"--partial-dir={conf.partial_dir()}",
            "--safe-links",
            "--mkpath",
            f"--timeout={conf.rsync_io_timeout()}",
        ]
        if dry_run:
            args.append("--dry-run")
        args += [f"--exclude={pattern}" for pattern in self.excludes]
        args += self.user_args
        if self.rsh:
            args += ["-e", self.rsh]
        args += [self.source.rsync_root(), self.destination.rsync_root()]
        return args

    def _run(self, rels: list[str], *, dry_run: bool = False) -> _Run:
        # The file list goes in and the itemized output comes back through in-memory files, not pipes: rsync
        # writes a line per file, and draining a pipe line by line costs the agent a poll and a read per file.
        with _memory_file("rsync-in") as stdin, _memory_file("rsync-out") as stdout, _memory_file("rsync-err") as err:
            stdin.write("\0".join(rels).encode(errors="surrogateescape"))
            stdin.seek(0)
            try:
                proc = subprocess.run(
                    self.command(dry_run=dry_run),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=err,
                    env=self.env,
                    preexec_fn=_die_with_parent,  # only sets the parent-death signal
                    check=False,
                )
            except OSError as exc:
                return _Run(RSYNC_MISSING, {}, f"cannot run rsync: {exc}")
            stdout.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = stdout.read(), err.read()
        # One regex pass over the whole output (flags|size|name per line): a batch of 1,000 lines is parsed
        # in C, not line by line in Python.
        items = {
            (_unescape(name) if "\\#" in name else name): (flags, int(size))
            for flags, size, name in _ITEM_LINE.findall(proc.stdout.decode(errors="surrogateescape"))
        }
        return _Run(proc.returncode, items, proc.stderr.decode(errors="replace"))

    def _stderr_failures(self, stderr: str) -> dict[str, str]:
        """Relative names quoted in rsync's error lines, with the line (what went wrong for that file)."""
        roots = [loc.path.rstrip("/") + "/" for loc in (self.source, self.destination)]
        failures: dict[str, str] = {}
        for line in stderr.splitlines():
            if not line.startswith("rsync:") and "failed" not in line:
                continue
            for quoted in _QUOTED.findall(line):
                path = _unescape(quoted)
                for root in roots:
                    if path.startswith(root):
                        path = path[len(root) :]
                        break
                failures[path.lstrip("/")] = line
        return failures

    def copy(self, node_ids: Sequence[str]) -> BatchResult:
        """Copy the files and folder packages; every id ends up in `synced` or in `errors`, never both."""
        started = time.monotonic()
        result = BatchResult()
        rel_of: dict[str, str] = {}
        guards = [VolumeGuard(loc.path) for loc in (self.source, self.destination) if not loc.is_remote]
        for node_id in node_ids:
            try:
                rel = relative_path(node_id)
                for guard in guards:
                    guard.target(node_id, rel)
                if rel.endswith("/") and not self.source.is_remote:
                    check_tree(self.source.path, node_id)
            except UnsafePath as exc:
                result.errors.append((node_id, UNSAFE_PATH, str(exc)))
                continue
            except OSError as exc:
                result.errors.append((node_id, NOT_TRANSFERRED, f"{node_id}: {exc}"))
                continue
            rel_of[node_id] = rel
        if self.source.is_remote and self.destination.is_remote:
            message = "rsync cannot copy between two remote volumes"
            result.errors += [(node_id, CONFIG_ERROR, message) for node_id in rel_of]
            rel_of = {}
        if not rel_of:
            result.duration = time.monotonic() - started
            return result

        run = self._run(list(rel_of.values()))
        result.commands += 1
        result.returncode = run.returncode
        result.stderr = _trim(run.stderr)
        if run.returncode not in (0, 23, 24):
            message = result.stderr or f"rsync exited with {run.returncode}"
            result.errors += [(node_id, run.returncode, message) for node_id in rel_of]
            result.duration = time.monotonic() - started
            return result

        failures = self._stderr_failures(run.stderr)
        candidates: dict[str, str] = {}
        for node_id, rel in rel_of.items():
            problem = self._problem(rel, run.items, failures)
            if problem is None:
                candidates[node_id] = rel
            else:
                code = run.returncode if run.returncode else NOT_TRANSFERRED
                result.errors.append((node_id, code, problem))

        if candidates and (run.returncode != 0 or self.destination.is_remote):
            # rsync did not exit 0 for the whole batch, or the destination cannot be stat'ed here: a dry run
            # over the files that look right must exit 0 and find nothing left to change.
            confirm = self._run(list(candidates.values()), dry_run=True)
            result.commands += 1
            for node_id, rel in list(candidates.items()):
                problem = None
                if confirm.returncode != 0:
                    problem = _trim(confirm.stderr) or f"rsync exited with {confirm.returncode}"
                else:
                    problem = self._unchanged_problem(rel, confirm.items)
                if problem is not None:
                    del candidates[node_id]
                    code = confirm.returncode or (run.returncode if run.returncode else SIZE_MISMATCH)
                    result.errors.append((node_id, code, problem))
        if candidates and not self.destination.is_remote:
            for node_id, rel in list(candidates.items()):
                problem = self._size_problem(rel, run.items)
                if problem is not None:
                    del candidates[node_id]
                    result.errors.append((node_id, SIZE_MISMATCH, problem))
        result.synced = list(candidates)
        result.duration = time.monotonic() - started
        return result

    @staticmethod
    def _entries(rel: str, items: dict[str, tuple[str, int]]) -> list[tuple[str, str, int]]:
        if not rel.endswith("/"):
            found = items.get(rel)
            return [(rel, *found)] if found else []
        return [(name, *value) for name, value in items.items() if name.startswith(rel)]

    def _problem(self, rel: str, items: dict[str, tuple[str, int]], failures: dict[str, str]) -> str | None:
        for failed, line in failures.items():
            if failed == rel.rstrip("/") or (rel.endswith("/") and failed.startswith(rel)):
                return line
        if rel.endswith("/"):
            flags = items.get(rel, ("", 0))[0]
            if len(flags) < 2 or flags[1] != "d":
                return f"/{rel} was not transferred as a folder (missing at the origin, or not a folder)"
            return None
        flags = items.get(rel, ("", 0))[0]
        if len(flags) < 2:
            return f"/{rel} was not transferred (missing at the origin, excluded, or an unsafe symlink)"
        if flags[1] not in "fL":
            return f"/{rel} is not a regular file at the origin (a folder needs a trailing /)"
        return None

    def _unchanged_problem(self, rel: str, items: dict[str, tuple[str, int]]) -> str | None:
        entries = self._entries(rel, items)
        if not entries:
            return f"/{rel} not found when verifying the copy"
        for name, flags, _size in entries:
            if flags[1] != "f":
                continue
            if flags[0] != "." or "s" in flags[3:4] or "t" in flags[4:5]:
                return f"/{name} differs at the destination after the copy ({flags})"
        return None

    def _size_problem(self, rel: str, items: dict[str, tuple[str, int]]) -> str | None:
        prefix = self.destination.path.rstrip("/") + "/"
        for name, flags, size in self._entries(rel, items):
            if flags[1] != "f":
                continue
            try:
                actual = os.lstat(prefix + name).st_size
            except OSError as exc:
                return f"/{name} missing at the destination after the copy: {exc}"
            if actual != size:
                return f"/{name} has {actual} bytes at the destination, the origin sent {size}"
        return None


def copy_batch(
    source: VolumeLocation,
    destination: VolumeLocation,
    node_ids: Sequence[str],
    *,
    rsync_args: str | Sequence[str] | None = "",
    rsync_env: str | Mapping | None = "",
    excludes: Sequence[str] = (),
) -> BatchResult:
    """Copy `node_ids` from `source` to `destination` in one rsync run (plus a verifying dry run when needed)."""
    try:
        batch = RsyncBatch(source, destination, rsync_args=rsync_args, rsync_env=rsync_env, excludes=excludes)
    except RsyncConfigError as exc:
        return BatchResult(
            returncode=CONFIG_ERROR, stderr=str(exc), errors=[(n, CONFIG_ERROR, str(exc)) for n in node_ids]
        )
    return batch.copy(node_ids)
