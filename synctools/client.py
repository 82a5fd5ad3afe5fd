"""Client: pull a Route (or any Django JSON fixture served over HTTP) into the local database.

The reply is parsed as it arrives (ijson) and applied in batches inside one transaction with
constraint checks deferred and verified at the end, as `loaddata` does: a failure anywhere, in
the network, the JSON or the data, leaves the local database as it was.
"""

from __future__ import annotations

import contextlib
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
from django.core.files import File
from django.core.management.color import no_style
from django.core.serializers import base as serializer_base
from django.core.serializers import python as python_serializer
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, models, transaction
from django.db.models.constants import OnConflict
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from synctools import conf, services, streaming
from synctools.models import SyncRun

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
        state: Any,
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


class Applier:
    """Applies fixture entries in batches: bulk upserts where possible, `loaddata`-style saves otherwise."""

    def __init__(
        self,
        url: str,
        *,
        using: str,
        clean: bool,
        want_pks: Callable[[type[models.Model]], bool] = lambda model: False,
        batch_size: int | None = None,
    ) -> None:
        self.url = url
        self.using = using
        self.clean = clean
        self.want_pks = want_pks
        self.batch_size = batch_size or conf.batch_size()
        self.connection = connections[using]
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
        if self.clean:
            self._clean()

    # --- rows ------------------------------------------------------------------------------

    def flush(self) -> None:
        if not self.pending:
            return
        entries, self.pending = self.pending, []
        self._resolve_natural_fks(entries)
        try:
            objects = list(python_serializer.Deserializer(entries, using=self.using, handle_forward_references=True))
        except serializer_base.DeserializationError as exc:
            raise SyncError(self.url, f"cannot read an entry: {exc}") from exc
        model = type(objects[0].object)
        self._touch(model)
        bulk: dict[frozenset[str], list] = defaultdict(list)
        single = []
        for entry, obj in zip(entries, objects, strict=True):
            if obj.object.pk is None or obj.deferred_fields or model._meta.parents:
                single.append(obj)
            else:
                bulk[frozenset(entry.get("fields") or ())].append(obj)
        for sent, group in bulk.items():
            self._upsert(model, group, sent)
        for obj in single:
            obj.save(using=self.using)
            if obj.deferred_fields:
                self.deferred.append(obj)
        pks = [obj.object.pk for obj in objects]
        if self.clean:
            self.seen[model].update(pks)
        if self.want_pks(model):
            self.pulled_pks[model].update(pks)
        self.rows += len(objects)

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
        for entry in entries:
            values = entry.get("fields")
            if not isinstance(values, dict):
                continue
            for name, target, to_field in fields_:
                value = values.get(name)
                if not isinstance(value, list):
                    continue
                key = (target, json.dumps(value))
                if key not in self._natural_cache:
                    try:
                        obj = target._default_manager.db_manager(self.using).get_by_natural_key(*value)
                    except target.DoesNotExist:
                        continue  # not there yet: the deserializer defers it to the end
                    self._natural_cache[key] = getattr(obj, to_field.attname)
                values[name] = self._natural_cache[key]

    def _upsert(
        self, model: type[models.Model], objects: list[serializer_base.DeserializedObject], sent: frozenset[str]
    ) -> None:
        """INSERT ... ON CONFLICT (pk) DO UPDATE, raw (auto_now fields keep the source's values).

        Existing rows get only the fields the reply sent: a field a route omits (a secret) keeps its local value.

        One prepared statement per model run with executemany: the ORM's bulk_create would compile SQL for
        every batch of a few dozen rows (SQLite's parameter limit), which costs more than the rows themselves.
        """
        by_pk = {obj.object.pk: obj for obj in objects}  # the last entry for a pk wins, as with loaddata
        instances = [obj.object for obj in by_pk.values()]
        fields, sql = self._upsert_statement(model, sent)
        connection = self.connection
        rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in instances]
        with connection.cursor() as cursor:
            for start in range(0, len(rows), self.batch_size):
                cursor.executemany(sql, rows[start : start + self.batch_size])
        for instance in instances:
            instance._state.adding = False
            instance._state.db = self.using
        self._set_m2m(model, list(by_pk.values()))

    def _upsert_statement(self, model: type[models.Model], sent: frozenset[str]) -> tuple[list[models.Field], str]:
        cached = self._statements.get((model, sent))
        if cached:
            return cached
        opts = model._meta
        ops = self.connection.ops
        fields = [f for f in opts.concrete_fields if not f.generated]
        update = [f.column for f in fields if not f.primary_key and f.name in sent]
        on_conflict = OnConflict.UPDATE if update else OnConflict.IGNORE
        columns = ", ".join(ops.quote_name(f.column) for f in fields)
        placeholders = ", ".join("%s" for _ in fields)
        suffix = ops.on_conflict_suffix_sql(fields, on_conflict, update, [opts.pk.column])
        sql = f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(opts.db_table)} ({columns}) "
        sql += f"VALUES ({placeholders}) {suffix}"
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
            if natural_key is not None and hasattr(manager, "get_by_natural_key"):
                try:
                    pk = manager.get_by_natural_key(*natural_key).pk
                except model.DoesNotExist:
                    continue
            else:
                pk = model._meta.pk.to_python(entry.get("pk"))
            by_model[model].append(pk)
        for model, pks in by_model.items():
            self._touch(model)
            for start in range(0, len(pks), 500):
                chunk = pks[start : start + 500]
                self.deleted += self._delete(model, chunk)

    def _delete(self, model: type[models.Model], pks: list) -> int:
        """Delete rows and what cascades from them; returns how many rows of `model` went."""
        _, per_model = model._base_manager.using(self.using).filter(pk__in=pks).delete()
        return per_model.get(model._meta.label, 0)

    def _clean(self) -> None:
        for model in reversed(self.models):
            seen = self.seen.get(model, set())
            stale = [
                pk
                for pk in model._base_manager.using(self.using).values_list("pk", flat=True).iterator(chunk_size=5000)
                if pk not in seen
            ]
            for start in range(0, len(stale), 500):
                self.deleted += self._delete(model, stale[start : start + 500])

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

    def reset_sequences(self) -> None:
        statements = self.connection.ops.sequence_reset_sql(no_style(), self.models)
        if statements:
            with self.connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
