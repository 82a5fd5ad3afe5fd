"""Agent settings: defaults here, overridable in Django settings."""

from __future__ import annotations

from django.conf import settings


def rsync_binary() -> str:
    return getattr(settings, "TRACKER_RSYNC_BINARY", "rsync")


def rsync_io_timeout() -> int:
    """rsync's own --timeout: a stalled transfer fails instead of hanging the agent forever."""
    return int(getattr(settings, "TRACKER_RSYNC_IO_TIMEOUT", 600))


def partial_dir() -> str:
    """Where rsync keeps interrupted transfers (relative: one per destination folder), never the final name."""
    return getattr(settings, "TRACKER_RSYNC_PARTIAL_DIR", ".syncsite-partial")


def scan_author() -> str:
    """The spec says files found by a scan are authored by `support`."""
    return getattr(settings, "TRACKER_SCAN_AUTHOR", "support")


def poll_seconds() -> float:
    """Pause of the long-running agent when a round found nothing to do."""
    return float(getattr(settings, "TRACKER_AGENT_POLL_SECONDS", 10))


def publish_chunk() -> int:
    """How many discovered files one publish_many call carries."""
    return int(getattr(settings, "TRACKER_SCAN_PUBLISH_CHUNK", 1000))


def capacity_interval_seconds() -> int:
    """How often the agent reads a remote volume's size over ssh (a local one: every heartbeat)."""
    return int(getattr(settings, "TRACKER_CAPACITY_INTERVAL_SECONDS", 300))


def deletion_max_per_round() -> int:
    """Default of a volume's deletionMaxPerRound: more deletions than this in one round stop and alert."""
    return int(getattr(settings, "TRACKER_DELETION_MAX_PER_ROUND", 100))


def trash_retention_days() -> int:
    """Default of a volume's trashRetentionDays: trash day folders older than this are purged."""
    return int(getattr(settings, "TRACKER_TRASH_RETENTION_DAYS", 30))


def ssh_command() -> list[str]:
    """The remote shell rsync uses for ssh volumes, built only from these typed settings (never from a volume).

    TRACKER_AGENT_SSH_BINARY (default "ssh"), TRACKER_AGENT_SSH_IDENTITY_FILE (a private key),
    TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE, TRACKER_AGENT_SSH_STRICT_HOST_KEY_CHECKING ("yes", "accept-new"
    or "no"; unset: ssh's own default) and TRACKER_AGENT_SSH_CONNECT_TIMEOUT (seconds). ssh always runs in
    batch mode: the agent has no terminal to answer a prompt.
    """
    command = [str(getattr(settings, "TRACKER_AGENT_SSH_BINARY", "ssh")), "-o", "BatchMode=yes"]
    identity = getattr(settings, "TRACKER_AGENT_SSH_IDENTITY_FILE", None)
    if identity:
        command += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
    known_hosts = getattr(settings, "TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE", None)
    if known_hosts:
        command += ["-o", f"UserKnownHostsFile={known_hosts}"]
    strict = getattr(settings, "TRACKER_AGENT_SSH_STRICT_HOST_KEY_CHECKING", None)
    if strict is not None:
        if strict not in ("yes", "accept-new", "no"):
            raise ValueError("TRACKER_AGENT_SSH_STRICT_HOST_KEY_CHECKING must be yes, accept-new or no")
        command += ["-o", f"StrictHostKeyChecking={strict}"]
    timeout = getattr(settings, "TRACKER_AGENT_SSH_CONNECT_TIMEOUT", None)
    if timeout is not None:
        command += ["-o", f"ConnectTimeout={int(timeout)}"]
    return command
