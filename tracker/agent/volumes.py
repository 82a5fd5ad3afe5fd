"""Volume URLs: a local path, `file:///path`, or `ssh://user@host:port/path` (rsync over ssh).

The rules are `tracker.rsyncpolicy`'s, the same the admin and the tracker's write path apply."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass

from tracker import rsyncpolicy

VolumeURLError = rsyncpolicy.VolumeURLError


@dataclass(frozen=True)
class VolumeLocation(rsyncpolicy.VolumeURL):
    """Where a volume's root lives and how rsync reaches it."""

    @property
    def is_remote(self) -> bool:
        return self.host is not None

    def rsync_root(self) -> str:
        """The root as an rsync argument, always with a trailing slash (copy the contents, not the folder)."""
        root = self.path if self.path.endswith("/") else self.path + "/"
        if not self.is_remote:
            return root
        login = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{login}{host}:{root}"

    def rsh_command(self, base: str | None = None) -> str | None:
        """The `-e` value for this volume: the agent's remote shell (default ssh) plus the URL's port."""
        if not self.is_remote:
            return None
        words = shlex.split(base) if base else ["ssh"]
        if self.port is not None:
            words += ["-p", str(self.port)]
        return shlex.join(words)


def parse_volume_url(url: str) -> VolumeLocation:
    """Parse a volume url with the tracker's one url validator; VolumeURLError with the reason when unusable."""
    return VolumeLocation(**asdict(rsyncpolicy.parse_url(url)))
