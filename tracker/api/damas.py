"""The damas-core compatible routes (shared TRACKER.md): plain JSON views, token auth, exact status codes.

Views parse the request and call `tracker.services`, which apply the permission matrix of
`tracker.permissions` (the class gate here is the matrix's own `MIN_CLASS`); multi-item calls keep the input
order and answer 207 with `null` in place of the items that failed. Reads leave out what the caller may not see.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, DataError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from syncsite.errors import DomainError
from tracker import conf, durations, limits, permissions, services
from tracker.auth import BadCredentials, actor_for_request
from tracker.models import Node, UserClass
from tracker.query import mongo_order, mongo_query, text_query

logger = logging.getLogger(__name__)


class ApiError(services.TrackerError):
    """A refusal of the damas layer itself (the request's shape or path), with the wire protocol's status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


def _json(data: Any, status: int = 200) -> JsonResponse:
    """Compact JSON, as Express writes it: damas' shell client reads answers with `sed`."""
    return JsonResponse(
        data, status=status, safe=False, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")}
    )


def _error(status: int, detail: str, **extra: Any) -> JsonResponse:
    return _json({"detail": detail, **extra}, status)


def _error_response(exc: DomainError | DatabaseError | RecursionError) -> JsonResponse:
    """The one place a damas route's failure becomes its JSON answer: a domain error (the tracker's, or this
    layer's ApiError) with its own status, the database's refusals as 400 and its failures as 503."""
    if isinstance(exc, DomainError):
        return _error(exc.status, exc.detail)
    if isinstance(exc, DataError):
        return _error(400, f"The database refused this query: {exc}".strip())
    if isinstance(exc, OperationalError) and "user-defined function raised exception" in str(exc):
        return _error(400, "Invalid regular expression.")  # SQLite REGEXP on a bad pattern
    if isinstance(exc, RecursionError):
        return _error(400, "Input nested too deeply.")
    logger.exception("tracker API database error")
    return _error(503, "The database could not complete this request.")


def damas_view(
    methods: tuple[str, ...],
    min_class: str | None = UserClass.GUEST,
    *,
    read_only: bool = False,
    time_limited: bool = True,
):
    """Method check (405), authentication (401), class check (403) and JSON errors around a view.

    The view receives (request, actor, ...). `min_class=None` means no authentication at all.
    Read-only routes accept the browser session and, when TRACKER_ANONYMOUS_READ is on, nobody at all.
    `time_limited=False`: the view bounds its own database work (an upload's body takes as long as it takes).
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = _error(405, f"Method {request.method} not allowed; use {', '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                actor = None
                if min_class is not None:
                    try:
                        actor = actor_for_request(request, allow_session=read_only)
                    except BadCredentials as exc:
                        raise ApiError(401, str(exc)) from exc
                    if actor is None:
                        if not (read_only and conf.anonymous_read()):
                            raise ApiError(401, "Authentication required: send Authorization: Bearer <token>.")
                        actor = services.Actor("anonymous", UserClass.GUEST)
                    if not actor.at_least(min_class):
                        raise ApiError(403, f"This needs the {min_class} class; you are {actor.user_class}.")
                if not time_limited:
                    return view(request, actor, *args, **kwargs)
                with limits.time_limit():
                    return view(request, actor, *args, **kwargs)
            except (DomainError, DatabaseError, RecursionError) as exc:
                return _error_response(exc)

        return wrapper

    return decorate


def _body(request: HttpRequest, *, nodes: bool = False) -> Any:
    """The JSON body within every limit of tracker.limits (400, or 413 when too large); `nodes`: it holds
    node keys, each bounded by TRACKER_MAX_NODE_BYTES."""
    return limits.read_json_body(request, nodes=nodes)


def _path_text(value: str) -> str:
    return limits.check_text(value)


def _as_list(payload: Any, what: str = "item") -> tuple[list, bool]:
    """(items, was_a_list); bounded so one call cannot be unbounded."""
    if isinstance(payload, list):
        if not payload:
            raise ApiError(400, f"Empty array: send at least one {what}.")
        if len(payload) > conf.max_body_items():
            raise ApiError(400, f"At most {conf.max_body_items()} items per call.")
        return payload, True
    return [payload], False


def _ids(payload: Any) -> tuple[list[str], bool]:
    items, many = _as_list(payload, "id")
    for item in items:
        if not isinstance(item, str) or not item:
            raise ApiError(400, "Ids must be non-empty strings.")
    return items, many


def _multi(results: list, many: bool, ok_status: int) -> JsonResponse:
    """One status for a multi-item call: all ok → ok_status; some → 207 with nulls; none → the first error."""
    errors = [r for r in results if isinstance(r, services.TrackerError)]
    if not errors:
        return _json(results if many else results[0], ok_status)
    if len(errors) == len(results):
        first = errors[0]
        if not many:
            return _error(first.status, first.detail)
        return _error(first.status, first.detail, errors=[e.detail for e in errors])
    return _json([None if isinstance(r, services.TrackerError) else r for r in results], 207)


# --------------------------------------------------------------------------------------------- CRUD


@damas_view(("POST",), permissions.MIN_CLASS[permissions.Op.CREATE])
def create(request, actor):
    items, many = _as_list(_body(request, nodes=True), "node")
    return _multi(services.create_nodes(items, actor), many, 201)


def _read_response(node_ids: list[str], many: bool, actor) -> JsonResponse:
    if len(node_ids) > conf.max_body_items():
        raise ApiError(400, f"At most {conf.max_body_items()} ids per call.")
    wanted = {i for i in node_ids if isinstance(i, str)}
    limits.check_response_size(Node.objects.filter(node_id__in=wanted), len(wanted))
    nodes = services.read_nodes(node_ids, actor)
    if all(n is None for n in nodes):
        raise services.NotFound("Not found." if not many else "None of these ids were found.")
    if not many:
        return _json(nodes[0])
    return _json(nodes, 200 if all(n is not None for n in nodes) else 207)


@damas_view(("POST", "GET"), read_only=True)
def read(request, actor, ids: str | None = None):
    if request.method == "GET":
        if not ids:
            raise ApiError(400, "Give ids in the path: read/<id>,<id>.")
        node_ids = _path_text(ids).split(",")
        return _read_response(node_ids, len(node_ids) > 1, actor)
    body = _body(request)
    if isinstance(body, dict) and isinstance(body.get("id"), str):  # older clients: {"id": "a,b"}
        node_ids = body["id"].split(",")
        return _read_response(node_ids, len(node_ids) > 1, actor)
    node_ids, many = _ids(body)
    return _read_response(node_ids, many, actor)


@damas_view(("PUT",), permissions.MIN_CLASS[permissions.Op.UPDATE])
def update(request, actor):
    items, many = _as_list(_body(request, nodes=True), "node")
    return _multi(services.update_nodes(items, actor), many, 200)


@damas_view(("POST",), permissions.MIN_CLASS[permissions.Op.UPSERT])
def upsert(request, actor):
    items, many = _as_list(_body(request, nodes=True), "node")
    return _multi(services.upsert_nodes(items, actor), many, 200)


@damas_view(("DELETE",), permissions.MIN_CLASS[permissions.Op.DELETE])
def delete(request, actor):
    node_ids, many = _ids(_body(request))
    return _multi(services.delete_nodes(node_ids, actor), many, 200)


# --------------------------------------------------------------------------------------------- search


def _searchable(actor, keys: set[str]):
    """The nodes this caller may search on these keys: no search reveals a key it may not read."""
    refuse, kinds = permissions.unsearchable_kinds(actor, keys)
    if refuse:
        hidden = ", ".join(sorted(keys & permissions.SECRET_KEYS))
        raise services.Forbidden(f"You may not search or sort on {hidden}.")
    qs = services.visible_nodes(actor)
    return qs.exclude(kind__in=kinds) if kinds else qs


def _search_ids(q, actor, keys: set[str], order=("node_id",)) -> list[str]:
    """Every matching id; 400 when there are more than TRACKER_MAX_PAGE_SIZE (search has no paging)."""
    most = conf.max_page_size()
    ids = _searchable(actor, keys).filter(q).order_by(*order).values_list("node_id", flat=True)
    found = list(ids[: most + 1])
    if len(found) > most:
        raise ApiError(
            400, f"More than {most} nodes match (TRACKER_MAX_PAGE_SIZE): narrow the query or page with search_mongo."
        )
    return found


def _path_query(request, query: str) -> str:
    """The query is the rest of the path; a `?` in a regex was taken for a query string, so put it back."""
    extra = request.META.get("QUERY_STRING", "")
    return _path_text(f"{query}?{unquote(extra)}" if extra else query)


@damas_view(("GET",), read_only=True)
def search(request, actor, query: str = ""):
    text = _path_query(request, query)
    return _json(_search_ids(text_query(text), actor, permissions.text_query_keys(text)))


@damas_view(("GET",), read_only=True)
def search_one(request, actor, query: str = ""):
    text = _path_query(request, query)
    q = text_query(text)
    node = _searchable(actor, permissions.text_query_keys(text)).filter(q).order_by("node_id").first()
    return _json(services.readable(node, actor) if node else None)


def _count(value: Any, name: str) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name} must be a non-negative integer.")
    try:
        number = int(value)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be a non-negative integer.") from exc
    if number < 0 or number > 2**31:
        raise ApiError(400, f"{name} must be an integer between 0 and 2^31.")
    return number


def _mongo_body(request: HttpRequest) -> Any:
    """The search_mongo request: a JSON body, or damas' `queryobj` field (a form field or a JSON key) holding
    the same object as JSON text."""
    if request.content_type == "application/json":
        body = _body(request)
        text = body.get("queryobj") if isinstance(body, dict) else None
    else:
        form = _form(request)
        text = form.get("queryobj")
        body = {key: form.get(key) for key in ("query", "sort", "limit", "skip") if key in form}
        for key in ("query", "sort"):
            if isinstance(body.get(key), str):
                body[key] = limits.parse_json(body[key].encode())
    if isinstance(text, str):
        body = limits.parse_json(text.encode())
    elif text is not None:
        raise ApiError(400, "queryobj must be JSON text.")
    return body


@damas_view(("POST",), read_only=True)
def search_mongo(request, actor):
    body = _mongo_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, 'Send {"query": {...}, "sort": {...}, "limit": n, "skip": n}.')
    limits.check_sort(body.get("sort"))
    keys = permissions.mongo_query_keys(body.get("query")) | permissions.mongo_query_keys(body.get("sort"))
    qs = _searchable(actor, keys).filter(mongo_query(body.get("query")))
    limit, skip = _count(body.get("limit"), "limit"), _count(body.get("skip"), "skip")
    size = limits.check_page(limit)  # no limit (0) or a larger one: one page of TRACKER_MAX_PAGE_SIZE
    ids = qs.order_by(*mongo_order(body.get("sort"))).values_list("node_id", flat=True)
    page = list(ids[skip : skip + size])
    count = qs.count() if limit or skip or len(page) == size else len(page)
    return _json({"count": count, "ids": page})


@damas_view(("POST",), read_only=True)
def graph(request, actor, depth: str = "0"):
    node_ids, _ = _ids(_body(request))
    return _graph_response(node_ids, depth, actor)


@damas_view(("GET",), read_only=True)
def graph_ids(request, actor, depth: str, ids: str):
    node_ids = _path_text(ids).split(",")
    if len(node_ids) > conf.max_body_items():
        raise ApiError(400, f"At most {conf.max_body_items()} ids per call.")
    return _graph_response(node_ids, depth, actor)


def _graph_response(node_ids: list[str], depth: str, actor) -> JsonResponse:
    try:
        max_depth = min(int(depth), 1000)
    except ValueError as exc:
        raise ApiError(400, "depth must be an integer (0 = unlimited).") from exc
    if max_depth < 0:
        raise ApiError(400, "depth must be an integer (0 = unlimited).")
    nodes = services.graph(node_ids, max_depth, actor)
    if not nodes:
        raise services.NotFound("None of these ids were found.")
    return _json(nodes)


# --------------------------------------------------------------------------------------------- files


@damas_view(("PUT",), permissions.MIN_CLASS[permissions.Op.LOCK])
def lock(request, actor):
    node_ids, _ = _ids(_body(request))
    return _json(services.lock_nodes(node_ids, actor))


@damas_view(("PUT",), permissions.MIN_CLASS[permissions.Op.UNLOCK])
def unlock(request, actor):
    node_ids, _ = _ids(_body(request))
    if services.unlock_nodes(node_ids, actor):
        return _json(True)
    return _json(False, 409)


@damas_view(("POST",), permissions.MIN_CLASS[permissions.Op.PUBLISH])
def publish(request, actor):
    items, many = _as_list(_body(request, nodes=True), "file")
    return _multi(services.publish_nodes(items, actor), many, 201)


@damas_view(("POST",), permissions.MIN_CLASS[permissions.Op.COMMENT])
def comment(request, actor):
    body = _body(request, nodes=True)
    if not isinstance(body, dict):
        raise ApiError(400, 'Send {"#parent": id or [ids], "comment": text}.')
    many = isinstance(body.get("#parent"), list)
    return _multi(services.comment_nodes(body, actor), many, 201)


@damas_view(("POST",), permissions.MIN_CLASS[permissions.Op.VERSION])
def version(request, actor, node_id: str = ""):
    if not node_id:
        raise ApiError(400, "Give the id in the path: version/<id>.")
    _path_text(node_id)
    body = _body(request, nodes=True)
    return _json(services.version_node(node_id, body, actor), 201)


# --------------------------------------------------------------------------------------------- users


def _fields(request: HttpRequest, what: str) -> Any:
    """The fields of a form post, or of a JSON object body (damas' clients send either)."""
    if request.content_type == "application/json":
        data = _body(request)
        if not isinstance(data, dict):
            raise ApiError(400, f"Send {what}.")
        return data
    return _form(request)


def _expires_in(data: Any) -> int | None:
    """`expiresIn` in seconds (0 = never), None when absent; seconds or damas' "30m", "12h", "1d", "2w"."""
    value = data.get("expiresIn")
    if value in (None, ""):
        return None
    return durations.parse_expires_in(value)


@damas_view(("POST",), None)
def sign_in(request, actor):
    data = _fields(request, "username and password")
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise ApiError(400, "Send username (or e-mail) and password (form fields).")
    _path_text(username + password)
    seconds = _expires_in(data)
    result = services.sign_in(username, password, seconds, request=request)
    if result is None:
        raise ApiError(401, "Bad username or password.")
    return _json(result)


def _form(request: HttpRequest):
    """The form fields of a signIn; Django's own limits on forms answer as JSON like every other refusal."""
    try:
        return request.POST
    except RequestDataTooBig as exc:
        raise ApiError(413, f"Form larger than DATA_UPLOAD_MAX_MEMORY_SIZE: {exc}") from exc
    except (SuspiciousOperation, BadRequest, MultiPartParserError) as exc:
        raise ApiError(400, f"Unreadable form: {exc}") from exc


@damas_view(("GET",), UserClass.GUEST)
def verify(request, actor):
    user = services.user_model().objects.filter(username=actor.name).first()
    if user is None:
        raise ApiError(401, "This token's user no longer exists.")
    return _json(services.user_node(user))


# --------------------------------------------------------------------------------------------- tokens


@damas_view(("POST",), UserClass.GUEST)
def create_token(request, actor):
    data = _fields(request, "expiresIn and label")
    label = data.get("label", "")
    if label is not None and not isinstance(label, str):
        raise ApiError(400, "label must be text.")
    _path_text(label or "")
    return _json(services.create_script_token(actor, label=label or "", expires_in=_expires_in(data)), 201)


@damas_view(("GET", "DELETE"), UserClass.GUEST)
def tokens(request, actor, token_id: str | None = None):
    if request.method == "GET":
        if token_id is not None:
            raise ApiError(405, "List with GET tokens/; revoke with DELETE tokens/<id>.")
        username = request.GET.get("user") or None
        return _json(services.list_tokens(actor, _path_text(username) if username else None))
    if token_id is None or not token_id.isdigit() or len(token_id) > 18:
        raise ApiError(400, "Give the token's id in the path: DELETE tokens/<id>.")
    return _json(services.revoke_token(actor, int(token_id)))


# --------------------------------------------------------------------------------------------- passwords


@damas_view(("GET", "POST"), None)
def lost_password(request, actor, email: str | None = None):
    if email is None:
        value = _fields(request, "email").get("email")
        email = value if isinstance(value, str) else ""
    _path_text(email)
    services.lost_password(email.strip(), request)
    return _json("email sent")  # the same answer whether or not the address is known


@damas_view(("POST",), UserClass.GUEST)
def change_password(request, actor):
    password = _fields(request, "password").get("password")
    services.change_password(actor, password if isinstance(password, str) else "")
    return _json("OK")


@damas_view(("POST",), None)
def reset_password(request, actor, token: str = ""):
    data = _fields(request, "password")
    token = token or (data.get("token") if isinstance(data.get("token"), str) else "")
    if not token:
        raise ApiError(400, "Give the token in the path: resetPassword/<token>.")
    _path_text(token)
    password = data.get("password")
    services.reset_password(token, password if isinstance(password, str) else "")
    return _json("OK")
