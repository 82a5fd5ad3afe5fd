"""Client: pull a Route (or any Django JSON fixture served over HTTP) into the local database.

The reply is parsed as it arrives (ijson) and applied in batches inside one transaction with
constraint checks deferred and verified at the end, as `loaddata` does: a failure anywhere, in
the network, the JSON or the data, leaves the local database as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin

import ijson
import requests
import urllib3
from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.core.files import File
from django.core.management.color import no_style
from django.core.serializers import base as serializer_base
from django.core.serializers import python as python_serializer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, models, transaction
from django.db.models.constants import OnConflict
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from synctools import conf, services, streaming
from synctools.models import SyncRun, SyncState

logger = logging.getLogger(__name__)
BASIC_AUTH_USER = "synctools"  # fixed basic-auth user name; the token goes as the password
_IDENTITY = {"Accept-Encoding": "identity"}  # media files: sizes must compare with the stored files'


class SyncError(Exception):
    """A pull failed; the message names the URL and, for HTTP errors, the status."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(f"{url}: {message}")


@dataclass
class SyncResult:
    """What one pull did."""

    url: str
    incremental: bool = False
    rows: int = 0
    deleted: int = 0
    files: int = 0
    cursor: str = ""
    models: list[str] = field(default_factory=list)
    duration: float = 0.0


