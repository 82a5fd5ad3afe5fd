"""Client: pull a Route (or any Django JSON fixture served over HTTP) into the local database.

The reply is parsed as it arrives (ijson) and applied in batches inside one transaction with
constraint checks deferred and verified at the end, as `loaddata` does: a failure anywhere, in
the network, the JSON or the data, leaves the local database as it was.

This module reads the HTTP reply; the rows are written by `synctools.applier` and the run is recorded with
`synctools.runs`. Every public name of those modules is exported here as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin

import ijson
import requests
import urllib3
from django.core.files import File
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from synctools import conf, services, streaming
from synctools.applier import Applier, PullContext, has_natural_key, natural_source_key
from synctools.errors import InvalidCursor, SyncError, SynctoolsError
from synctools.models import SyncRun, SyncState
from synctools.runs import Terminated, describe, mark_failed, sigterm_raises

__all__ = [
    "BASIC_AUTH_USER",
    "Applier",
    "Client",
    "InvalidCursor",
    "PullContext",
    "SyncError",
    "SyncResult",
    "SynctoolsError",
    "Terminated",
    "has_natural_key",
    "natural_source_key",
]

BASIC_AUTH_USER = "synctools"  # fixed basic-auth user name; the token goes as the password
_IDENTITY = {"Accept-Encoding": "identity"}  # media files: sizes must compare with the stored files'


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
    full_pull_needed: bool = False  # the cursor had expired at the source: this pull was a full one


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
            with sigterm_raises():
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
            mark_failed(run, describe(error), files=result.files)
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
        if response is None:
            # The source pruned its change log past our cursor: only a full pull (deleting what it lacks) is complete.
            result.full_pull_needed = True
            clean = True
            response = self._get(target)
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
            with transaction.atomic(using=self.using), services.apply_context(target, self.using):
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

    def _get(self, url: str, params: dict | None = None) -> requests.Response | None:
        """The reply, or None when the source says the cursor in `params` expired (a full pull is needed)."""
        try:
            response = self.session.get(url, params=params, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SyncError(url, f"request failed: {exc}") from exc
        if response.status_code == 410 and params and response.headers.get(streaming.FULL_PULL_HEADER) == "1":
            response.close()
            return None
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
