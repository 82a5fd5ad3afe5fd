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

from tracker import conf, limits, permissions, services
from tracker.auth import BadCredentials, actor_for_request
from tracker.models import Node, UserClass
from tracker.query import mongo_order, mongo_query, text_query

logger = logging.getLogger(__name__)
GRAPH_MAX_NODES = 10000
MAX_TOKEN_SECONDS = 10 * 366 * 24 * 3600


class ApiError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _json(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


def _error(status: int, detail: str, **extra: Any) -> JsonResponse:
    return _json({"detail": detail, **extra}, status)


def damas_view(methods: tuple[str, ...], min_class: str | None = UserClass.GUEST, *, read_only: bool = False):
    """Method check (405), authentication (401), class check (403) and JSON errors around a view.

    The view receives (request, actor, ...). `min_class=None` means no authentication at all.
    Read-only routes accept the browser session and, when TRACKER_ANONYMOUS_READ is on, nobody at all.
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
                        return _error(401, str(exc))
                    if actor is None:
                        if not (read_only and conf.anonymous_read()):
                            return _error(401, "Authentication required: send Authorization: Bearer <token>.")
                        actor = services.Actor("anonymous", UserClass.GUEST)
                    if not actor.at_least(min_class):
                        return _error(403, f"This needs the {min_class} class; you are {actor.user_class}.")
                with limits.time_limit():
                    return view(request, actor, *args, **kwargs)
            except ApiError as exc:
                return _error(exc.status, exc.detail)
            except services.TrackerError as exc:
                return _error(exc.status, exc.detail)
            except DataError as exc:
                return _error(400, f"The database refused this query: {exc}".strip())
            except OperationalError as exc:
                if "user-defined function raised exception" in str(exc):  # SQLite REGEXP on a bad pattern
                    return _error(400, "Invalid regular expression.")
                logger.exception("tracker API database error")
                return _error(503, "The database could not complete this request.")
            except DatabaseError:
                logger.exception("tracker API database error")
                return _error(503, "The database could not complete this request.")
            except RecursionError:
                return _error(400, "Input nested too deeply.")

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
        return _error(404, "Not found." if not many else "None of these ids were found.")
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


@damas_view(("POST",), read_only=True)
def search_mongo(request, actor):
    body = _body(request)
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
    try:
        max_depth = min(int(depth), 1000)
    except ValueError as exc:
        raise ApiError(400, "depth must be an integer (0 = unlimited).") from exc
    if max_depth < 0:
        raise ApiError(400, "depth must be an integer (0 = unlimited).")
    nodes = _graph(node_ids, max_depth, actor)
    if not nodes:
        return _error(404, "None of these ids were found.")
    return _json(nodes)


def _graph(start: list[str], max_depth: int, actor) -> list[dict]:
    """Nodes reachable from `start` through `#parent` links and edge nodes (`src_id`/`tgt_id`).

    The walk reads only ids and links; the nodes themselves are loaded once at the end, after their total
    size was checked against TRACKER_MAX_RESPONSE_BYTES."""
    visible = services.visible_nodes(actor)
    found: dict[str, None] = {}  # ids in the order they were reached
    frontier = set(start)
    level = 0
    while frontier and len(found) < GRAPH_MAX_NODES:
        rows = visible.filter(node_id__in=frontier).values_list("node_id", "parent")
        fresh = [(node_id, parent) for node_id, parent in rows if node_id not in found]
        if level == 0 and not fresh:
            return []
        found.update((node_id, None) for node_id, _ in fresh)
        if max_depth and level >= max_depth:
            break
        keys = [node_id for node_id, _ in fresh]
        following: set[str] = {parent for _, parent in fresh if parent}
        edges = visible.filter(data__has_key="src_id", data__src_id__in=keys) | visible.filter(
            data__has_key="tgt_id", data__tgt_id__in=keys
        )
        for node_id, src, tgt in edges.values_list("node_id", "data__src_id", "data__tgt_id")[:GRAPH_MAX_NODES]:
            found.setdefault(node_id, None)
            following.update(end for end in (src, tgt) if isinstance(end, str))
        frontier = following - set(found)
        level += 1
    ids = list(found)
    nodes: dict[str, Node] = {}
    limits.check_response_size(Node.objects.filter(node_id__in=ids), len(ids))
    for start_at in range(0, len(ids), 1000):
        nodes.update((n.node_id, n) for n in Node.objects.filter(node_id__in=ids[start_at : start_at + 1000]))
    return [services.readable(nodes[i], actor) for i in ids if i in nodes]


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


@damas_view(("POST",), None)
def sign_in(request, actor):
    if request.content_type == "application/json":
        data = _body(request)
        if not isinstance(data, dict):
            raise ApiError(400, "Send username and password.")
    else:
        data = _form(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise ApiError(400, "Send username and password (form fields).")
    _path_text(username + password)
    expires_in = data.get("expiresIn")
    if expires_in in (None, ""):
        seconds = None
    else:
        try:
            seconds = int(expires_in)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "expiresIn must be a number of seconds (0 = never).") from exc
        if seconds < 0 or seconds > MAX_TOKEN_SECONDS:
            raise ApiError(400, f"expiresIn must be between 0 (never) and {MAX_TOKEN_SECONDS} seconds.")
    result = services.sign_in(username, password, seconds, request=request)
    if result is None:
        return _error(401, "Bad username or password.")
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
        return _error(401, "This token's user no longer exists.")
    return _json(services.user_node(user))
