"""Route: views that stream a site's data to sync clients, with HTTP basic auth on a shared token."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from synctools import conf, services, streaming, tracking
from synctools.errors import CursorExpired, InvalidCursor, SynctoolsError


class ChangeSource(Protocol):
    """Where a Route reads what changed: by default the records synctools' signals write (`ChangeRecord`);
    a project whose writes bypass signals passes its own (e.g. a log written by database triggers)."""

    def parse(self, value: str) -> Any:
        """The cursor a client sent back; InvalidCursor when it is not one, CursorExpired when it is too old."""

    def current(self, using: str) -> Any:
        """The cursor of what the reply's snapshot contains (its `str()` goes to the client)."""

    def changed(self, model: type[models.Model], since: Any, upto: Any, using: str) -> dict[str, list | None]:
        """pk (as text) -> natural key of its deletion, or None when the row still exists."""


class SignalChanges:
    """The default source: change records written by synctools' signal receivers (`tracking`)."""

    tracks = True  # the route's models must be tracked by signals

    def parse(self, value: str) -> int:
        cursor = services.parse_cursor(value)
        services.check_cursor(cursor)
        return cursor

    def current(self, using: str) -> int:
        return int(services.current_cursor())

    def changed(self, model: type[models.Model], since: int, upto: int, using: str) -> dict[str, list | None]:
        services.check_cursor(since)  # pruned while the reply was on its way: the reply breaks off
        return services.changes_since(model, since, upto)


class Route:
    """Registers sync views; include `route.urls` (or `route.urlpatterns`) in a URLconf."""

    def __init__(self, api_token: str | None = None, *, gzip: bool = True, natural_primary_keys: bool = True) -> None:
        """natural_primary_keys: False sends every row's pk, also of rows with a natural key (see docs)."""
        self.api_token = api_token
        self.gzip = gzip
        self.natural_primary_keys = natural_primary_keys
        self.urlpatterns: list = []

    @property
    def urls(self) -> list:
        return self.urlpatterns

    # --- registration ----------------------------------------------------------------------

    def app(
        self,
        path: str,
        label: str,
        *,
        exclude: Iterable[str] = (),
        omit_fields: Iterable[str] = (),
        incremental: bool = True,
        changes: ChangeSource | None = None,
    ) -> Callable:
        """Serve every model of an installed app, parents before children (as `dumpdata label`).

        exclude: models ("app_label.ModelName") to leave out, e.g. site-local state such as locks.
        omit_fields: fields ("app_label.ModelName.field") never sent, e.g. secrets; clients keep their values.
        incremental: False for apps that write with `update()`/`bulk_create()`/`bulk_update()` (no signals, so
        changes cannot be tracked): such a route answers every request in full, saying so to clients that
        asked for an increment (`X-Synctools-Incremental: 0`), which then delete what the reply lacks.
        changes: where changes are read (a `ChangeSource`); by default the signal-written change records.
        """
        excluded = {name.lower() for name in exclude}
        model_list = [m for m in streaming.app_models(label) if m._meta.label_lower not in excluded]
        source = changes or SignalChanges()
        if incremental and getattr(source, "tracks", False):
            tracking.track(model_list)

        def querysets() -> list[models.QuerySet]:
            return [model._default_manager.order_by(model._meta.pk.name) for model in model_list]

        view = self._make_view(
            querysets,
            models_hint=model_list,
            omit=frozenset(f.lower() for f in omit_fields),
            incremental=incremental,
            source=source,
        )
        self._add(path, view, name=f"synctools-app-{label}")
        return view

    def queryset(self, path: str, models: list[type[models.Model]] | None = None) -> Callable:
        """Decorator: serve what the function returns (a queryset or a list of them), in that order.

        `models` names the models up front so their changes are recorded from start-up for incremental
        pulls; without it they are recorded from the first request on.
        """
        if models:
            tracking.track(models)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self._add(path, self._make_view(func, models_hint=models), name=None)
            return func

        return decorator

    def _add(self, path: str, view: Callable, name: str | None) -> None:
        pattern = path if path.startswith("^") else f"^{path.rstrip('/')}/?$"
        self.urlpatterns.append(re_path(pattern, view, name=name))

    # --- auth ------------------------------------------------------------------------------

    def token(self) -> str:
        return self.api_token if self.api_token is not None else conf.api_token()

    def authorized(self, request: HttpRequest) -> bool:
        """Basic auth with the token as user name or as password, compared in constant time."""
        expected = self.token().encode()
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, encoded = header.partition(" ")
        if not expected or scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, _, password = decoded.partition(b":")
        user_ok = hmac.compare_digest(user, expected)
        password_ok = hmac.compare_digest(password, expected)
        return user_ok or password_ok

    # --- the view --------------------------------------------------------------------------

    def _make_view(
        self,
        func: Callable[..., Any],
        models_hint: list | None,
        omit: frozenset[str] = frozenset(),
        incremental: bool = True,
        source: ChangeSource | None = None,
    ) -> Callable:
        source = source or SignalChanges()

        @csrf_exempt
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                response = JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
                response["Allow"] = "GET, HEAD"
                return response
            if not self.authorized(request):
                response = JsonResponse(
                    {"detail": "Authentication credentials were not provided or are wrong."}, status=401
                )
                response["WWW-Authenticate"] = 'Basic realm="synctools"'
                return response
            since = request.GET.get(streaming.SINCE_PARAM)
            cursor = None
            if since not in (None, "") and incremental:
                try:
                    cursor = source.parse(since)
                except CursorExpired as exc:
                    response = JsonResponse({"detail": exc.detail, "fullPullNeeded": True}, status=exc.http_status)
                    response[streaming.FULL_PULL_HEADER] = "1"
                    return response
                except (SynctoolsError, ValueError) as exc:
                    error = exc if isinstance(exc, SynctoolsError) else InvalidCursor(str(exc))
                    return JsonResponse({"detail": error.detail}, status=error.http_status)
            querysets = func(*args, **kwargs)
            if not isinstance(querysets, list | tuple):
                querysets = [querysets]
            querysets = list(querysets)
            if getattr(source, "tracks", False):
                tracking.track(m for m in map(streaming.queryset_model, querysets) if m is not None)
            try:
                response = self._respond(request, querysets, cursor if incremental else None, omit, source)
            except CursorExpired as exc:  # pruned while the request was on its way
                response = JsonResponse({"detail": exc.detail, "fullPullNeeded": True}, status=exc.http_status)
                response[streaming.FULL_PULL_HEADER] = "1"
                return response
            if since not in (None, "") and not incremental:
                response[streaming.INCREMENTAL_HEADER] = "0"
            return response

        return view

    def _respond(
        self, request: HttpRequest, querysets: list, cursor: Any, omit: frozenset[str], source: ChangeSource
    ) -> HttpResponse:
        body = self._body(querysets, cursor, omit, source)
        new_cursor = next(body)  # opens the snapshot and reads the cursor before any row
        incremental = cursor is not None
        if request.method == "HEAD":
            body.close()
            response = HttpResponse(content_type="application/json")
        else:
            chunks: Iterator[bytes] = body
            gzip = self.gzip and "gzip" in request.META.get("HTTP_ACCEPT_ENCODING", "").lower()
            if gzip:
                chunks = streaming.gzip_stream(chunks, conf.gzip_level())
            response = StreamingHttpResponse(chunks, content_type="application/json")
            if gzip:
                response["Content-Encoding"] = "gzip"
        response["Vary"] = "Accept-Encoding, Authorization"
        response["Cache-Control"] = "no-store"
        response[streaming.CURSOR_HEADER] = new_cursor
        labels = [streaming.model_label(m) for m in map(streaming.queryset_model, querysets) if m is not None]
        response[streaming.MODELS_HEADER] = ",".join(dict.fromkeys(labels))
        if incremental:
            response[streaming.INCREMENTAL_HEADER] = "1"
        return response

    def _body(self, querysets: list, cursor: Any, omit: frozenset[str], source: ChangeSource) -> Iterator[Any]:
        """First the cursor, then the body.

        On PostgreSQL all of it is read in one REPEATABLE READ transaction: a consistent snapshot, so rows
        changed while streaming are sent next time. SQLite's transactions here take the write lock
        (IMMEDIATE mode), so there the rows are read as `dumpdata` reads them, query by query.
        """
        alias = _read_alias(querysets)
        connection = connections[alias]
        # Inside an outer transaction (tests, ATOMIC_REQUESTS) that one's snapshot is used as it is.
        snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
        with transaction.atomic(using=alias) if snapshot else contextlib.nullcontext():
            if snapshot:
                with connection.cursor() as db_cursor:
                    db_cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            upto = source.current(alias)
            yield str(upto)
            if cursor is None:
                yield from streaming.serialize_stream(
                    querysets, conf.batch_size(), omit, natural_pks=self.natural_primary_keys
                )
            else:
                yield from _incremental_stream(
                    querysets,
                    lambda model: source.changed(model, cursor, upto, alias),
                    conf.batch_size(),
                    omit,
                    natural_pks=self.natural_primary_keys,
                )


