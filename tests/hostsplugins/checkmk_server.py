"""A Checkmk REST API 1.0 test server: it stands in for a real Checkmk site, which cannot run here.

A Checkmk site is a whole monitoring appliance (OMD, Apache, Livestatus, the core); it is not installable
in the test environment. This is a real HTTP server (stdlib `http.server`, threaded, on loopback) that
behaves as Checkmk documents its REST API 1.0 for what the exporter uses:

* `Authorization: Bearer <user> <secret>`; anything else is 401.
* Every object has an ETag that changes on every edit; single-object edits need `If-Match`
  (428 without it, 412 when it is stale). Activation takes `If-Match: *`.
* `bulk-create` / `bulk-update` / `bulk-delete` of hosts, bulk-create of host groups; a bulk request
  with a bad entry is refused as a whole (400), as Checkmk does.
* folder paths with `~` (`~a~b`), folders created below an existing parent only; a host in a missing
  folder is refused.
* writes leave pending changes; `activate-changes` (422 when nothing is pending) starts an activation
  run whose status (`is_running`) is polled at `/objects/activation_run/{id}`.
* errors are `{"title", "status", "detail", "fields"}`.

Every request body is validated against Checkmk 2.4's published schema: the models of the
`checkmk-rest-python` package (generated from Checkmk's OpenAPI description) check required fields and
types, and, since those models accept unknown keys, the server refuses any key a model does not define
(custom tag groups `tag_*` in attributes and label keys excepted: the schema allows them). A body that
fails is answered 400 and recorded in `schema_errors`, which the tests require to stay empty.

Run standalone (the benchmark does, so the server is not in the measured process):
    python tests/hostsplugins/checkmk_server.py PORT USER SECRET
"""

from __future__ import annotations

import json
import re
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
from checkmk_rest_python import models as cmk_models
from checkmk_rest_python.types import Unset

API = "/check_mk/api/1.0"
IP_PATTERN = re.compile(r"^[0-9a-fA-F.:]+$|^[A-Za-z0-9][-A-Za-z0-9.]*$")
EXTRA_OK = {"Labels": None}  # model class names ending like this take arbitrary keys
ATTRIBUTE_MODELS = ("HostCreateAttribute", "HostUpdateAttribute", "FolderCreateAttribute", "FolderUpdateAttribute")
SIMPLE_TYPES = {"str": str, "bool": bool, "int": int, "list[str]": list}


def _check_model(value: Any, where: str, errors: dict[str, list[str]]) -> None:
    """Unknown keys and simple field types of a parsed model, recursively."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_model(item, f"{where}[{index}]", errors)
        return
    if not attrs.has(type(value)):
        return
    name = type(value).__name__
    extras = getattr(value, "additional_properties", {}) or {}
    for key, extra in extras.items():
        if name.endswith("Labels"):
            if not isinstance(extra, str) or ":" in key or ":" in extra:
                errors.setdefault(f"{where}.{key}", []).append("labels are strings without ':'")
        elif name in ATTRIBUTE_MODELS and key.startswith("tag_"):
            if not isinstance(extra, str | type(None)):
                errors.setdefault(f"{where}.{key}", []).append("Not a valid string.")
        else:
            errors.setdefault(f"{where}.{key}", []).append("Unknown field.")
    for attribute in attrs.fields(type(value)):
        if attribute.name == "additional_properties":
            continue
        current = getattr(value, attribute.name)
        if isinstance(current, Unset):
            continue
        declared = str(attribute.type).replace(" | Unset", "").strip()
        expected = SIMPLE_TYPES.get(declared)
        if expected is not None and (
            not isinstance(current, expected) or (expected is int and isinstance(current, bool))
        ):
            errors.setdefault(f"{where}.{attribute.name}", []).append(f"Not a valid {declared}.")
        if declared == "list[str]" and isinstance(current, list) and not all(isinstance(i, str) for i in current):
            errors.setdefault(f"{where}.{attribute.name}", []).append("Not a valid list of strings.")
        _check_model(current, f"{where}.{attribute.name}", errors)


def validate(model: str, body: Any) -> dict[str, list[str]]:
    """Errors of `body` against the checkmk-rest-python model named `model` ({} when it conforms)."""
    if not isinstance(body, dict):
        return {"_schema": ["Invalid input type."]}
    try:
        parsed = getattr(cmk_models, model).from_dict(body)
    except KeyError as exc:
        return {str(exc.args[0]): ["Missing data for required field."]}
    except (TypeError, ValueError, AttributeError) as exc:
        return {"_schema": [f"{type(exc).__name__}: {exc}"]}
    errors: dict[str, list[str]] = {}
    _check_model(parsed, "body", errors)
    return errors


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str, fields: dict | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.fields = status, title, detail, fields or {}


class PartialError(ApiError):
    def __init__(self, detail: str, ext: dict[str, Any]):
        super().__init__(400, "Some actions failed", detail)
        self.ext = ext


def folder_not_found(field_name: str, folder: str, where: str = "") -> ApiError:
    """Checkmk's refusal of a request naming a folder that does not exist (a schema error: 400 with fields)."""
    problem = {field_name: [f"The folder {folder!r} could not be found."]}
    return ApiError(
        400, "Bad Request", f"These fields have problems: {where or field_name}", {where: problem} if where else problem
    )


