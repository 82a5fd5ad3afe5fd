"""What a volume may ask of rsync: the one set of validators the admin form, the tracker's write path and the
agent share.

A volume's `url`, `rsync_args` and `rsync_env` end up on an rsync command line run as the agent's user, so they
are untrusted even when an admin wrote them: the agent validates them again before every run. `rsync_args` is
parsed into an allow-list of options that neither run a program nor name a file (no `-e`, `--rsync-path`,
`--files-from`, filter merges, logs, batches, backup or link directories), `rsync_env` into an allow-list of
variable names (no `RSYNC_RSH`, `LD_PRELOAD`, `PATH`...). The remote shell comes only from the agent's own
settings (`tracker.agent.conf.ssh_command`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class PolicyError(ValueError):
    """A volume value that rsync must not be given."""


class VolumeURLError(PolicyError):
    """The volume's url cannot be used by rsync."""


class RsyncConfigError(PolicyError):
    """rsync_args or rsync_env of a volume cannot be used."""


# --------------------------------------------------------------------------------------------- urls

URL_HELP = "use an absolute path, file:///path or ssh://user@host:port/path"
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}")
# A remote path is read by the remote login shell of older rsyncs: no shell syntax, no spaces.
_REMOTE_PATH = re.compile(r"/[A-Za-z0-9_.,+=@%~/-]*")


@dataclass(frozen=True)
class VolumeURL:
    """A volume url taken apart: the root path, and for ssh the login, host and port."""

    url: str
    path: str
    host: str | None = None
    user: str | None = None
    port: int | None = None


def parse_url(url: object) -> VolumeURL:
    """Parse a volume url; VolumeURLError with the reason when rsync cannot (or must not) use it.

    `rsync://` (daemon) urls are refused: the agent only speaks to local paths and to ssh.
    """
    if not isinstance(url, str) or not url.strip():
        raise VolumeURLError("the volume has no url")
    url = url.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise VolumeURLError("control character in volume url")
    if url.startswith("/"):
        return VolumeURL(url=url, path=url)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise VolumeURLError("file:// urls must be local")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise VolumeURLError("file:// url needs an absolute path")
        return VolumeURL(url=url, path=path)
    if parts.scheme == "ssh":
        return _parse_ssh(url, parts)
    raise VolumeURLError(f"unsupported volume url {url!r}: {URL_HELP}")