def _read_alias(querysets: list) -> str:
    for queryset in querysets:
        if isinstance(queryset, models.QuerySet):
            return queryset.db
    return DEFAULT_DB_ALIAS


def _incremental_stream(
    querysets: list,
    changes: Callable[[type[models.Model]], dict[str, list | None]],
    chunk_size: int,
    omit: frozenset[str],
    *,
    natural_pks: bool = True,
) -> Iterator[bytes]:
    """Rows changed after `cursor` (current state), then tombstones for those gone, children's first."""
    writer = streaming.ArrayWriter()
    yield writer.open()
    gone: list[tuple[type[models.Model], list[tuple[Any, Any]]]] = []
    for queryset in querysets:
        model = streaming.queryset_model(queryset)
        plain = (
            isinstance(queryset, models.QuerySet) and not queryset.query.is_sliced and queryset._result_cache is None
        )
        if model is None or not plain:
            # Not a plain queryset: it cannot be narrowed to the changed rows, so it is sent whole.
            for text in streaming.encode_batches(queryset, chunk_size, omit, natural_pks=natural_pks):
                yield writer.batch(text)
            continue
        changed = changes(model)
        if not changed:
            continue
        keys = list(changed)
        missing: list[tuple[Any, Any]] = []
        for start in range(0, len(keys), chunk_size):
            wanted = {model._meta.pk.to_python(key): key for key in keys[start : start + chunk_size]}
            found = list(streaming.optimise(queryset.filter(pk__in=list(wanted))))
            if found:
                yield writer.batch(streaming.encode_objects(found, omit, natural_pks=natural_pks))
            present = {obj.pk for obj in found}
            missing.extend((pk, changed[key]) for pk, key in wanted.items() if pk not in present)
        if missing:
            gone.append((model, missing))
    for model, entries in reversed(gone):
        for start in range(0, len(entries), chunk_size):
            yield writer.batch(streaming.encode_tombstones(model, entries[start : start + chunk_size]))
    yield writer.close()
