"""The Plugin base class of syncerapi.v1.core: HTTP with retries, the run log and rule-processed attributes."""

from __future__ import annotations

import ast
import json
import logging
import time
import uuid
import weakref
from datetime import datetime
from typing import Any

import requests
from django.utils import timezone

from hosts import conf
from hosts.accountfields import AccountField, declare_account_fields
from hosts.colors import cc
from hosts.rules import RuleEngine, load_engine
from syncsite.http import new_session
from syncsite.redact import is_secret_name, redact_url, scrub

logger = logging.getLogger("syncerapi")

REDACTED = "***REDACTED***"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MODELS = ("custom_attributes", "rewrite", "filter")


def redact(value: Any) -> Any:
    """A copy of a body/params structure with keys that name a credential masked."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_name(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [(v[0], REDACTED) if _is_secret_pair(v) else redact(v) for v in value]
    return value


def _is_secret_pair(value: Any) -> bool:
    """A (name, value) pair as requests accepts for params, whose name names a credential."""
    return isinstance(value, tuple) and len(value) == 2 and is_secret_name(value[0])


def redact_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k: REDACTED if is_secret_name(k) else v for k, v in (headers or {}).items()}


class RunLog:
    """What a plugin run will write to the run log, kept apart from the plugin object.

    A finaliser holds this (not the plugin), so the entry is written when the plugin is garbage
    collected or, at the latest, when the process exits, whichever comes first, and exactly once.
    """

    def __init__(self, name: str, source: str):
        self.name = name
        self.source = source
        self.secrets: list[str] = []  # values masked wherever they appear in the entry
        self.details: list[tuple[str, Any]] = [("started", timezone.now().isoformat(timespec="seconds"))]
        self.started = time.monotonic()
        self.dirty_hosts: dict[int, Any] = {}
        self.saved = False

    def write(self) -> Any:
        from hosts.services import write_log

        if self.saved:
            return None
        self.saved = True
        try:
            flush_dirty(self.dirty_hosts)
        except Exception as exc:  # the log must still be written, with the reason
            logger.exception("could not write attribute caches")
            self.details.append(("cache_error", str(exc)))
        duration = time.monotonic() - self.started
        self.details.append(("duration", round(duration, 3)))
        self.details.append(("ended", timezone.now().isoformat(timespec="seconds")))
        return write_log(self.name, self.source, self.details, duration=duration, secrets=self.secrets)


# Plugins whose run log is still to be written (for tests and diagnostics; the finalisers do the work).
live_plugins: weakref.WeakSet[Plugin] = weakref.WeakSet()


def _write_at_end(run: RunLog) -> None:
    try:
        run.write()
    except Exception:  # garbage collection or interpreter exit: report, never raise
        logger.exception("could not write the run log of %s", run.name)


def flush_dirty(dirty_hosts: dict[int, Any]) -> int:
    hosts = list(dirty_hosts.values())
    dirty_hosts.clear()
    if hosts:
        write_caches(hosts)
    return len(hosts)


class Plugin:
    """Base class for import/export plugins: account config, HTTP, logging and attribute processing."""

    name: str = "Undefined"
    source: str = ""
    config: dict[str, Any] = {}
    debug: bool = False
    dry_run: bool = False
    save_requests: str = ""
    verify: bool = True
    # Declarative account fields: a subclass that sets both declares them for accounts of that type.
    account_type: str = ""
    account_fields: tuple[AccountField | str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "account_fields" in cls.__dict__ and cls.account_fields:
            if not cls.account_type:
                raise TypeError(f"{cls.__name__} declares account_fields but no account_type")
            declare_account_fields(cls.account_type, *cls.account_fields)

    def __init__(self, account: str | dict[str, Any] | bool | None = False):
        from hosts.services import account_secret_values, get_account

        if not self.source:
            self.source = type(self).__name__
        self._run = RunLog(self.name, self.source)
        self.start_time = time.monotonic()
        self.config = {}
        self._flush_batch = conf.cache_flush_batch()
        self._session: requests.Session | None = None
        self._engine: RuleEngine | None = None
        self.debug_lines: list[dict] = []
        if account:
            config = account if isinstance(account, dict) else get_account(str(account))
            if not config:
                raise ValueError(f"account {account!r} does not exist or is disabled")
            self.config = config
            password = config.get("password")
            self._run.secrets = [*account_secret_values(config.get("id")), *([password] if password else [])]
            self.log_details.append(("account", config.get("name")))
            if config.get("verify_ssl") is not None:
                self.verify = bool(config["verify_ssl"])
        # only a plugin that was fully set up leaves a run log behind
        self._finalizer = weakref.finalize(self, _write_at_end, self._run)
        live_plugins.add(self)

    @property
    def log_details(self) -> list[tuple[str, Any]]:
        """(name, value) pairs written to the run log; a name containing "error"/"exception" flags it."""
        return self._run.details

    @log_details.setter
    def log_details(self, value: list[tuple[str, Any]]) -> None:
        self._run.details = list(value)

    # --- HTTP --------------------------------------------------------------------------------------------

    @property
    def timeout(self) -> float:
        configured = self.config.get("request_timeout") if self.config else None
        try:
            return float(configured) if configured else conf.http_timeout()
        except (TypeError, ValueError):
            logger.warning("ignoring invalid request_timeout %r of account %r", configured, self.config.get("name"))
            return conf.http_timeout()

    @property
    def session(self) -> requests.Session:
        """One connection pool per plugin; retries with backoff on connect errors and idempotent methods."""
        if self._session is None:
            self._session = new_session(
                timeout=self.timeout, retries=conf.http_max_retries(), backoff_factor=conf.http_backoff_factor()
            )
        return self._session

    def inner_request(
        self,
        method: str,
        url: str,
        data: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        params: Any = None,
        cert: Any = None,
        read_only: bool = False,
    ) -> requests.Response:
        """One HTTP request with retries, the account's timeout and TLS setting, dry-run and a request dump.

        In dry-run mode only reads (GET/HEAD/OPTIONS, or read_only=True) are sent; writes return a
        synthetic 200 response with an empty JSON object body.
        """
        method = method.upper()
        payload: dict[str, Any] = {"verify": self.verify, "timeout": self.timeout}
        account_headers = self.account_headers()
        if account_headers or headers:
            headers = {**account_headers, **(headers or {})}
        proxy = str(self.config.get("proxy") or "").strip() if self.config else ""
        if proxy:
            payload["proxies"] = {"http": proxy, "https": proxy}
        for key, value in (
            ("headers", headers),
            ("auth", auth),
            ("params", params),
            ("data", data),
            ("json", json),
            ("cert", cert),
        ):
            if value is not None:
                payload[key] = value
        shown = scrub(self._redacted(payload), self._run.secrets)
        shown_url = scrub(redact_url(url), self._run.secrets)
        logger.debug("HTTP %s %s %s", method, shown_url, shown)
        if self.debug:
            print(f"{cc.OKBLUE}HTTP {method} {shown_url}{cc.ENDC} {shown}")
        if self.save_requests:
            with open(self.save_requests, "a", encoding="utf-8") as dump:
                record = {"time": datetime.now().isoformat(), "method": method, "url": shown_url, **shown}
                dump.write(_json_line(record))
        if self.dry_run and method not in READ_METHODS and not read_only:
            logger.info("dry run: %s %s not sent", method, shown_url)
            return _dry_run_response(method, url)
        response = self.session.request(method, url, **payload)
        logger.debug("HTTP %s %s -> %s", method, shown_url, response.status_code)
        if self.debug:
            print(f"{cc.OKBLUE}-> {response.status_code}{cc.ENDC}")
        return response

    def account_headers(self) -> dict[str, str]:
        """The account's `request_headers` field: a JSON object or Python dict literal of extra headers."""
        raw = self.config.get("request_headers") if self.config else None
        if not raw:
            return {}
        if isinstance(raw, dict):
            parsed: Any = raw
        else:
            try:
                parsed = json.loads(str(raw))
            except ValueError:
                try:
                    parsed = ast.literal_eval(str(raw))
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    parsed = None
        if not isinstance(parsed, dict):
            raise ValueError(
                f"account {self.config.get('name')!r}: request_headers must be a JSON object "
                'such as {"X-Api-Version": "2"}'
            )
        return {str(key): str(value) for key, value in parsed.items()}

    @staticmethod
    def _redacted(payload: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in payload.items() if k not in ("verify",)}
        if "proxies" in shown:
            shown["proxies"] = {scheme: redact_url(url) for scheme, url in shown["proxies"].items()}
        if "headers" in shown:
            shown["headers"] = redact_headers(shown["headers"])
        if "auth" in shown:
            shown["auth"] = REDACTED
        if "cert" in shown:
            shown["cert"] = REDACTED
        for key in ("json", "params"):
            if key in shown:
                shown[key] = redact(shown[key])
        if "data" in shown:
            shown["data"] = redact(shown["data"]) if isinstance(shown["data"], dict | list) else REDACTED
        return shown

    # --- attributes --------------------------------------------------------------------------------------

    def init_custom_attributes(self) -> RuleEngine:
        """Load and compile every enabled rule once for this run (one query per rule model)."""
        if self._engine is None:
            self._engine = load_engine()
            for error in self._engine.errors:
                self.log_details.append(("rule_error", error))
        return self._engine

    def reload_rules(self) -> RuleEngine:
        """Forget the compiled rules, e.g. in a long-running process after rules changed."""
        self._engine = None
        return self.init_custom_attributes()

    def get_attributes(self, db_host: Any, cache: str | bool = False, persist_cache: bool = True):
        """{'all': ..., 'filtered': ...} after custom attribute, rewrite and filter rules, or False if ignored.

        With a cache key, the result is kept on the host until its labels, inventory or any rule
        change; new cache entries are written in batches (see flush_cache) when persist_cache is set.
        """
        engine = self.init_custom_attributes()
        key = (self.source or "default") if cache is True else cache
        if key:
            stored = db_host.cache
            if stored and stored.get("rules_version") == engine.version:
                entry = stored.get(key)
                if entry is not None:
                    if entry.get("ignore"):
                        return False
                    attributes = entry["all"]
                    return {"all": dict(attributes), "filtered": {k: attributes[k] for k in entry["filtered"]}}
        result = engine.compute(db_host.hostname, db_host.labels or {}, db_host.inventory or {})
        if key:
            if not db_host.cache or db_host.cache.get("rules_version") != engine.version:
                db_host.cache = {"rules_version": engine.version}
            # filtered is a subset of all: store its keys only (smaller rows, faster cache writes)
            db_host.cache[key] = (
                {"ignore": True} if result["ignore"] else {"all": result["all"], "filtered": list(result["filtered"])}
            )
            if persist_cache and db_host.pk:
                self._run.dirty_hosts[db_host.pk] = db_host
                if len(self._run.dirty_hosts) >= self._flush_batch:
                    self.flush_cache()
        if result["ignore"]:
            return False
        return {"all": dict(result["all"]), "filtered": dict(result["filtered"])}

    def flush_cache(self) -> int:
        """Write the attribute caches computed since the last flush in one bulk update; returns how many."""
        return flush_dirty(self._run.dirty_hosts)

    def debug_rules(self, hostname: str, model: str | None = None) -> list[dict]:
        """Print which rules hit a host and why the others did not; returns the rows (model: one phase)."""
        from hosts.models import Host

        if model and model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}")
        host = Host.get_host(hostname, create=False)
        if not host:
            print(f"{cc.FAIL}Host {hostname!r} not found{cc.ENDC}")
            return []
        explained = explain_host(host, self.reload_rules())
        rows, result = explained["rows"], explained["result"]
        if model:
            rows = [row for row in rows if row["phase"] == model]
        self.debug_lines = rows
        print(f"{cc.HEADER}Rules for {host.hostname}{cc.ENDC}")
        print(f"{'phase':<18} {'hit':<5} {'rule':<40} reason")
        for row in rows:
            color = cc.OKGREEN if row["hit"] else cc.WARNING
            reason = row["reason"] or ("last match: stop" if row["hit"] and row["last_match"] else "")
            print(f"{row['phase']:<18} {color}{row['hit']!s:<5}{cc.ENDC} {row['rule'][:40]:<40} {reason}")
        if result["ignore"]:
            print(f"{cc.FAIL}THIS HOST IS IGNORED BY RULE{cc.ENDC}")
        else:
            for key, value in sorted(result["all"].items()):
                mark = "*" if key in result["filtered"] else " "
                print(f" {mark} {key}: {value}")
        return rows

    # --- run log -----------------------------------------------------------------------------------------

    @staticmethod
    def get_unique_id() -> str:
        return str(uuid.uuid4())

    def save_log(self) -> Any:
        """Write the run's log entry now (once); flushes pending caches first. Returns the entry.

        Without this call the entry is written when the plugin is garbage collected or the process exits.
        """
        self._run.name, self._run.source = self.name, self.source
        self._finalizer.detach()
        return self._run.write()

    def close(self) -> None:
        """End the run now: write the log and release the HTTP connections."""
        try:
            self.save_log()
        finally:
            if self._session is not None:
                self._session.close()
                self._session = None

    def discard(self) -> None:
        """Drop the run without a log entry (read-only uses such as a web page)."""
        self._finalizer.detach()
        self._run.saved = True
        self._run.dirty_hosts.clear()
        if self._session is not None:
            self._session.close()
            self._session = None