class Client:
    """Downloads remote data (and media files) from synctools Routes."""

    def __init__(
        self,
        api_token: str | None = None,
        api_url: str | None = None,
        media_url: str | None = None,
        *,
        timeout: tuple[float, float] | None = None,
        retries: int | None = None,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        self.api_token = api_token if api_token is not None else conf.client_token()
        self.api_url = api_url if api_url is not None else conf.client_endpoint()
        self.media_url = media_url if media_url is not None else conf.client_media_url()
        self.timeout = timeout or (conf.connect_timeout(), conf.read_timeout())
        self.using = using
        self.session = requests.Session()
        retry = Retry(
            total=conf.retries() if retries is None else retries,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if self.api_token:
            # The token goes as the basic-auth password: web servers log the user name, never the password.
            # Routes accept it in either place, so stock django-synctool clients (token as user) keep working.
            self.session.auth = (BASIC_AUTH_USER, self.api_token)
        self.session.headers["Accept-Encoding"] = "gzip"

    # --- URLs ------------------------------------------------------------------------------

    def full_url(self, url: str) -> str:
        """`api_url` + `url`, as the original client did; absolute URLs are used as they are."""
        if url.startswith(("http://", "https://")):
            return url
        if not self.api_url:
            raise SyncError(url, "no api_url given and SYNCTOOL_CLIENT_ENDPOINT is not set")
        base = self.api_url if self.api_url.endswith("/") else self.api_url + "/"
        return base + url.lstrip("/")

    # --- sync ------------------------------------------------------------------------------

    def sync(
        self,
        url: str,
        clean: bool = False,
        reset: bool = True,
        images: bool = False,
        *,
        incremental: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> SyncResult:
        """Pull `url` and apply it in one transaction.

        clean: delete local rows of the models the reply covers that the reply no longer contains.
        reset: reset primary key sequences afterwards (PostgreSQL).
        images: download missing or changed files of ImageFields and FileFields of the pulled rows.
        incremental: send the cursor of the last success and apply only the changes (and deletions).
        """
        target = self.full_url(url)
        services.sweep_abandoned_runs()
        state = services.sync_state(target)
        run = services.start_run(state, incremental=incremental)
        started = time.monotonic()
        result = SyncResult(url=target)
        try:
            with _sigterm_raises():
                self._pull(
                    target,
                    state,
                    run.pk,
                    result,
                    clean=clean,
                    reset=reset,
                    incremental=incremental,
                    images=images,
                    progress=progress,
                )
                if images:
                    result.files = self._download_pulled_files(target, result)
        except BaseException as exc:  # interruptions too: the run must not stay "running"
            if isinstance(exc, SyncError) or not isinstance(exc, Exception):
                error: BaseException = exc
            else:
                error = SyncError(target, f"{type(exc).__name__}: {exc}")
            _mark_failed(run, _describe(error), files=result.files)
            if error is exc:
                raise
            raise error from exc
        result.duration = time.monotonic() - started
        services.finish_run(run, outcome=SyncRun.SUCCESS, rows=result.rows, deleted=result.deleted, files=result.files)
        return result

    def _pull(
        self,
        target: str,
        state: SyncState,
        run_id: int,
        result: SyncResult,
        *,
        clean: bool,
        reset: bool,
        incremental: bool,
        images: bool,
        progress: Callable[[int], None] | None,
    ) -> None:
        params = {streaming.SINCE_PARAM: state.cursor} if incremental and state.cursor else None
        response = self._get(target, params=params)
        with response:
            answer = response.headers.get(streaming.INCREMENTAL_HEADER)
            result.incremental = answer == "1"
            if incremental and answer == "0":
                clean = True  # the route cannot send increments: a full reply, deletions found by comparison
            covered = [label for label in response.headers.get(streaming.MODELS_HEADER, "").split(",") if label]
            applier = Applier(
                target,
                using=self.using,
                clean=clean and not result.incremental,
                want_pks=self._file_models if images else _nothing,  # ids kept only when files will be fetched
                state=state,
                run_id=run_id,
            )
            applier.cover(covered)
            connection = connections[self.using]
            with transaction.atomic(using=self.using):
                with connection.constraint_checks_disabled():
                    for record in self._records(target, response):
                        applier.add(record)
                        if progress is not None and applier.pending_rows == 0:
                            progress(applier.rows)
                    applier.finish()
                    if progress is not None:
                        progress(applier.rows)
                applier.check_constraints()
                if reset:
                    applier.reset_sequences()
                cursor = response.headers.get(streaming.CURSOR_HEADER, "")
                if cursor:
                    services.save_cursor(state, cursor)
                    result.cursor = cursor
                services.end_adoption(state)
        result.rows, result.deleted = applier.rows, applier.deleted
        result.models = [streaming.model_label(m) for m in applier.models]
        self._pulled_pks = applier.pulled_pks

    def _get(self, url: str, params: dict | None = None) -> requests.Response:
        try:
            response = self.session.get(url, params=params, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SyncError(url, f"request failed: {exc}") from exc
        if response.status_code != 200:
            detail = response.raw.read(500, decode_content=True).decode(errors="replace").strip()
            response.close()
            raise SyncError(url, f"HTTP {response.status_code}: {detail}", status=response.status_code)
        return response

    def _records(self, url: str, response: requests.Response) -> Iterable[dict]:
        response.raw.decode_content = True
        try:
            for record in ijson.items(_ArrayStart(url, response.raw), "item", use_float=True):
                if not isinstance(record, dict) or "model" not in record:
                    raise SyncError(url, f"not a Django fixture entry: {str(record)[:200]}")
                yield record
        except ijson.JSONError as exc:
            raise SyncError(url, f"the reply is not a complete JSON array (cut off or corrupt): {exc}") from exc
        except requests.RequestException as exc:
            raise SyncError(url, f"the reply broke off: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # reading `raw` raises urllib3's own errors
            raise SyncError(url, f"the reply broke off: {exc}") from exc

    # --- files -----------------------------------------------------------------------------

    @staticmethod
    def _file_models(model: type[models.Model]) -> bool:
        return any(isinstance(f, models.FileField) for f in model._meta.concrete_fields)

    def _download_pulled_files(self, url: str, result: SyncResult) -> int:
        count = 0
        for model, pks in getattr(self, "_pulled_pks", {}).items():
            pk_list = list(pks)
            for field_ in model._meta.concrete_fields:
                if not isinstance(field_, models.FileField):
                    continue
                for start in range(0, len(pk_list), 500):
                    queryset = model._base_manager.using(self.using).filter(pk__in=pk_list[start : start + 500])
                    count += self.images(queryset, field_.name)
        return count

    def images(self, queryset: models.QuerySet, field: str) -> int:
        """Download the files of `field` for these rows from `media_url` when missing or changed; returns how many."""
        if not self.media_url:
            raise SyncError("", "no media_url given and SYNCTOOL_CLIENT_MEDIA_URL is not set")
        base = self.media_url if self.media_url.endswith("/") else self.media_url + "/"
        model_field = queryset.model._meta.get_field(field)
        storage = model_field.storage
        downloaded = 0
        names = queryset.exclude(**{field: ""}).exclude(**{f"{field}__isnull": True}).values_list(field, flat=True)
        for name in names.distinct().iterator():
            url = urljoin(base, quote(name))
            if self._download(url, name, storage):
                downloaded += 1
        return downloaded

    def _download(self, url: str, name: str, storage: Any) -> bool:
        try:
            head = self.session.head(url, timeout=self.timeout, allow_redirects=True, headers=_IDENTITY)
        except requests.RequestException as exc:
            raise SyncError(url, f"request failed: {exc}") from exc
        if head.status_code != 200:
            raise SyncError(url, f"HTTP {head.status_code}", status=head.status_code)
        size = int(head.headers["Content-Length"]) if head.headers.get("Content-Length", "").isdigit() else None
        validator = head.headers.get("ETag") or head.headers.get("Last-Modified") or ""
        if storage.exists(name):
            _, known_validator = services.file_validator(url)
            same_size = size is None or storage.size(name) == size
            same_version = not validator or not known_validator or validator == known_validator
            if same_size and same_version:
                if validator and not known_validator:
                    services.remember_file(url, size, validator)
                return False
        try:
            with self.session.get(url, stream=True, timeout=self.timeout, headers=_IDENTITY) as response:
                if response.status_code != 200:
                    raise SyncError(url, f"HTTP {response.status_code}", status=response.status_code)
                response.raw.decode_content = True
                if storage.exists(name):
                    storage.delete(name)
                saved = storage.save(name, File(response.raw, name=name))
        except requests.RequestException as exc:
            raise SyncError(url, f"download failed: {exc}") from exc
        if saved != name:
            raise SyncError(url, f"stored as {saved!r} instead of {name!r}")
        services.remember_file(url, size, validator)
        return True


def _nothing(model: type[models.Model]) -> bool:
    return False


class Terminated(SystemExit):
    """SIGTERM arrived during a pull: raised in the pulling thread so the run is marked failed, then exits."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While pulling, SIGTERM raises `Terminated` instead of killing the process on the spot.

    Only where SIGTERM still has its default action and only in the main thread (signal handlers live there):
    a host process that handles SIGTERM itself (a worker pool, a web server) keeps its own handling.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _describe(error: BaseException) -> str:
    if isinstance(error, Terminated):
        return "terminated by SIGTERM during the pull; nothing was applied"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt) during the pull; nothing was applied"
    if isinstance(error, SyncError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _mark_failed(run: SyncRun, error: str, *, files: int) -> None:
    """Record the failure; the pull's own transaction is already rolled back, so this write stands alone.

    An interruption can leave the database connection unusable mid-statement: then it is replaced by a new one.
    """
    try:
        services.finish_run(run, outcome=SyncRun.FAILED, files=files, error=error)
        return
    except DatabaseError:
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.in_atomic_block:
            raise  # the caller's transaction owns the connection (and the run row with it)
        logger.warning("marking the failed run %s: reconnecting", run.pk, exc_info=True)
        connection.close()
    services.finish_run(run, outcome=SyncRun.FAILED, files=files, error=error)


class _ArrayStart:
    """File-like view of a reply that insists the JSON document is an array (a fixture), not an object."""

    def __init__(self, url: str, raw: Any) -> None:
        self.url = url
        self.raw = raw
        self.checked = False

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if not self.checked and size != 0:
            head = data.lstrip()
            if head.startswith(b"\xef\xbb\xbf"):
                head = head[3:].lstrip()
            if head:
                if not head.startswith(b"["):
                    raise SyncError(self.url, f"the reply is not a JSON array of fixture entries: {head[:80]!r}")
                self.checked = True
            elif not data:
                raise SyncError(self.url, "the reply is empty, not a JSON array")
        return data


def has_natural_key(model: type[models.Model]) -> bool:
    return hasattr(model, "natural_key") and hasattr(model._default_manager, "get_by_natural_key")


def natural_source_key(natural_key: Iterable[Any]) -> str:
    """The source key of a row sent without its pk: a digest of its natural key (fixed length)."""
    text = json.dumps(list(natural_key), cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False)
    return "nk:" + hashlib.sha256(text.encode()).hexdigest()


def _natural_key_of(obj: models.Model) -> tuple | None:
    """The natural key of a pulled instance, or None when it cannot be made yet (a foreign key still deferred)."""
    try:
        return tuple(obj.natural_key())
    except (ObjectDoesNotExist, AttributeError, TypeError, ValueError):
        return None


def _natural_fk_values(entries: list[dict], fields_: list) -> Iterator[tuple[dict, str, Any, Any, list]]:
    """(fields dict, field name, target model, target field, value) of each foreign key sent as a natural key."""
    for entry in entries:
        values = entry.get("fields")
        if not isinstance(values, dict):
            continue
        for name, target, to_field in fields_:
            value = values.get(name)
            if isinstance(value, list):
                yield values, name, target, to_field, value


def _refers_by_pk(field: models.Field) -> bool:
    """A foreign key or M2M field whose values are the target's pks (not another unique column)."""
    if field.many_to_many:
        return True
    target = field.remote_field.model
    return target._meta.get_field(field.remote_field.field_name).primary_key


class PullContext:
    """What a model's `replication_refusals(rows, context)` hook may ask about the pull in progress.

    The hook gets (pulled instance, local instance or None) pairs, foreign keys already turned into local ids, and
    returns the indexes of the pairs whose pulled copy must not be applied (the local row, if any, stays as it is).
    """

    def __init__(self, url: str, state: SyncState, run_id: int, using: str) -> None:
        self.url = url
        self.state = state
        self.run_id = run_id
        self.using = using
        self._refused: dict[type[models.Model], set] = defaultdict(set)

    def came_from_source(self, model: type[models.Model], pks: Iterable[Any]) -> set:
        """The local pks among these whose rows came from this URL before this pull (the others are this site's)."""
        pk_field = model._meta.pk
        wanted = {str(pk): pk for pk in pks if pk is not None}
        found = services.pulled_from(self.state, streaming.model_label(model), wanted, before_run=self.run_id)
        return {pk_field.to_python(key) for key in found}

    def refused(self, model: type[models.Model]) -> set:
        """Local pks of rows whose pulled copy this pull refused so far (their followers are refused with them)."""
        return self._refused[model._meta.concrete_model]

    def refuse(self, model: type[models.Model], pk: Any) -> None:
        self._refused[model._meta.concrete_model].add(pk)


@dataclass
class _Row:
    """One pulled entry on its way in: where it came from and where it goes."""

    obj: serializer_base.DeserializedObject
    source_key: str | None
    sent: frozenset[str]  # fields the reply sent: an update writes only these
    refs: list = field(default_factory=list)  # (attname, target model, source key) of references not mapped yet
    local: Any = None  # pk of the local row it replaces
    new_pk: Any = None  # pk to insert it with when it is new (None: a fresh one)


class Applier:
    """Applies fixture entries in batches: bulk writes where possible, `loaddata`-style saves otherwise.

    Rows are matched to local rows by natural key where the model has one, otherwise through the map of rows
    earlier pulled from this URL (source pk -> local pk); a new row keeps the source's pk when it is free here.
    Without a `state` (no map) rows with a pk are matched by it, as `loaddata` does.
    """

    def __init__(
        self,
        url: str,
        *,
        using: str,
        clean: bool,
        want_pks: Callable[[type[models.Model]], bool] = lambda model: False,
        batch_size: int | None = None,
        state: SyncState | None = None,
        run_id: int = 0,
    ) -> None:
        self.url = url
        self.using = using
        self.clean = clean
        self.want_pks = want_pks
        self.batch_size = batch_size or conf.batch_size()
        self.connection = connections[using]
        self.state = state
        self.adopt = bool(state and state.adopt_by_pk)
        self.context = PullContext(url, state, run_id, using) if state is not None else None
        self.pending: list[dict] = []
        self.pending_label: str | None = None
        self.tombstones: list[dict] = []
        self.deferred: list[serializer_base.DeserializedObject] = []
        self.models: list[type[models.Model]] = []
        self.seen: dict[type[models.Model], set] = defaultdict(set)
        self.pulled_pks: dict[type[models.Model], set] = defaultdict(set)
        self.rows = 0
        self.deleted = 0
        self._statements: dict[tuple, tuple[list[models.Field], str]] = {}
        self._natural_fks: dict[str, list] = {}
        self._natural_cache: dict[tuple, Any] = {}
        self._mapped_cache: dict[tuple[type[models.Model], str], str | None] = {}
        self.unresolved: dict[type[models.Model], list[tuple]] = defaultdict(list)

    @property
    def pending_rows(self) -> int:
        return len(self.pending)

    def cover(self, labels: Iterable[str]) -> None:
        """Models the reply covers even if it has no row of them (what `clean` may delete from)."""
        for label in labels:
            try:
                self._touch(apps.get_model(label))
            except (LookupError, ValueError) as exc:
                raise SyncError(self.url, f"unknown model {label!r} in the reply") from exc

    def _touch(self, model: type[models.Model]) -> None:
        if model not in self.models:
            self.models.append(model)

    def add(self, record: dict) -> None:
        label = record["model"]
        if label == streaming.TOMBSTONE_MODEL:
            self.flush()
            self.tombstones.append(record)
            if len(self.tombstones) >= self.batch_size:
                self._apply_tombstones()
            return
        if label != self.pending_label:
            self.flush()
            self.pending_label = label
        self.pending.append(record)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def finish(self) -> None:
        self.flush()
        self._apply_tombstones()
        for obj in self.deferred:
            obj.save_deferred_fields(using=self.using)
        self.deferred.clear()
        self._fix_references()
        if self.clean:
            self._clean()

    # --- the map of pulled rows ------------------------------------------------------------

    def _mapped(self, model: type[models.Model], keys: Iterable[str]) -> dict[str, Any]:
        """source key -> local pk (typed) of rows of `model` pulled from this URL before (or earlier in this pull)."""
        if self.state is None:
            return {}
        model = model._meta.concrete_model
        missing = [key for key in dict.fromkeys(keys) if (model, key) not in self._mapped_cache]
        if missing:
            if len(self._mapped_cache) > 200_000:
                self._mapped_cache.clear()
            found = services.mapped_rows(self.state, streaming.model_label(model), missing)
            for key in missing:
                self._mapped_cache[(model, key)] = found.get(key)
        pk_field = model._meta.pk
        result = {}
        for key in keys:
            local = self._mapped_cache.get((model, key))
            if local is not None:
                result[key] = pk_field.to_python(local)
        return result

    def _remember(self, model: type[models.Model], pairs: list[tuple[str, Any]]) -> None:
        model = model._meta.concrete_model
        changed = [(key, str(pk)) for key, pk in pairs if self._mapped_cache.get((model, key)) != str(pk)]
        if not changed or self.state is None:
            return
        services.remember_rows(self.state, streaming.model_label(model), changed, self.context.run_id)
        for key, pk in changed:
            self._mapped_cache[(model, key)] = pk

    def _forget(self, model: type[models.Model], local_pks: Iterable[Any]) -> None:
        model = model._meta.concrete_model
        pks = {str(pk) for pk in local_pks}
        if not pks or self.state is None:
            return
        services.forget_rows(self.state, streaming.model_label(model), pks)
        for cache_key, local in list(self._mapped_cache.items()):
            if cache_key[0] is model and local in pks:
                self._mapped_cache[cache_key] = None

    def _fix_references(self) -> None:
        """References to rows that came later in the reply (or in the same batch) point at their local ids now.

        A row whose source id was free here kept it, so most such references are right already; only those to
        rows that got a fresh id are rewritten.
        """
        for model, items in self.unresolved.items():
            manager = model._base_manager.using(self.using)
            by_target: dict[type[models.Model], set[str]] = defaultdict(set)
            for _, _, target, key in items:
                by_target[target].add(key)
            mapped = {target: self._mapped(target, keys) for target, keys in by_target.items()}
            for pk, attname, target, key in items:
                local = mapped[target].get(key)
                if local is not None and str(local) != key:
                    manager.filter(pk=pk).update(**{attname: local})
        self.unresolved.clear()

    # --- rows ------------------------------------------------------------------------------

    def flush(self) -> None:
        if not self.pending:
            return
        entries, self.pending = self.pending, []
        unplaced = self._map_pk_references(entries)  # first: natural keys are still lists, every number a source id
        if unplaced:
            entries = [entry for index, entry in enumerate(entries) if index not in unplaced]
            if not entries:
                return
        source_pks = [entry.pop("source_pk", entry.get("pk")) for entry in entries]
        refs = [entry.pop("unmapped_refs", ()) for entry in entries]
        sent = [frozenset(entry.get("fields") or ()) for entry in entries]
        self._resolve_natural_fks(entries)
        try:
            objects = list(python_serializer.Deserializer(entries, using=self.using, handle_forward_references=True))
        except serializer_base.DeserializationError as exc:
            raise SyncError(self.url, f"cannot read an entry: {exc}") from exc
        model = type(objects[0].object)
        self._touch(model)
        rows = self._match(model, objects, source_pks, sent, refs)
        rows = self._refuse(model, rows)
        self._write(model, rows)
        for row in rows:
            self.unresolved[model].extend((row.obj.object.pk, *ref) for ref in row.refs)
        pks = [row.obj.object.pk for row in rows]
        self._remember(model, [(row.source_key, row.obj.object.pk) for row in rows if row.source_key is not None])
        if self.clean:
            self.seen[model].update(pks)
        if self.want_pks(model):
            self.pulled_pks[model].update(pks)
        self.rows += len(rows)

    def _match(
        self,
        model: type[models.Model],
        objects: list[serializer_base.DeserializedObject],
        source_pks: list,
        sent: list[frozenset[str]],
        refs: list,
    ) -> list[_Row]:
        """Find the local row each entry stands for: by natural key, else by the map, else none (a new row)."""
        natural = has_natural_key(model)
        keys = [_natural_key_of(obj.object) if natural else None for obj in objects]
        rows = []
        for obj, source_pk, natural_key, fields_, refs_ in zip(objects, source_pks, keys, sent, refs, strict=True):
            if source_pk is not None:
                key = str(source_pk)
            else:
                key = natural_source_key(natural_key) if natural_key is not None else None
            rows.append(_Row(obj, key, fields_, refs_))
        by_natural: dict[int, Any] = {}
        if natural:
            # Entries sent without a pk were looked up by Django's deserializer already; the others are here.
            wanted = {i: keys[i] for i in range(len(rows)) if source_pks[i] is not None and keys[i] is not None}
            found = self._pks_by_natural_key(model, list(dict.fromkeys(wanted.values())))
            by_natural = {i: found[key] for i, key in wanted.items() if key in found}
            for i, row in enumerate(rows):
                if source_pks[i] is None and row.obj.object.pk is not None:
                    by_natural[i] = row.obj.object.pk
        mapped = self._mapped(model, [row.source_key for row in rows if row.source_key is not None])
        for i, row in enumerate(rows):
            row.local = by_natural.get(i, mapped.get(row.source_key) if row.source_key is not None else None)
            if row.local is None and self.state is None and source_pks[i] is not None and not natural:
                row.local = row.obj.object.pk  # no map: matched by pk, as loaddata does
        manager = model._base_manager.using(self.using)
        matched = [r.local for r in rows if r.local is not None]
        candidates = [row.obj.object.pk for i, row in enumerate(rows) if source_pks[i] is not None]
        wanted = {pk for pk in [*matched, *candidates] if pk is not None}
        present = set(manager.filter(pk__in=wanted).values_list("pk", flat=True)) if wanted else set()
        for i, row in enumerate(rows):
            if row.local is not None and row.local not in present:
                row.local = None  # the row it was mapped to is gone here: it comes again
            if row.local is not None or source_pks[i] is None:
                continue
            pk = row.obj.object.pk
            if pk in present and ((self.adopt and not natural) or model._meta.pk.remote_field is not None):
                # pulled before rows were mapped: a row with the source's id is that row; and a row whose pk is a
                # reference (HostSeen of a host) is the one row of the row it refers to
                row.local = pk
            elif pk not in present:
                row.new_pk = pk
        # The last entry for a row wins, as with loaddata.
        unique: dict[Any, _Row] = {}
        for index, row in enumerate(rows):
            target = row.local if row.local is not None else row.new_pk
            unique[("row", target) if target is not None else ("new", index)] = row
        return list(unique.values())

    def _pks_by_natural_key(self, model: type[models.Model], keys: list[tuple]) -> dict[tuple, Any]:
        manager = model._default_manager.db_manager(self.using)
        if hasattr(manager, "pks_by_natural_key"):
            found = {}
            for start in range(0, len(keys), 500):
                found.update(manager.pks_by_natural_key(keys[start : start + 500]))
            return found
        found = {}
        for key in keys:
            try:
                found[key] = manager.get_by_natural_key(*key).pk
            except model.DoesNotExist:
                continue
        return found

    def _refuse(self, model: type[models.Model], rows: list[_Row]) -> list[_Row]:
        """Ask the model's `replication_refusals` hook which pulled copies must not replace local rows."""
        for row in rows:
            row.obj.object.pk = row.local if row.local is not None else row.new_pk
        hook = getattr(model, "replication_refusals", None)
        if hook is None or self.context is None:
            return rows
        local_rows = model._base_manager.using(self.using).in_bulk([r.local for r in rows if r.local is not None])
        refused = hook([(row.obj.object, local_rows.get(row.local)) for row in rows], self.context)
        if not refused:
            return rows
        kept = []
        for index, row in enumerate(rows):
            if index in refused:
                if row.local is not None:
                    self.context.refuse(model, row.local)
            else:
                kept.append(row)
        self._forget(model, [rows[i].local for i in refused if rows[i].local is not None])
        return kept

    def _write(self, model: type[models.Model], rows: list[_Row]) -> None:
        updates: dict[frozenset[str], list] = defaultdict(list)
        inserts: list[serializer_base.DeserializedObject] = []
        single = []
        for row in rows:
            obj = row.obj
            if obj.object.pk is None or obj.deferred_fields or model._meta.parents:
                single.append(obj)
            elif row.local is not None:
                updates[row.sent].append(obj)
            else:
                inserts.append(obj)
        for sent, group in updates.items():
            self._upsert(model, group, sent)
        if inserts:
            self._insert(model, inserts)
        if any(obj.object.pk is None for obj in single):
            # Rows inserted with the source's ids do not move a sequence (PostgreSQL): move it past them first.
            self.reset_sequences([model])
        for obj in single:
            obj.save(using=self.using)
            if obj.deferred_fields:
                self.deferred.append(obj)

    def _resolve_natural_fks(self, entries: list[dict]) -> None:
        """Turn natural foreign keys into local ids with one lookup per distinct key (not one per row)."""
        label = entries[0].get("model")
        if label not in self._natural_fks:
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError, TypeError):
                model = None  # the deserializer reports it
            self._natural_fks[label] = [
                (f.name, f.remote_field.model, f.remote_field.model._meta.get_field(f.remote_field.field_name))
                for f in (model._meta.fields if model else ())
                if f.remote_field is not None
                and hasattr(f.remote_field.model, "natural_key")
                and hasattr(f.remote_field.model._default_manager, "get_by_natural_key")
            ]
        fields_ = self._natural_fks[label]
        if not fields_:
            return
        wanted: dict[tuple, set] = defaultdict(set)
        for _, _, target, to_field, value in _natural_fk_values(entries, fields_):
            if (target, json.dumps(value)) not in self._natural_cache:
                wanted[(target, to_field)].add(tuple(value))
        for (target, to_field), keys in wanted.items():
            if to_field.primary_key:
                try:
                    found = self._pks_by_natural_key(target, list(keys))
                except (TypeError, ValueError):
                    found = {}  # a key of the wrong shape: the deserializer reports it
                for key, pk in found.items():
                    self._natural_cache[(target, json.dumps(list(key)))] = pk
        for values, name, target, to_field, value in _natural_fk_values(entries, fields_):
            key = (target, json.dumps(value))
            if key not in self._natural_cache:
                try:
                    obj = target._default_manager.db_manager(self.using).get_by_natural_key(*value)
                except target.DoesNotExist:
                    continue  # not there yet: the deserializer defers it to the end
                self._natural_cache[key] = getattr(obj, to_field.attname)
            values[name] = self._natural_cache[key]

    def _map_pk_references(self, entries: list[dict]) -> set[int]:
        """Source ids in foreign keys, M2M lists and relation pks -> local ids, through the map of pulled rows.

        An id the map does not know stays as it is (a row pulled before rows were mapped, or a plain fixture),
        except a pk that is a reference to a row with a natural key (HostSeen -> Host): that row was not pulled
        or was refused, so the entry has no place here; the indexes of such entries are returned (skipped).
        An entry whose pk changed keeps the source's as "source_pk".
        """
        if self.state is None:
            return set()
        label = entries[0].get("model")
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError, TypeError):
            return set()  # the deserializer reports it
        references = [
            (f.name, f.remote_field.model._meta.concrete_model, f)
            for f in [*model._meta.fields, *model._meta.many_to_many]
            if f.remote_field is not None and not f.primary_key and _refers_by_pk(f)
        ]
        pk_target = model._meta.pk.remote_field.model._meta.concrete_model if model._meta.pk.remote_field else None
        wanted: dict[type[models.Model], set[str]] = defaultdict(set)
        for entry in entries:
            values = entry.get("fields") if isinstance(entry.get("fields"), dict) else {}
            for name, target, _ in references:
                value = values.get(name)
                for item in value if isinstance(value, list) else [value]:
                    if item is not None and not isinstance(item, list | dict):
                        wanted[target].add(str(item))
            if pk_target is not None and entry.get("pk") is not None:
                wanted[pk_target].add(str(entry["pk"]))
        local = {target: self._mapped(target, keys) for target, keys in wanted.items()}

        def mapped(target: type[models.Model], value: Any) -> Any:
            if value is None or isinstance(value, list | dict):
                return value
            return local[target].get(str(value), value)

        for entry in entries:
            values = entry.get("fields") if isinstance(entry.get("fields"), dict) else {}
            for name, target, model_field in references:
                value = values.get(name)
                if isinstance(value, list):
                    values[name] = [mapped(target, item) for item in value]
                elif name in values:
                    values[name] = mapped(target, value)
                    if value is not None and not isinstance(value, dict) and str(value) not in local[target]:
                        # not pulled yet (a row later in the reply, or in this batch): looked at again at the end
                        entry.setdefault("unmapped_refs", []).append((model_field.attname, target, str(value)))
        unplaced: set[int] = set()
        strict = pk_target is not None and has_natural_key(pk_target) and not self.adopt
        for index, entry in enumerate(entries):
            if pk_target is not None and entry.get("pk") is not None:
                source_pk = entry["pk"]
                entry["pk"] = mapped(pk_target, source_pk)
                entry["source_pk"] = source_pk
                if strict and str(source_pk) not in local[pk_target]:
                    unplaced.add(index)
        return unplaced

    def _upsert(
        self, model: type[models.Model], objects: list[serializer_base.DeserializedObject], sent: frozenset[str]
    ) -> None:
        """INSERT ... ON CONFLICT (pk) DO UPDATE, raw (auto_now fields keep the source's values).

        Existing rows get only the fields the reply sent: a field a route omits (a secret) keeps its local value.

        One prepared statement per model run with executemany: the ORM's bulk_create would compile SQL for
        every batch of a few dozen rows (SQLite's parameter limit), which costs more than the rows themselves.
        """
        by_pk = {obj.object.pk: obj for obj in objects}  # the last entry for a pk wins, as with loaddata
        self._write_rows(model, list(by_pk.values()), *self._statement(model, sent))

    def _insert(self, model: type[models.Model], objects: list[serializer_base.DeserializedObject]) -> None:
        """Plain INSERTs of new rows with the pks chosen for them (raw: `auto_now` fields keep the source's values).

        No ON CONFLICT: a row another writer made with that pk meanwhile fails the pull instead of being overwritten.
        """
        self._write_rows(model, objects, *self._statement(model, None))

    def _write_rows(
        self,
        model: type[models.Model],
        objects: list[serializer_base.DeserializedObject],
        fields: list[models.Field],
        sql: str,
    ) -> None:
        connection = self.connection
        instances = [obj.object for obj in objects]
        rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in instances]
        with connection.cursor() as cursor:
            for start in range(0, len(rows), self.batch_size):
                cursor.executemany(sql, rows[start : start + self.batch_size])
        for instance in instances:
            instance._state.adding = False
            instance._state.db = self.using
        self._set_m2m(model, objects)

    def _statement(self, model: type[models.Model], sent: frozenset[str] | None) -> tuple[list[models.Field], str]:
        """INSERT of every concrete field; with `sent`, ON CONFLICT (pk) updating those fields (or ignoring)."""
        cached = self._statements.get((model, sent))
        if cached:
            return cached
        opts = model._meta
        ops = self.connection.ops
        fields = [f for f in opts.concrete_fields if not f.generated]
        columns = ", ".join(ops.quote_name(f.column) for f in fields)
        placeholders = ", ".join("%s" for _ in fields)
        on_conflict, suffix = None, ""
        if sent is not None:
            update = [f.column for f in fields if not f.primary_key and f.name in sent]
            on_conflict = OnConflict.UPDATE if update else OnConflict.IGNORE
            suffix = " " + ops.on_conflict_suffix_sql(fields, on_conflict, update, [opts.pk.column])
        sql = f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(opts.db_table)} ({columns}) "
        sql += f"VALUES ({placeholders}){suffix}"
        self._statements[(model, sent)] = (fields, sql)
        return fields, sql

    def _set_m2m(self, model: type[models.Model], objects: list[serializer_base.DeserializedObject]) -> None:
        """Replace the M2M rows of these objects with the reply's: one delete and one insert per field."""
        for m2m in model._meta.many_to_many:
            sent = [(obj.object.pk, obj.m2m_data[m2m.name]) for obj in objects if m2m.name in obj.m2m_data]
            if not sent:
                continue
            through = m2m.remote_field.through
            source = through._meta.get_field(m2m.m2m_field_name()).attname
            target = through._meta.get_field(m2m.m2m_reverse_field_name()).attname
            through._base_manager.using(self.using).filter(**{f"{source}__in": [pk for pk, _ in sent]}).delete()
            rows = [through(**{source: pk, target: value}) for pk, values in sent for value in dict.fromkeys(values)]
            through._base_manager.using(self.using).bulk_create(rows, batch_size=self.batch_size)

    # --- deletions -------------------------------------------------------------------------

    def _apply_tombstones(self) -> None:
        if not self.tombstones:
            return
        self._natural_cache.clear()
        entries, self.tombstones = self.tombstones, []
        by_model: dict[type[models.Model], list] = defaultdict(list)
        for entry in entries:
            fields_ = entry.get("fields") or {}
            try:
                model = apps.get_model(fields_["model"])
            except (KeyError, LookupError, ValueError) as exc:
                raise SyncError(self.url, f"bad deletion entry {entry!r}") from exc
            natural_key = fields_.get("natural_key")
            manager = model._default_manager.db_manager(self.using)
            if natural_key is not None and has_natural_key(model):
                try:
                    pk = manager.get_by_natural_key(*natural_key).pk
                except model.DoesNotExist:
                    continue
            elif entry.get("pk") is not None:
                key = str(entry["pk"])
                pk = self._mapped(model, [key]).get(key)
                if pk is None and (self.state is None or self.adopt):
                    pk = model._meta.pk.to_python(entry["pk"])  # no map (yet): the source's id, as loaddata
            else:
                continue
            if pk is not None:
                by_model[model].append(pk)
        for model, pks in by_model.items():
            self._touch(model)
            if self.state is not None and not self.adopt:
                # Only rows that came from this URL go: a row this site made itself stays.
                label = streaming.model_label(model)
                ours = services.pulled_from(self.state, label, [str(pk) for pk in pks])
                pks = [pk for pk in pks if str(pk) in ours]
            for start in range(0, len(pks), 500):
                chunk = pks[start : start + 500]
                self.deleted += self._delete(model, chunk)
                self._forget(model, chunk)

    def _delete(self, model: type[models.Model], pks: list) -> int:
        """Delete rows and what cascades from them; returns how many rows of `model` went."""
        _, per_model = model._base_manager.using(self.using).filter(pk__in=pks).delete()
        return per_model.get(model._meta.label, 0)

    def _clean(self) -> None:
        """Delete rows of the covered models that came from this URL and are no longer in it.

        Rows this site made itself (or got from elsewhere) have no record of coming from this URL and stay.
        Without a state (no map), every row the reply lacks goes, as with the original package's `clean`.
        """
        for model in reversed(self.models):
            seen = self.seen.get(model, set())
            if self.state is None:
                candidates = model._base_manager.using(self.using).values_list("pk", flat=True).iterator(5000)
            else:
                pk_field = model._meta.pk
                label = streaming.model_label(model)
                candidates = (pk_field.to_python(pk) for pk in services.iter_pulled_pks(self.state, label))
            stale = [pk for pk in candidates if pk not in seen]
            for start in range(0, len(stale), 500):
                chunk = stale[start : start + 500]
                self.deleted += self._delete(model, chunk)
                self._forget(model, chunk)

    # --- end of the transaction ------------------------------------------------------------

    def table_names(self) -> list[str]:
        names = []
        for model in self.models:
            names.append(model._meta.db_table)
            names.extend(f.remote_field.through._meta.db_table for f in model._meta.many_to_many)
        return names

    def check_constraints(self) -> None:
        """Verify every deferred foreign key now, inside the transaction, as loaddata does."""
        try:
            self.connection.check_constraints(table_names=self.table_names())
        except (IntegrityError, DatabaseError) as exc:
            raise SyncError(self.url, f"the data breaks a constraint: {exc}") from exc

    def reset_sequences(self, model_list: list[type[models.Model]] | None = None) -> None:
        """Move primary key sequences past the highest ids (PostgreSQL); of every pulled model by default."""
        model_list = self.models if model_list is None else model_list
        statements = self.connection.ops.sequence_reset_sql(no_style(), model_list)
        if statements:
            with self.connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
