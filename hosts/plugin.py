"""The Plugin base class of syncerapi.v1.core: HTTP with retries, the run log and rule-processed attributes."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import uuid
import weakref
from datetime import datetime
from typing import Any

import requests
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hosts import conf
from hosts.colors import cc
from hosts.rules import RuleEngine, load_engine

logger = logging.getLogger("syncerapi")

REDACTED = "***REDACTED***"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token", "api-token"}
)
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "client_secret",
        "private_key",
        "credential",
        "credentials",
    }
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = (502, 503, 504)
MODELS = ("custom_attributes", "rewrite", "filter")


def redact(value: Any) -> Any:
    """A copy of a body/params structure with secret-looking keys masked."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and k.lower() in SENSITIVE_KEYS else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k: REDACTED if k.lower() in SENSITIVE_HEADERS else v for k, v in (headers or {}).items()}


# Plugins whose log was not written yet; one atexit hook writes them when the process ends.
_pending: weakref.WeakSet[Plugin] = weakref.WeakSet()
_pending_lock = threading.Lock()


def _save_pending_logs() -> None:
    with _pending_lock:
        plugins = list(_pending)
    for plugin in plugins:
        try:
            plugin.save_log()
        except Exception:  # the process is ending; a log that cannot be written must not hide the real exit
            logger.exception("could not write the run log of %s at exit", plugin.name)


atexit.register(_save_pending_logs)


class Plugin:
    """Base class for import/export plugins: account config, HTTP, logging and attribute processing."""

    name: str = "Undefined"
    source: str = ""
    config: dict[str, Any] = {}
    log_details: list[tuple[str, Any]]
    debug: bool = False
    dry_run: bool = False
    save_requests: str = ""
    verify: bool = True

    def __init__(self, account: str | dict[str, Any] | bool | None = False):
        from hosts.services import get_account

        self.start_time = time.monotonic()
        self.log_details = [("started", timezone.now().isoformat(timespec="seconds"))]
        self.config = {}
        self._session: requests.Session | None = None
        self._engine: RuleEngine | None = None
        self._dirty_hosts: dict[int, Any] = {}
        self._log_saved = False
        self.debug_lines: list[dict] = []
        if account:
            config = account if isinstance(account, dict) else get_account(str(account))
            if not config:
                raise ValueError(f"account {account!r} does not exist or is disabled")
            self.config = config
            self.log_details.append(("account", config.get("name")))
            if config.get("verify_ssl") is not None:
                self.verify = bool(config["verify_ssl"])
        if not self.source:
            self.source = type(self).__qualname__.replace(".", "")
        with _pending_lock:
            _pending.add(self)

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
            retries = conf.http_max_retries()
            retry = Retry(
                total=retries,
                connect=retries,
                read=retries,
                status=retries,
                backoff_factor=conf.http_backoff_factor(),
                allowed_methods=IDEMPOTENT_METHODS,
                status_forcelist=RETRY_STATUSES,
                raise_on_status=False,
                respect_retry_after_header=True,
            )
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
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
        shown = self._redacted(payload)
        logger.debug("HTTP %s %s %s", method, url, shown)
        if self.debug:
            print(f"{cc.OKBLUE}HTTP {method} {url}{cc.ENDC} {shown}")
        if self.save_requests:
            with open(self.save_requests, "a", encoding="utf-8") as dump:
                dump.write(_json_line({"time": datetime.now().isoformat(), "method": method, "url": url, **shown}))
        if self.dry_run and method not in READ_METHODS and not read_only:
            logger.info("dry run: %s %s not sent", method, url)
            return _dry_run_response(method, url)
        response = self.session.request(method, url, **payload)
        logger.debug("HTTP %s %s -> %s", method, url, response.status_code)
        if self.debug:
            print(f"{cc.OKBLUE}-> {response.status_code}{cc.ENDC}")
        return response

    @staticmethod
    def _redacted(payload: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in payload.items() if k not in ("verify",)}
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
                    if entry["ignore"]:
                        return False
                    return {"all": dict(entry["all"]), "filtered": dict(entry["filtered"])}
        result = engine.compute(db_host.hostname, db_host.labels or {}, db_host.inventory or {})
        if key:
            if not db_host.cache or db_host.cache.get("rules_version") != engine.version:
                db_host.cache = {"rules_version": engine.version}
            db_host.cache[key] = result
            if persist_cache and db_host.pk:
                self._dirty_hosts[db_host.pk] = db_host
                if len(self._dirty_hosts) >= conf.cache_flush_batch():
                    self.flush_cache()
        if result["ignore"]:
            return False
        return {"all": dict(result["all"]), "filtered": dict(result["filtered"])}

    def flush_cache(self) -> int:
        """Write the attribute caches computed since the last flush in one bulk update; returns how many."""
        from hosts.models import Host

        hosts = list(self._dirty_hosts.values())
        self._dirty_hosts.clear()
        if hosts:
            Host.objects.bulk_update(hosts, ["cache"], batch_size=conf.cache_flush_batch())
        return len(hosts)

    def debug_rules(self, hostname: str, model: str | None = None) -> list[dict]:
        """Print which rules hit a host and why the others did not; returns the rows (model: one phase)."""
        from hosts.models import Host

        if model and model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}")
        host = Host.get_host(hostname, create=False)
        if not host:
            print(f"{cc.FAIL}Host {hostname!r} not found{cc.ENDC}")
            return []
        engine = self.reload_rules()
        rows: list[dict] = []
        result = engine.compute(host.hostname, host.labels or {}, host.inventory or {}, debug=rows)
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
        """Write the run's log entry once (also called at process exit); flushes pending caches first."""
        from hosts.services import write_log

        if self._log_saved:
            return None
        self._log_saved = True
        with _pending_lock:
            _pending.discard(self)
        try:
            self.flush_cache()
        except Exception as exc:  # the log must still be written, with the reason
            logger.exception("could not write attribute caches")
            self.log_details.append(("cache_error", str(exc)))
        duration = time.monotonic() - self.start_time
        self.log_details.append(("duration", round(duration, 3)))
        self.log_details.append(("ended", timezone.now().isoformat(timespec="seconds")))
        return write_log(self.name, self.source, self.log_details, duration=duration)

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
        self._log_saved = True
        self._dirty_hosts.clear()
        with _pending_lock:
            _pending.discard(self)
        if self._session is not None:
            self._session.close()
            self._session = None


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
