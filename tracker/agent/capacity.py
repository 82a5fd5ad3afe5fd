"""A volume's capacity and use (`bytesTotal`, `bytesUsed`): `statvfs` on a local root, `df` over ssh otherwise.

The remote command is a fixed argument list: the agent's own ssh command (typed settings only,
`conf.ssh_command`), the url's port, login and host (validated by `rsyncpolicy`), then `df -P -k -- <root>`
with the root quoted (`rsyncpolicy` already allows no shell characters in it). Nothing from a volume but its
validated url reaches the command line.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

from tracker.agent import conf
from tracker.agent.volumes import VolumeLocation

_DF_LINE = re.compile(r"\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s")
_DROPPED_ENV = ("RSYNC_RSH", "RSYNC_CONNECT_PROG")


class CapacityError(Exception):
    """The volume's size could not be read."""


def remote_df_command(location: VolumeLocation) -> list[str]:
    """ssh ... [-p PORT] -- [user@]host df -P -k -- '<root>'"""
    if not location.is_remote:
        raise CapacityError("not a remote volume")
    command = conf.ssh_command()
    if location.port is not None:
        command += ["-p", str(location.port)]
    login = f"{location.user}@{location.host}" if location.user else location.host
    return [*command, "--", login, "df", "-P", "-k", "--", shlex.quote(location.path)]


def parse_df(output: str) -> tuple[int, int]:
    """(bytes total, bytes used) from POSIX `df -P -k` output (1024-byte blocks)."""
    for line in output.splitlines()[1:]:
        match = _DF_LINE.search(line + " ")
        if match:
            return int(match.group(1)) * 1024, int(match.group(2)) * 1024
    raise CapacityError(f"unexpected df output: {output[:200]!r}")


def volume_capacity(location: VolumeLocation, timeout: float = 30) -> tuple[int, int]:
    """(bytes total, bytes used) of the file system holding the volume's root."""
    if not location.is_remote:
        try:
            st = os.statvfs(location.path)
        except OSError as exc:
            raise CapacityError(f"{location.path}: {exc.strerror or exc}") from exc
        return st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    try:
        done = subprocess.run(
            remote_df_command(location),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**env, "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CapacityError(f"df over ssh failed: {exc}") from exc
    if done.returncode != 0:
        raise CapacityError(f"df over ssh exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_df(done.stdout)