def _parse_ssh(url: str, parts) -> VolumeURL:
    host = parts.hostname
    if not host:
        raise VolumeURLError("ssh url without a host")
    # The host and user reach ssh as arguments: nothing that ssh could read as an option.
    if not (_HOST.fullmatch(host) or (":" in host and _IPV6.fullmatch(host))):
        raise VolumeURLError(f"bad host in ssh url: {host!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise VolumeURLError(f"bad port in ssh url: {exc}") from exc
    if port == 0:
        raise VolumeURLError("bad port in ssh url: 0")
    user = unquote(parts.username) if parts.username else None
    if user is not None and not _USER.fullmatch(user):
        raise VolumeURLError(f"bad user in ssh url: {user!r}")
    if parts.password is not None:
        raise VolumeURLError("ssh urls carry no password (the agent logs in with its own key)")
    if parts.query or parts.fragment:
        raise VolumeURLError("ssh urls have no query or fragment")
    path = unquote(parts.path)
    if not path.startswith("/") or path == "/":
        raise VolumeURLError("ssh url needs an absolute path below /")
    if not _REMOTE_PATH.fullmatch(path):
        raise VolumeURLError("an ssh url's path may only hold letters, digits, / and _.,+=@%~-")
    return VolumeURL(url=url, path=path, host=host, user=user, port=port)


# --------------------------------------------------------------------------------------------- rsync_args

# Options without a value, long name -> short letter (or None). Each only changes how files are compared,
# copied or what metadata is kept; none runs a program, reads or writes a file other than the transfer's.
FLAG_OPTIONS: dict[str, str | None] = {
    "--archive": "a",
    "--recursive": "r",
    "--links": "l",
    "--perms": "p",
    "--times": "t",
    "--group": "g",
    "--owner": "o",
    "--devices": None,
    "--specials": None,
    "--compress": "z",
    "--verbose": "v",
    "--checksum": "c",
    "--hard-links": "H",
    "--acls": "A",
    "--xattrs": "X",
    "--sparse": "S",
    "--one-file-system": "x",
    "--executability": "E",
    "--omit-dir-times": "O",
    "--omit-link-times": "J",
    "--whole-file": "W",
    "--ignore-times": "I",
    "--ipv4": "4",
    "--ipv6": "6",
    "--numeric-ids": None,
    "--size-only": None,
    "--preallocate": None,
    "--fsync": None,
    "--open-noatime": None,
    "--protect-args": "s",
    "--secluded-args": None,
}
# Short letters that stand for more than one long option, or have no long twin of their own.
EXTRA_SHORT_FLAGS = frozenset({"D"})
SHORT_FLAGS = frozenset({letter for letter in FLAG_OPTIONS.values() if letter} | EXTRA_SHORT_FLAGS)
# `--no-X` switches off X; never the recursion the agent needs for folder packages.
NEGATABLE = frozenset(
    {name[2:] for name in FLAG_OPTIONS if name not in {"--recursive", "--ipv4", "--ipv6", "--archive"}} | {"D"}
)

_NUMBER = r"[0-9]{1,10}"
_SIZE = r"[0-9]{1,12}(?:\.[0-9]{1,6})?(?:[KMGTPkmgtp][iI]?[bB]?)?(?:[+-]1)?"
_CHOICE = r"[A-Za-z0-9,+_-]{1,64}"
# Options with a value (always written `--name=value`), and the value each accepts.
VALUE_OPTIONS: dict[str, re.Pattern[str]] = {
    "--bwlimit": re.compile(_SIZE),
    "--timeout": re.compile(_NUMBER),
    "--contimeout": re.compile(_NUMBER),
    "--compress-level": re.compile(r"-?[0-9]{1,2}"),
    "--compress-choice": re.compile(_CHOICE),
    "--zc": re.compile(_CHOICE),
    "--checksum-choice": re.compile(_CHOICE),
    "--cc": re.compile(_CHOICE),
    "--chmod": re.compile(r"[DFugoa0-7+=,rwxXstT-]{1,128}"),
    "--modify-window": re.compile(r"-?[0-9]{1,6}"),
    "--max-size": re.compile(_SIZE),
    "--min-size": re.compile(_SIZE),
    "--block-size": re.compile(_SIZE),
    "--skip-compress": re.compile(r"[A-Za-z0-9/]{1,256}"),
}


def _refuse(word: str, why: str = "is not allowed") -> RsyncConfigError:
    return RsyncConfigError(f"rsync_args: {word} {why} (allowed: {allowed_options_text()})")


def allowed_options_text() -> str:
    """The allow-list in words, for error messages and form help."""
    shorts = "".join(sorted(SHORT_FLAGS))
    values = ", ".join(f"{name}=..." for name in sorted(VALUE_OPTIONS))
    return f"-[{shorts}], {', '.join(sorted(FLAG_OPTIONS))}, --no-<flag>, {values}"


def _check_word(word: str) -> None:
    if word.startswith("--"):
        name, sep, value = word.partition("=")
        if name in VALUE_OPTIONS:
            if not sep or not VALUE_OPTIONS[name].fullmatch(value):
                raise _refuse(word, f"needs a value of the form {name}=<{VALUE_OPTIONS[name].pattern}>")
            return
        if sep:
            raise _refuse(word)
        if name in FLAG_OPTIONS or (name.startswith("--no-") and name[5:] in NEGATABLE):
            return
        raise _refuse(word)
    if word.startswith("-") and len(word) > 1:
        # A cluster of short flags (-avz): every letter must be a flag on the list (so no -e, -T, -f, -B...).
        for letter in word[1:]:
            if letter not in SHORT_FLAGS:
                raise _refuse(word, f"contains -{letter}, which is not allowed")
        return
    raise _refuse(repr(word), "is not an option (sources and destinations are set by the agent)")


def parse_rsync_args(raw: str | Sequence[str] | None) -> list[str]:
    """A volume's rsync_args as a list of allowed options (shell words); RsyncConfigError otherwise."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, list | tuple):
        words = list(raw)
    elif isinstance(raw, str):
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise RsyncConfigError(f"rsync_args: {exc}") from exc
    else:
        raise RsyncConfigError("rsync_args must be a string of options")
    for word in words:
        if not isinstance(word, str) or any(ord(ch) < 32 for ch in word):
            raise RsyncConfigError(f"rsync_args: {word!r} is not an option")
        _check_word(word)
    return words


# --------------------------------------------------------------------------------------------- rsync_env

# Variables rsync reads that name no program, library or file: the daemon password and proxy (for sites
# reached through an rsync daemon by a future agent) and the negotiation and memory knobs.
ALLOWED_ENV = frozenset(
    {"RSYNC_PASSWORD", "RSYNC_PROXY", "RSYNC_CHECKSUM_LIST", "RSYNC_COMPRESS_LIST", "RSYNC_MAX_ALLOC", "RSYNC_ICONV"}
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_rsync_env(raw: str | Mapping | None) -> dict[str, str]:
    """A volume's rsync_env (`KEY=value KEY2='v w'` or a JSON object) limited to ALLOWED_ENV."""
    if raw is None or raw == "" or raw == {}:
        return {}
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, Mapping):
        pairs = [(str(k), v if isinstance(v, str) else str(v)) for k, v in raw.items()]
    elif isinstance(raw, str):
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise RsyncConfigError(f"rsync_env: {exc}") from exc
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or not _ENV_NAME.fullmatch(key):
                raise RsyncConfigError(f"rsync_env: {word!r} is not KEY=value")
            pairs.append((key, value))
    else:
        raise RsyncConfigError("rsync_env must be KEY=value words or a JSON object")
    env: dict[str, str] = {}
    for key, value in pairs:
        if key not in ALLOWED_ENV:
            allowed = ", ".join(sorted(ALLOWED_ENV))
            raise RsyncConfigError(f"rsync_env: {key} is not allowed (allowed: {allowed})")
        if "\x00" in value:
            raise RsyncConfigError(f"rsync_env: {key} holds a NUL character")
        env[key] = value
    return env