def explain_host(host: Any, engine: RuleEngine | None = None) -> dict[str, Any]:
    """What the rules make of one host, rule by rule: {"rows", "result"} (debug-rules and the host page).

    `rows` has one entry per rule evaluated (phase, rule, id, hit, reason, last_match, and for a hit the
    `changes` it made: key, old, new); `result` is what an export gets ({'all', 'filtered', 'ignore'}).
    """
    engine = engine or load_engine()
    rows: list[dict] = []
    result = engine.compute(host.hostname, host.labels or {}, host.inventory or {}, debug=rows)
    return {"rows": rows, "result": result, "errors": list(engine.errors)}


def write_caches(hosts: list[Any], batch_size: int = 1000) -> int:
    """Write the cache column of many hosts in a few statements; returns how many rows took it.

    A row is only written while its labels and inventory are still the ones the cache was computed
    from: if an import changed the host in between, its (cleared) cache is left alone.

    Django's bulk_update builds a CASE expression per batch (quadratic, slow for thousands of JSON
    values). PostgreSQL gets one UPDATE ... FROM jsonb_array_elements(batch) per batch; SQLite, which
    runs in-process, a prepared single-row UPDATE through executemany.
    """
    from django.db import connection, transaction

    from hosts.models import Host

    quote = connection.ops.quote_name
    table, pk = quote(Host._meta.db_table), quote("id")
    cache, labels, inventory = (quote(Host._meta.get_field(name).column) for name in ("cache", "labels", "inventory"))
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(hosts), batch_size):
            batch = hosts[start : start + batch_size]
            if connection.vendor == "postgresql":
                # one JSON document per batch: no per-element array quoting on the client
                document = [{"i": h.pk, "c": h.cache, "l": h.labels, "n": h.inventory} for h in batch]
                cursor.execute(
                    f"UPDATE {table} AS h SET {cache} = v.value -> 'c' "  # noqa: S608 - quoted identifiers only
                    f"FROM jsonb_array_elements(%s::jsonb) AS v WHERE h.{pk} = (v.value ->> 'i')::bigint "
                    f"AND h.{labels} = v.value -> 'l' AND h.{inventory} = v.value -> 'n'",
                    [json.dumps(document)],
                )
            else:
                cursor.executemany(
                    f"UPDATE {table} SET {cache} = %s WHERE {pk} = %s "  # noqa: S608 - quoted identifiers only
                    f"AND json({labels}) = json(%s) AND json({inventory}) = json(%s)",
                    [(json.dumps(h.cache), h.pk, json.dumps(h.labels), json.dumps(h.inventory)) for h in batch],
                )
            written += max(cursor.rowcount, 0)
    return written


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str) + "\n"


def _dry_run_response(method: str, url: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = b"{}"
    response.headers["Content-Type"] = "application/json"
    response.url = url
    response.reason = "OK (dry run)"
    response.request = requests.Request(method, url).prepare()
    return response
