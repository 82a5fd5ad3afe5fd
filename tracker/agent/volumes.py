"""Volume URLs: a local path, `file:///path`, or `ssh://user@host:port/path` (rsync over ssh)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class VolumeURLError(ValueError):
    """The volume's url cannot be used by rsync."""


@dataclass(frozen=True)
class VolumeLocation:
    """Where a volume's root lives and how rsync reaches it."""

    url: str
    path: str
    host: str | None = None
    user: str | None = None
    port: int | None = None

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
        """The `-e` value for this volume: the given remote shell (default ssh) plus the URL's port."""
        if not self.is_remote:
            return None
        words = shlex.split(base) if base else ["ssh"]
        if self.port is not None:
            words += ["-p", str(self.port)]
        return shlex.join(words)


def parse_volume_url(url: str) -> VolumeLocation:
    """Parse a volume url; raise VolumeURLError with the reason when it cannot be used."""
    if not isinstance(url, str) or not url.strip():
        raise VolumeURLError("the volume has no url")
    url = url.strip()
    if any(ch in url for ch in "\x00\n\r"):
        raise VolumeURLError("control character in volume url")
    if url.startswith("/"):
        return VolumeLocation(url=url, path=url)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise VolumeURLError("file:// urls must be local")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise VolumeURLError("file:// url needs an absolute path")
        return VolumeLocation(url=url, path=path)
    if parts.scheme == "ssh":
        if not parts.hostname:
            raise VolumeURLError("ssh url without a host")
        try:
            port = parts.port
        except ValueError as exc:
            raise VolumeURLError(f"bad port in ssh url: {exc}") from exc
        path = unquote(parts.path)
        if not path.startswith("/") or path == "/":
            raise VolumeURLError("ssh url needs an absolute path below /")
        user = unquote(parts.username) if parts.username else None
        return VolumeLocation(url=url, path=path, host=parts.hostname, user=user, port=port)
    raise VolumeURLError(f"unsupported volume url {url!r}: use an absolute path or ssh://user@host:port/path")