def new_etag() -> str:
    return f'"{uuid.uuid4().hex}"'


@dataclass
class CheckmkState:
    """The site: what it holds and what it was asked (the tests read and change it between requests)."""

    username: str = "automation"
    secret: str = "automation-secret"
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=lambda: {"/": {"attributes": {}, "etag": new_etag()}})
    tag_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    inventory: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: int = 0
    activations: dict[str, dict[str, Any]] = field(default_factory=dict)
    activation_polls: int = 2
    # another user at work: after the site serves a GET of one of these paths, the function runs once
    after_read: dict[str, Any] = field(default_factory=dict)
    forbidden_folders: set[str] = field(default_factory=set)  # folders the automation user may not create
    requests: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[tuple[str, str, Any]] = field(default_factory=list)
    schema_errors: list[tuple[str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]

    def add_host(self, name: str, folder: str = "/", **attributes: Any) -> None:
        self.hosts[name] = {"folder": folder, "attributes": attributes, "etag": new_etag()}


def _path_of(folder: str) -> str:
    """`~a~b`, `/a/b`, `\\a\\b` -> `/a/b`."""
    parts = [part for part in re.split(r"[~/\\]", folder) if part]
    return "/" + "/".join(parts)


class Site:
    """The endpoints; each returns (status, body, headers) or raises ApiError."""

    def __init__(self, state: CheckmkState):
        self.s = state

    def body(self, payload: Any, model: str) -> Any:
        errors = validate(model, payload)
        if errors:
            self.s.schema_errors.append((model, errors))
            raise ApiError(400, "Bad Request", "These fields have problems: " + ", ".join(sorted(errors)), errors)
        return payload

    def if_match(self, headers: Any, etag: str) -> None:
        given = headers.get("If-Match")
        if not given:
            raise ApiError(
                428, "Precondition required", "If-Match header required for this operation. See documentation."
            )
        if given != "*" and given != etag:
            raise ApiError(
                412,
                "Precondition failed",
                f"ETag didn't match. Expected {etag}. Probable cause: Object changed by another user.",
            )

    def change(self) -> None:
        self.s.pending += 1

    # hosts
    def host_object(self, name: str, host: dict[str, Any]) -> dict[str, Any]:
        return {
            "domainType": "host_config",
            "id": name,
            "title": name,
            "extensions": {"folder": host["folder"], "attributes": host["attributes"]},
        }

    def check_host(self, entry: dict[str, Any], where: str) -> None:
        """What Checkmk's request schema checks: refuses the whole request (400 with `fields`)."""
        attributes = entry.get("attributes") or entry.get("update_attributes") or {}
        address = attributes.get("ipaddress")
        if address is not None and not IP_PATTERN.match(address):
            fields = {where: {"ipaddress": [f"{address!r} is not a valid IP address or hostname."]}}
            raise ApiError(400, "Bad Request", f"These fields have problems: {where}", fields)

    def host_failure(self, entry: dict[str, Any]) -> str:
        """What Checkmk verifies per host while applying a bulk request (the host is skipped and named)."""
        attributes = entry.get("attributes") or entry.get("update_attributes") or {}
        for key, value in attributes.items():
            group = self.s.tag_groups.get(key[4:]) if key.startswith("tag_") else None
            if group is not None and value not in group["tags"]:
                return f"Validation failed: Invalid choice {value!r} for the tag group {key[4:]!r}."
        return ""

    def partial(self, failed: dict[str, list[str]], done: list[str]):
        """Checkmk's answer to a bulk request some of whose hosts failed: 400 naming them, the rest applied."""
        if not failed:
            return 200, {"value": [self.host_object(n, self.s.hosts[n]) for n in done]}, {}
        detail = (
            f"Some of the actions were performed but the following were faulty and were skipped: {' ,'.join(failed)}."
        )
        ext = {
            "succeeded_hosts": {"value": [self.host_object(n, self.s.hosts[n]) for n in done]},
            "failed_hosts": failed,
        }
        raise PartialError(detail, ext)

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: Any, payload: Any):
        s = self.s
        if method == "GET" and path == "/domain-types/host_config/collections/all":
            return 200, {"value": [self.host_object(n, h) for n, h in s.hosts.items()]}, {}
        match = re.fullmatch(r"/objects/host_config/([^/]+)(/actions/move/invoke)?", path)
        if match:
            name = match.group(1)
            if name not in s.hosts:
                raise ApiError(404, "Not Found", f"Host {name!r} not found.")
            host = s.hosts[name]
            if method == "GET" and not match.group(2):
                return 200, self.host_object(name, host), {"ETag": host["etag"]}
            if method == "POST" and match.group(2):
                self.if_match(headers, host["etag"])
                body = self.body(payload, "MoveHost")
                target = _path_of(body["target_folder"])
                if target not in s.folders:
                    raise folder_not_found("target_folder", body["target_folder"])
                host["folder"], host["etag"] = target, new_etag()
                self.change()
                return 200, self.host_object(name, host), {"ETag": host["etag"]}
        if path == "/domain-types/host_config/actions/bulk-create/invoke" and method == "POST":
            body = self.body(payload, "BulkCreateHost")
            for index, entry in enumerate(body["entries"]):
                where = f"entries.{index}"
                if entry["host_name"] in s.hosts:
                    raise ApiError(
                        400,
                        "Bad Request",
                        f"Host {entry['host_name']!r} already exists.",
                        {where: {"host_name": ["Host already exists."]}},
                    )
                if _path_of(entry["folder"]) not in s.folders:
                    raise folder_not_found("folder", entry["folder"], where)
                self.check_host(entry, where)
            failed: dict[str, list[str]] = {}
            done: list[str] = []
            for entry in body["entries"]:
                problem = self.host_failure(entry)
                if problem:
                    failed[entry["host_name"]] = [problem]
                    continue
                s.add_host(entry["host_name"], _path_of(entry["folder"]), **entry.get("attributes", {}))
                done.append(entry["host_name"])
                self.change()
            return self.partial(failed, done)
        if path == "/domain-types/host_config/actions/bulk-update/invoke" and method == "PUT":
            body = self.body(payload, "BulkUpdateHost")
            for index, entry in enumerate(body["entries"]):
                if entry["host_name"] not in s.hosts:
                    raise ApiError(
                        400,
                        "Bad Request",
                        f"Host {entry['host_name']!r} not found.",
                        {f"entries.{index}": {"host_name": ["Host not found."]}},
                    )
                self.check_host(entry, f"entries.{index}")
            failed, done = {}, []
            for entry in body["entries"]:
                problem = self.host_failure(entry)
                if problem:
                    failed[entry["host_name"]] = [problem]
                    continue
                host = s.hosts[entry["host_name"]]
                if "attributes" in entry:
                    host["attributes"] = dict(entry["attributes"])
                host["attributes"].update(entry.get("update_attributes", {}))
                for key in entry.get("remove_attributes", []):
                    host["attributes"].pop(key, None)
                host["etag"] = new_etag()
                done.append(entry["host_name"])
                self.change()
            return self.partial(failed, done)
        if path == "/domain-types/host_config/actions/bulk-delete/invoke" and method == "POST":
            body = self.body(payload, "BulkDeleteHost")
            for name in body["entries"]:
                if s.hosts.pop(name, None) is not None:
                    self.change()
            return 204, None, {}
        # folders
        if path == "/domain-types/folder_config/collections/all":
            if method == "GET":
                value = [
                    {
                        "domainType": "folder_config",
                        "id": path_id(p),
                        "title": p.rsplit("/", 1)[-1] or "Main",
                        "extensions": {"path": p, "attributes": f["attributes"]},
                    }
                    for p, f in s.folders.items()
                ]
                return 200, {"value": value}, {}
            if method == "POST":
                body = self.body(payload, "CreateFolder")
                parent = _path_of(body["parent"])
                if parent not in s.folders:
                    raise folder_not_found("parent", body["parent"])
                new = parent.rstrip("/") + "/" + (body.get("name") or body["title"])
                if new in s.forbidden_folders:
                    raise ApiError(403, "Forbidden", f"You lack the permission to create the folder {new!r}.")
                if new in s.folders:
                    raise ApiError(400, "Bad Request", f"Folder {new!r} already exists.")
                s.folders[new] = {"attributes": body.get("attributes", {}), "etag": new_etag()}
                self.change()
                return 200, {"id": path_id(new), "extensions": {"path": new}}, {"ETag": s.folders[new]["etag"]}
        match = re.fullmatch(r"/objects/folder_config/([^/]+)", path)
        if match:
            folder_path = _path_of(match.group(1))
            if folder_path not in s.folders:
                raise ApiError(404, "Not Found", f"Folder {match.group(1)!r} not found.")
            folder = s.folders[folder_path]
            if method == "GET":
                return (
                    200,
                    {"id": match.group(1), "extensions": {"path": folder_path, "attributes": folder["attributes"]}},
                    {"ETag": folder["etag"]},
                )
            if method == "PUT":
                self.if_match(headers, folder["etag"])
                body = self.body(payload, "UpdateFolder")
                folder["attributes"].update(body.get("update_attributes", {}))
                folder["etag"] = new_etag()
                self.change()
                return 200, {"id": match.group(1)}, {"ETag": folder["etag"]}
        # host tag groups
        if path == "/domain-types/host_tag_group/collections/all":
            if method == "GET":
                value = [
                    {"id": gid, "title": g["title"], "extensions": {"tags": [{"id": t, "title": t} for t in g["tags"]]}}
                    for gid, g in s.tag_groups.items()
                ]
                return 200, {"value": value}, {}
            if method == "POST":
                body = self.body(payload, "InputHostTagGroup")
                if body["id"] in s.tag_groups:
                    raise ApiError(400, "Bad Request", f"Tag group {body['id']!r} already exists.", {"id": ["exists"]})
                s.tag_groups[body["id"]] = {
                    "title": body["title"],
                    "tags": [t.get("id") for t in body["tags"]],
                    "etag": new_etag(),
                }
                self.change()
                return 200, {"id": body["id"]}, {"ETag": s.tag_groups[body["id"]]["etag"]}
        match = re.fullmatch(r"/objects/host_tag_group/([^/]+)", path)
        if match and match.group(1) in s.tag_groups:
            group = s.tag_groups[match.group(1)]
            if method == "GET":
                return (
                    200,
                    {"id": match.group(1), "extensions": {"tags": [{"id": t, "title": t} for t in group["tags"]]}},
                    {"ETag": group["etag"]},
                )
            if method == "PUT":
                self.if_match(headers, group["etag"])
                body = self.body(payload, "UpdateHostTagGroup")
                if "tags" in body:
                    group["tags"] = [t.get("id") for t in body["tags"]]
                group["etag"] = new_etag()
                self.change()
                return 200, {"id": match.group(1)}, {"ETag": group["etag"]}
        # host groups
        if path == "/domain-types/host_group_config/collections/all" and method == "GET":
            return (
                200,
                {
                    "value": [
                        {"id": n, "title": g["alias"], "extensions": {"alias": g["alias"]}}
                        for n, g in s.host_groups.items()
                    ]
                },
                {},
            )
        if path == "/domain-types/host_group_config/actions/bulk-create/invoke" and method == "POST":
            body = self.body(payload, "BulkInputHostGroup")
            for entry in body["entries"]:
                s.host_groups[entry["name"]] = {"alias": entry["alias"], "etag": new_etag()}
                self.change()
            return 200, {"value": [{"id": e["name"]} for e in body["entries"]]}, {}
        # activation
        if path == "/domain-types/activation_run/actions/activate-changes/invoke" and method == "POST":
            self.if_match(headers, "*")
            body = self.body(payload, "ActivateChanges")
            if not s.pending:
                raise ApiError(422, "No pending changes", "Currently there are no changes to activate.")
            run_id = uuid.uuid4().hex
            s.activations[run_id] = {"polls": s.activation_polls, "sites": body.get("sites", []), "changes": s.pending}
            s.pending = 0
            return (
                200,
                {
                    "domainType": "activation_run",
                    "id": run_id,
                    "extensions": {"is_running": True, "sites": body.get("sites", [])},
                },
                {"Location": f"/mysite{API}/objects/activation_run/{run_id}"},
            )
        match = re.fullmatch(r"/objects/activation_run/([0-9a-f]+)", path)
        if match and method == "GET" and match.group(1) in s.activations:
            run = s.activations[match.group(1)]
            running = run["polls"] > 0
            run["polls"] -= 1
            return 200, {"id": match.group(1), "extensions": {"is_running": running, "sites": run["sites"]}}, {}
        # inventorize: service labels and inventory columns (Livestatus tables through the REST API)
        if path == "/domain-types/service/collections/all" and method == "POST":
            body = self.body(payload, "ServiceParametersWithHost")
            columns = body.get("columns") or ["host_name", "description"]
            rows = [{c: row.get(c) for c in columns} for row in s.services]
            return 200, {"value": [{"domainType": "service", "extensions": row} for row in rows]}, {}
        if path == "/host_inv_api.py" and method == "GET":
            # the HW/SW inventory web API (not part of REST 1.0): JSON trees of Attributes/Nodes/Table
            if query.get("output_format") != ["json"]:
                raise ApiError(400, "Bad Request", "output_format=json expected")
            request = json.loads(query.get("request", ["{}"])[0])
            result = {name: s.inventory.get(name, {}) for name in request.get("hosts", [])}
            return 200, {"result_code": 0, "result": result}, {}
        raise ApiError(404, "Not Found", f"{method} {path} is not an endpoint of this site.")


