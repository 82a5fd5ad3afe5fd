"""django-q2 functions: schedule `synctools.tasks.pull` with the URL as argument to replicate every few minutes."""

from __future__ import annotations

from dataclasses import asdict

from synctools.client import Client


def pull(
    url: str,
    clean: bool = False,
    reset: bool = True,
    images: bool = False,
    incremental: bool = True,
    api_token: str | None = None,
    api_url: str | None = None,
    media_url: str | None = None,
) -> dict:
    """Pull one URL (incremental by default: a schedule wants only the changes); the result is the task's result."""
    client = Client(api_token=api_token, api_url=api_url, media_url=media_url)
    result = client.sync(url, clean=clean, reset=reset, images=images, incremental=incremental)
    return asdict(result)
