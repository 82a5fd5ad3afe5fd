"""`GET /api/changes?since=CURSOR`: the tracker's change feed, long-poll or Server-Sent Events.

Long-poll (any worker): the answer comes as soon as there is an event after `since`, or after `wait` seconds
(at most TRACKER_CHANGES_MAX_WAIT, 25) with none: `{"cursor": ..., "events": [...]}`; the caller sends the
cursor back. Without `since` the answer is the current cursor at once (start listening from now).

SSE (`Accept: text/event-stream`): under an ASGI server the stream stays open for the wait and sends each
event as it comes (`id:` is the cursor, so an EventSource resumes with Last-Event-ID after it reconnects);
under WSGI the same request answers one long-poll batch in SSE form and closes (EventSource reconnects).

Each user holds at most TRACKER_CHANGES_MAX_OPEN such requests at once (429 beyond): listeners must not be
able to take every web worker. The slots are task lease rows in the database, so the cap holds across every
worker and host of the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from syncsite import taskqueue
from tracker import conf, services
from tracker.auth import BadCredentials, actor_for_request
from tracker.models import UserClass
from tracker.services import feed

POLL_SECONDS = 0.2  # how often a waiting request looks at the log: a change is seen within about this long
KEEPALIVE_SECONDS = 10


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _slot_names(user: str) -> list[str]:
    return [f"tracker:changes-open:{user[:200]}:{n}" for n in range(conf.changes_max_open())]


def _take_slot(user: str) -> tuple[str, str] | None:
    """One of the user's TRACKER_CHANGES_MAX_OPEN slots (a task lease row), None when all are held.

    Leases live in the database, so the cap holds across every web worker and host of the site; one that a
    killed worker never gave back expires after the longest wait plus a minute.
    """
    seconds = conf.changes_max_wait_seconds() + 60
    for name in _slot_names(user):
        token = taskqueue.acquire(name, seconds=seconds)
        if token is not None:
            return name, token
    return None


@contextlib.contextmanager
def _open_slot(user: str) -> Iterator[bool]:
    """Hold one of the user's slots for the block; yields False (holding nothing) when the user is at the cap."""
    slot = _take_slot(user)
    try:
        yield slot is not None
    finally:
        if slot is not None:
            taskqueue.release(*slot)


def _wait_seconds(request: HttpRequest) -> float:
    value = request.GET.get("wait", "")
    limit = conf.changes_max_wait_seconds()
    if value == "":
        return limit
    try:
        wait = float(value)
    except ValueError:
        raise ValueError("wait must be a number of seconds") from None
    if not 0 <= wait < float("inf"):
        raise ValueError("wait must be a number of seconds")
    return min(wait, limit)


def _sse(events: list[dict], cursor: str) -> bytes:
    lines = [f"id: {cursor}\nevent: change\ndata: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events]
    if not events:
        lines.append(f"id: {cursor}\nevent: cursor\ndata: {json.dumps({'cursor': cursor})}\n\n")
    return "".join(lines).encode()


@csrf_exempt
def changes(request: HttpRequest) -> HttpResponse:
    """The feed (see the module docstring)."""
    if request.method != "GET":
        response = _error(405, f"Method {request.method} not allowed; use GET.")
        response["Allow"] = "GET"
        return response
    try:
        actor = actor_for_request(request, allow_session=True)
    except BadCredentials as exc:
        return _error(401, str(exc))
    if actor is None:
        if not conf.anonymous_read():
            return _error(401, "Authentication required: send Authorization: Bearer <token>.")
        actor = services.Actor("anonymous", UserClass.GUEST)
    stream = "text/event-stream" in request.headers.get("Accept", "")
    since_text = request.GET.get("since") or (request.headers.get("Last-Event-ID") if stream else None)
    try:
        wait = _wait_seconds(request)
        since = feed.parse_cursor(since_text) if since_text else None
    except (ValueError, feed.InvalidFeedCursor) as exc:
        return _error(400, str(exc))
    if since is None:
        cursor = feed.current_cursor()
        if stream:
            return HttpResponse(_sse([], cursor), content_type="text/event-stream")
        return JsonResponse({"cursor": cursor, "events": []})
    if stream and isinstance(request, ASGIRequest):
        return _sse_response(actor, since, wait)
    with _open_slot(actor.name) as allowed:
        if not allowed:
            return _too_many()
        events, cursor = _long_poll(actor, since, wait)
    if stream:
        return HttpResponse(b"retry: 1000\n\n" + _sse(events, cursor), content_type="text/event-stream")
    return JsonResponse({"cursor": cursor, "events": events}, json_dumps_params={"ensure_ascii": False})


def _too_many() -> JsonResponse:
    response = _error(429, f"At most {conf.changes_max_open()} open change requests per user.")
    response["Retry-After"] = "1"
    return response


def _long_poll(actor: services.Actor, since, wait: float) -> tuple[list[dict], str]:
    deadline = time.monotonic() + wait
    while True:
        events, cursor = feed.events(actor, since)
        if events or time.monotonic() >= deadline:
            return events, str(cursor)
        time.sleep(POLL_SECONDS)


def _sse_response(actor: services.Actor, since, wait: float) -> HttpResponse:
    """A stream that stays open for `wait` seconds (ASGI only: an async generator does not hold a worker)."""
    read = sync_to_async(feed.events)  # the ASGI handler's one sync thread, whose connection Django manages
    slot = _take_slot(actor.name)
    if slot is None:
        return _too_many()
    release = sync_to_async(taskqueue.release)

    async def body() -> AsyncIterator[bytes]:
        cursor = since
        deadline = time.monotonic() + wait
        last_sent = time.monotonic()
        try:
            yield b"retry: 1000\n\n"
            while time.monotonic() < deadline:
                events, cursor = await read(actor, cursor)
                if events:
                    yield _sse(events, str(cursor))
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                    yield b": keep-alive\n\n"
                    last_sent = time.monotonic()
                await asyncio.sleep(POLL_SECONDS)
            yield _sse([], str(cursor))
        finally:
            await release(*slot)

    response = StreamingHttpResponse(body(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
