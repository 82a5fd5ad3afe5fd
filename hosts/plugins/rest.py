"""Generic REST source: hosts from any JSON API, page by page, through `Plugin.inner_request`.

Account (type `rest`): `address` is the first URL; `username`/`password` feed basic or digest auth, or the
password is the bearer token (unless the secret field `token` is set). Custom fields: `method`, `body`,
`headers` (a JSON object, secret), `auth_type` (basic, bearer, digest, none), `pagination` (none, page,
offset, next), `page_param`, `size_param`, `page_size`, `first_page`, `offset_param`, `next_key`,
`max_pages`, `data_key` (dotted path to the list in each response), `hostname_field`, `label_fields`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin, urlsplit

from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from hosts.plugins.importers import ImportPlugin, InventorizeMixin, register_source
from hosts.plugins.sources import Row, SourceError, fetch_json, follow_data_key, rows_from_document
from syncerapi.v1 import AccountField, redact_url

PAGINATIONS = ("none", "page", "offset", "next")
AUTH_TYPES = ("basic", "bearer", "digest", "none")


def label_fields(value: Any) -> list[str] | None:
    """The comma-separated label field names of an option, or None for "every other field"."""
    names = [name.strip() for name in str(value or "").split(",") if name.strip()]
    return names or None


def keep_labels(rows: list[Row], fields: list[str] | None) -> list[Row]:
    """Rows with only the named labels (missing ones left out); all labels without a field list."""
    if fields is None:
        return rows
    return [(hostname, {key: labels[key] for key in fields if key in labels}) for hostname, labels in rows]


class RestImport(ImportPlugin):
    """Hosts from a JSON REST API: one request per page until the pages run out."""

    label = "REST"
    source = "rest_import"
    account_type = "rest"
    account_fields = (
        AccountField("method", help="HTTP method (default GET)"),
        AccountField("body", help="request body; JSON text is sent as JSON"),
        AccountField("headers", secret=True, help='extra request headers as a JSON object, e.g. {"X-Api-Key": "..."}'),
        AccountField("auth_type", help="basic, bearer, digest or none (default basic with a username, else none)"),
        AccountField("token", secret=True, help="bearer token (default: the account's password)"),
        AccountField("pagination", help="none, page, offset or next (default none)"),
        AccountField("page_param", help="query parameter of the page number (default page)"),
        AccountField("first_page", help="number of the first page (default 1)"),
        AccountField("size_param", help="query parameter of the page size (default per_page; offset: limit)"),
        AccountField("page_size", help="items per page (default 100)"),
        AccountField("offset_param", help="query parameter of the offset (default offset)"),
        AccountField("next_key", help="dotted path of the next page's URL in the body (default next)"),
        AccountField("max_pages", help="stop with an error after this many pages (default 10000)"),
        AccountField("data_key", help="dotted path to the list of hosts in each response, e.g. result.items"),
        AccountField("hostname_field", help="key with the hostname (default hostname)"),
        AccountField("label_fields", help="comma-separated keys taken as labels (default: all other keys)"),
    )

    def credentials(self) -> tuple[Any, dict[str, str]]:
        """(requests auth, headers) for the account's auth_type."""
        username = self.config.get("username") or ""
        password = self.config.get("password") or ""
        auth_type = str(self.option("auth_type", "basic" if username else "none")).lower()
        if auth_type not in AUTH_TYPES:
            raise SourceError(
                f"account {self.config.get('name')!r}: unknown auth_type {auth_type!r} ({', '.join(AUTH_TYPES)})"
            )
        if auth_type == "basic":
            return HTTPBasicAuth(username, password), {}
        if auth_type == "digest":
            return HTTPDigestAuth(username, password), {}
        if auth_type == "bearer":
            token = self.config.get("token") or password
            if not token:
                raise SourceError(f"account {self.config.get('name')!r}: auth_type bearer needs a token or password")
            return None, {"Authorization": f"Bearer {token}"}
        return None, {}

    def headers(self) -> dict[str, str]:
        raw = self.option("headers")
        if not raw:
            return {}
        try:
            headers = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise SourceError(f"account {self.config.get('name')!r}: headers is not a JSON object ({exc.msg})") from exc
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise SourceError(f"account {self.config.get('name')!r}: headers must be a JSON object of strings")
        return {str(key): value for key, value in headers.items()}

    def body(self) -> dict[str, Any]:
        raw = self.option("body")
        if raw in (None, ""):
            return {}
        try:
            return {"json": json.loads(raw)}
        except (TypeError, json.JSONDecodeError):
            return {"data": str(raw).encode()}

    def number(self, key: str, default: int, minimum: int = 0) -> int:
        value = self.option(key, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = minimum - 1
        if number < minimum:
            raise SourceError(
                f"account {self.config.get('name')!r}: {key} must be a whole number >= {minimum}, got {value!r}"
            )
        return number

    def read(self) -> list[Row]:
        pagination = str(self.option("pagination", "none")).lower()
        if pagination not in PAGINATIONS:
            raise SourceError(
                f"account {self.config.get('name')!r}: unknown pagination {pagination!r} ({', '.join(PAGINATIONS)})"
            )
        auth, headers = self.credentials()
        headers = {**self.headers(), **headers}
        method = str(self.option("method", "GET")).upper()
        body = self.body()
        hostname_key = str(self.option("hostname_field", "hostname"))
        data_key = self.option("data_key")
        fields = label_fields(self.option("label_fields"))
        max_pages = self.number("max_pages", 10000, minimum=1)
        page_size = self.number("page_size", 100, minimum=1)
        url = self.address()
        origin = urlsplit(url)[:2]
        params: dict[str, Any] = {}
        if pagination == "page":
            page = self.number("first_page", 1)
            params = {
                str(self.option("page_param", "page")): page,
                str(self.option("size_param", "per_page")): page_size,
            }
        elif pagination == "offset":
            offset_param = str(self.option("offset_param", "offset"))
            params = {offset_param: 0, str(self.option("size_param", "limit")): page_size}
        rows: list[Row] = []
        seen_urls: set[str] = set()
        for _page in range(max_pages):
            document, response = fetch_json(
                self.inner_request,
                method,
                url,
                auth=auth,
                headers=headers,
                params=params or None,
                read_only=True,
                **body,
            )
            where = redact_url(response.url or url)
            items = follow_data_key(document, data_key, where)
            page_rows = rows_from_document(items, where, hostname_key=hostname_key)
            rows.extend(keep_labels(page_rows, fields))
            if pagination == "none":
                return rows
            if pagination in ("page", "offset"):
                if len(page_rows) < page_size:
                    return rows
                if pagination == "page":
                    params[str(self.option("page_param", "page"))] += 1
                else:
                    params[offset_param] += len(page_rows)
                continue
            next_url = self.next_url(document, response, where)
            if not next_url:
                return rows
            seen_urls.add(url)
            url = urljoin(url, next_url)
            if urlsplit(url)[:2] != origin:
                raise SourceError(f"{where}: the next page {redact_url(url)} is on another server; refused")
            if url in seen_urls:
                raise SourceError(f"{where}: the next page {redact_url(url)} was already read (a pagination loop)")
        raise SourceError(f"{redact_url(url)}: more than max_pages={max_pages} pages; raise max_pages if that is right")

    def next_url(self, document: Any, response: Any, where: str) -> str | None:
        """The next page's URL: `next_key` in the body, else the `Link: <...>; rel="next"` header."""
        next_key = str(self.option("next_key", "next"))
        found: Any = None
        if isinstance(document, dict):
            try:
                found = follow_data_key(document, next_key, where)
            except SourceError:
                found = None
        if not found:
            found = response.links.get("next", {}).get("url")
        if found and not isinstance(found, str):
            raise SourceError(f"{where}: next page {next_key!r} must be a URL, got {type(found).__name__}")
        return found or None


class RestInventorize(InventorizeMixin, RestImport):
    source = "rest_inventorize"


REST_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--hostname-field",), {"help": "key with the hostname (default 'hostname')"}),
    (("--data-key",), {"help": "dotted path to the hosts inside each response, e.g. result.items"}),
    (("--label-fields",), {"help": "comma-separated keys taken as labels (default: all other keys)"}),
    (("--auth-type",), {"choices": list(AUTH_TYPES), "help": "how to authenticate"}),
    (("--pagination",), {"choices": list(PAGINATIONS), "help": "how the API pages its results"}),
]

register_source("import-rest", RestImport, REST_ARGUMENTS)
register_source("inventorize-rest", RestInventorize, REST_ARGUMENTS)