# --------------------------------------------------------------------------------------------- volumes


def check_volume_keys(keys: Mapping) -> None:
    """Refuse a volume's url, rsync_args or rsync_env that the agent would refuse to run (absent or empty: ok)."""
    url = keys.get("url")
    if url not in (None, ""):
        parse_url(url)
    parse_rsync_args(keys.get("rsync_args"))
    parse_rsync_env(keys.get("rsync_env"))


# --------------------------------------------------------------------------------------------- pattern rules


class PatternRuleError(PolicyError):
    """includePatternRules / excludePatternRules / excludedFiles that do not parse as glob rules."""


PATTERN_RULE_KEYS = ("includePatternRules", "excludePatternRules", "excludedFiles")
MAX_PATTERN_RULES = 500
MAX_PATTERN_LENGTH = 1024
# rsync filter-rule syntax (`merge`, `dir-merge`, `+ `, `- `, `: `, `. `, `!`): a rule is a glob, never a rule
# that makes rsync read a file or changes the rule list.
_RULE_PREFIX = re.compile(
    r"^(?:[+\-.:]\s|[+\-.:,]$|!$|(?:merge|dir-merge|include|exclude|hide|show|protect|risk|clear)(?:[\s,]|$))", re.I
)


def _check_glob(key: str, pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternRuleError(f"{key}: a pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in pattern):
        raise PatternRuleError(f"{key}: control character in pattern {pattern[:80]!r}")
    if _RULE_PREFIX.match(pattern):
        raise PatternRuleError(
            f"{key}: {pattern[:80]!r} looks like an rsync filter rule; write a glob such as *.tmp or /render/cache/*"
        )
    if "\\" in pattern:
        raise PatternRuleError(f"{key}: backslash in pattern {pattern[:80]!r} (paths use /)")
    index = 0
    while index < len(pattern):
        if pattern[index] == "[":
            end = index + 1
            if end < len(pattern) and pattern[end] in "!^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1  # a leading ] is part of the set
            end = pattern.find("]", end)
            if end == -1:
                raise PatternRuleError(f"{key}: unclosed [ in pattern {pattern[:80]!r}")
            index = end
        elif pattern[index] == "]":
            raise PatternRuleError(f"{key}: ] without [ in pattern {pattern[:80]!r}")
        index += 1
    if "//" in pattern or "/../" in f"{pattern}/" or pattern.startswith("../"):
        raise PatternRuleError(f"{key}: pattern {pattern[:80]!r} has an empty or '..' path segment")


def parse_pattern_rules(raw: object, key: str = "patterns") -> list[str]:
    """Glob rules as stored on rsyncGlobalParameters: a string (comma or newline separated; `#` starts a comment
    line) or a list of strings; the globs, or PatternRuleError saying which rule does not parse and why.

    A glob without `/` matches a file or folder name anywhere (`*.tmp`), with `/` the whole tracker path
    (`/render/cache/*`); `*`, `?` and `[...]` sets. The agent matches ids against them itself."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, list | tuple):
        items = list(raw)
        if not all(isinstance(item, str) for item in items):
            raise PatternRuleError(f"{key}: every rule must be a string")
    elif isinstance(raw, str):
        items = re.split(r"[,\n]", raw)
    else:
        raise PatternRuleError(f"{key}: a string of comma or newline separated globs, or a list of globs")
    patterns = [item.strip() for item in items if item.strip() and not item.strip().startswith("#")]
    if len(patterns) > MAX_PATTERN_RULES:
        raise PatternRuleError(f"{key}: more than {MAX_PATTERN_RULES} rules")
    for pattern in patterns:
        _check_glob(key, pattern)
    return patterns


def check_pattern_keys(keys: Mapping) -> None:
    """Refuse pattern rules that do not parse (absent or empty: ok)."""
    for key in PATTERN_RULE_KEYS:
        if key in keys:
            parse_pattern_rules(keys.get(key), key)


# --------------------------------------------------------------------------------------------- deletions

DELETION_KEYS = {"enableDeletion": bool, "deletionMaxPerRound": int, "trashRetentionDays": int}


def check_deletion_keys(keys: Mapping) -> None:
    """A volume's deletion switches: enableDeletion a boolean, the two limits whole numbers >= 0 (or absent)."""
    value = keys.get("enableDeletion")
    if value is not None and not isinstance(value, bool):
        raise PolicyError("enableDeletion must be true or false")
    for key in ("deletionMaxPerRound", "trashRetentionDays"):
        value = keys.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 10**9:
            raise PolicyError(f"{key} must be a whole number >= 0")