def path_id(path: str) -> str:
    return "~" + path.strip("/").replace("/", "~")


def make_handler(state: CheckmkState) -> type[BaseHTTPRequestHandler]:
    site = Site(state)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def handle_any(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, body, headers = 500, None, {}
            with state.lock:
                # the site's URL is /<site>; the API lives at /<site>/check_mk/api/1.0
                # (and the web pages such as host_inv_api.py at /<site>/check_mk/<page>)
                rest = API in url.path
                path = url.path.split(API, 1)[1] if rest else "/" + url.path.rsplit("/check_mk/", 1)[-1]
                state.requests.append((self.command, path))
                try:
                    if self.headers.get("Authorization") != f"Bearer {state.username} {state.secret}":
                        raise ApiError(401, "Unauthorized", "Wrong credentials (Bearer header)")
                    payload = json.loads(raw) if raw else None
                    state.bodies.append((self.command, path, payload))
                    status, body, headers = site.route(self.command, path, parse_qs(url.query), self.headers, payload)
                    if self.command == "GET" and path in state.after_read:
                        state.after_read.pop(path)()
                except ApiError as exc:
                    status, headers = exc.status, {}
                    body = {"title": exc.title, "status": exc.status, "detail": exc.detail, "fields": exc.fields}
                    if isinstance(exc, PartialError):
                        body["ext"] = exc.ext
                except ValueError:
                    status, body = 400, {"title": "Bad Request", "status": 400, "detail": "Invalid JSON", "fields": {}}
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json" if status >= 400 else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    return Handler


class CheckmkServer:
    """The test server on a free loopback port, in a thread: `url` is the site URL an account uses."""

    def __init__(self, state: CheckmkState | None = None):
        self.state = state or CheckmkState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mysite"  # the site URL of an account
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CheckmkServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str]) -> None:
    """Serve in this process (the benchmark's server process); prints the port, then a count line per STATS."""
    port, username, secret = int(argv[0]), argv[1], argv[2]
    state = CheckmkState(username=username, secret=secret, activation_polls=1)
    httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(httpd.server_address[1], flush=True)
    for line in sys.stdin:
        if line.strip() == "STATS":
            with state.lock:
                stats = {
                    "requests": len(state.requests),
                    "writes": len(state.writes()),
                    "host_creations": sum(
                        1
                        for _, path in state.requests
                        if path.startswith("/domain-types/host_config/actions/bulk-create")
                    ),
                    "folder_creations": sum(
                        1
                        for m, p in state.requests
                        if m == "POST" and p == "/domain-types/folder_config/collections/all"
                    ),
                    "activations": len(state.activations),
                    "hosts": len(state.hosts),
                    "schema_errors": len(state.schema_errors),
                }
                state.requests.clear()
                state.bodies.clear()
                state.activations.clear()
            print(json.dumps(stats), flush=True)
    httpd.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
