"""django-q2 task functions of syncthing_bridge (schedule them in the admin: Task queue → Scheduled tasks)."""

from __future__ import annotations

from dataclasses import asdict

from syncthing_bridge import conf, services


def refresh_all() -> dict:
    """Mirror every enabled instance's devices, folders and completion (schedule every minute or so)."""
    return services.refresh_all()


def listen(seconds: int | None = None) -> dict:
    """Tail every enabled instance's events for `seconds` (default SYNCTHING_LISTEN_TASK_SECONDS), then return.

    Scheduled every minute, consecutive runs continue from the event id each instance stored.
    """
    stats = services.listen(duration=seconds or conf.listen_task_seconds())
    return asdict(stats)
