"""Every damas request is bounded (issue 12 §2): inputs over a limit are refused before any query runs,
queries past the time limit answer 503, numbers are exact and come back in their shortest form."""

from __future__ import annotations

import gzip
import json
import math
import re
import time
import tracemalloc

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from tracker import limits, services
from tracker.models import Node

pytestmark = pytest.mark.django_db
WRITE_ROUTES = [
    ("POST", "create/"),
    ("PUT", "update/"),
    ("POST", "upsert/"),
    ("POST", "publish/"),
]


def _node_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "tracker_node" in q["sql"]]


# --------------------------------------------------------------------------------------------- sizes


def test_body_over_the_limit_is_413_from_content_length_and_from_the_bytes(damas, settings):
    settings.TRACKER_MAX_BODY_BYTES = 1000
    api = damas("boss", "admin")
    status, body = api.call("POST", "create/", raw=json.dumps({"_id": "/big", "k": "x" * 2000}))
    assert status == 413 and "TRACKER_MAX_BODY_BYTES" in body["detail"]
    assert not Node.objects.filter(node_id="/big").exists()
    # A client that understates its Content-Length is cut at the limit all the same.
    request = RequestFactory().generic("POST", "/api/create/", b"[" + b"1," * 1000 + b"1]")
    request.META["CONTENT_LENGTH"] = "10"
    with pytest.raises(limits.TooLarge):
        limits.read_body(request)


def test_too_many_json_values_are_refused_before_parsing(damas, settings):
    settings.TRACKER_MAX_JSON_VALUES = 1000
    api = damas("boss", "admin")
    status, body = api.call("POST", "read/", raw=json.dumps([[] for _ in range(2000)]))
    assert status == 413 and "TRACKER_MAX_JSON_VALUES" in body["detail"]
    # Commas and brackets inside strings are not values.
    status, _ = api.call("POST", "create/", raw=json.dumps({"_id": "/commas", "text": ",[{" * 2000}))
    assert status == 201


@pytest.mark.parametrize(("method", "route"), WRITE_ROUTES)
def test_a_node_over_the_node_limit_is_413_and_nothing_is_written(damas, settings, method, route):
    settings.TRACKER_MAX_NODE_BYTES = 2000
    services.create_volume("x", url="ssh://x/p/")
    api = damas("boss", "admin")
    api.create({"_id": "/small", "origin": "x"})
    big = {"_id": "/small" if route == "update/" else "/huge", "origin": "x", "blob": "é" * 1500}
    status, body = api.call(method, route, [{"_id": "/other", "origin": "x"}, big])
    assert status == 413 and "TRACKER_MAX_NODE_BYTES" in body["detail"], body
    assert not Node.objects.filter(node_id__in=["/other", "/huge"]).exists()
    assert "blob" not in Node.objects.get(node_id="/small").data


def test_updates_that_grow_a_node_past_the_limit_are_refused(damas, settings):
    settings.TRACKER_MAX_NODE_BYTES = 2000
    api = damas("boss", "admin")
    api.create({"_id": "/grow"})
    assert api.update({"_id": "/grow", "a": "x" * 900})[0] == 200
    assert api.update({"_id": "/grow", "b": "x" * 900})[0] == 200
    status, body = api.update({"_id": "/grow", "c": "x" * 900})
    assert status == 413 and "TRACKER_MAX_NODE_BYTES" in body["detail"]
    assert "c" not in Node.objects.get(node_id="/grow").data
    assert api.update({"_id": "/grow", "a": None, "c": "x" * 900})[0] == 200  # removals make room
    status, _ = api.call("POST", "version//grow", {"d": "x" * 900})
    assert status == 413
    status, _ = api.comment({"#parent": "/grow", "comment": "x" * 3000})
    assert status == 413


def test_read_and_graph_answers_are_bounded_in_bytes(damas, settings):
    settings.TRACKER_MAX_NODE_BYTES = 1000
    settings.TRACKER_MAX_RESPONSE_BYTES = 20_000
    api = damas("boss", "admin")
    api.create([{"_id": f"/r/{i:02d}", "blob": "x" * 900} for i in range(40)])
    status, body = api.read([f"/r/{i:02d}" for i in range(40)])
    assert status == 413 and "TRACKER_MAX_RESPONSE_BYTES" in body["detail"]
    assert api.read([f"/r/{i:02d}" for i in range(10)])[0] == 200
    api.create([{"_id": "/hub"}, *({"_id": f"/e/{i:02d}", "src_id": "/hub", "blob": "x" * 900} for i in range(40))])
    status, body = api.graph(["/hub"])
    assert status == 413 and "TRACKER_MAX_RESPONSE_BYTES" in body["detail"]
    settings.TRACKER_MAX_ITEMS = 5
    status, body = api.get("read/" + ",".join(f"/r/{i:02d}" for i in range(6)))
    assert status == 400


# --------------------------------------------------------------------------------------------- bad text


BAD_BODIES = [
    ('{"_id": "/bad/x", "k": "\\ud800"}', "surrogate"),
    ('{"_id": "/bad/x", "\\udfff": 1}', "surrogate"),
    ('[{"_id": "/bad/x", "k": {"deep": ["ok", "\\udc00"]}}]', "surrogate"),
    ('{"_id": "/bad/x", "k": "\\ud83d"}', "surrogate"),  # the high half of a pair, alone
    ('{"_id": "/bad/x", "k": [{"a\\u0000b": 1}]}', "NUL"),
    ('{"_id": "/bad/x", "k": {"v": ["\\u0000"]}}', "NUL"),
    ('{"_id": "/bad/x", "k": ' + "[" * 5000 + "]" * 5000 + "}", "nested"),
    ('{"_id": "/bad/x", "k": ' + "[" * 100 + "]" * 100 + "}", "TRACKER_MAX_JSON_DEPTH"),
    ('{"_id": "/bad/x", "k": ' + '{"a":' * 900 + "1" + "}" * 900 + "}", "nested"),
    ('{"_id": "/bad/x", "k": 9007199254740992}', "2^53"),
    ('{"_id": "/bad/x", "k": -9007199254740992}', "2^53"),
    ('{"_id": "/bad/x", "k": 18446744073709551616}', "2^53"),
    ('{"_id": "/bad/x", "k": 1' + "0" * 5000 + "}", "2^53"),
    ('{"_id": "/bad/x", "k": 1e400}', "double"),
    ('{"_id": "/bad/x", "k": -1e400}', "double"),
    ('{"_id": "/bad/x", "k": NaN}', "NaN"),
    ('{"_id": "/bad/x", "k": Infinity}', "Infinity"),
    ('{"_id": "/bad/x", "k": -Infinity}', "Infinity"),
]
ALL_BODY_ROUTES = [
    *WRITE_ROUTES,
    ("POST", "read/"),
    ("DELETE", "delete/"),
    ("POST", "search_mongo/"),
    ("POST", "graph/0/"),
    ("PUT", "lock/"),
    ("PUT", "unlock/"),
    ("POST", "comment/"),
    ("POST", "version//bad/file"),
]


@pytest.mark.parametrize(("method", "route"), ALL_BODY_ROUTES)
def test_bad_text_numbers_and_nesting_are_400_on_every_body_route(damas, method, route):
    api = damas("boss", "admin")
    api.create({"_id": "/bad/file"})
    for raw, expected in BAD_BODIES:
        status, body = api.call(method, route, raw=raw)
        assert status == 400, (route, raw[:80], status, body)
        assert isinstance(body, dict) and expected.lower() in body["detail"].lower(), (route, raw[:80], body)
    # Raw UTF-8 bytes of a surrogate (json.loads would let them through).
    response = api.client.generic(
        method,
        f"/api/{route}",
        b'{"_id": "/bad/x", "k": "\xed\xa0\x80"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    assert response.status_code == 400 and "detail" in response.json()
    assert not Node.objects.filter(node_id="/bad/x").exists()
    assert Node.objects.get(node_id="/bad/file").data.get("k") is None


def test_surrogate_pairs_and_safe_numbers_are_kept(damas):
    api = damas("boss", "admin")
    status, node = api.call(
        "POST",
        "create/",
        raw='{"_id": "/ok", "emoji": "\\ud83d\\ude00", "max": 9007199254740991, "min": -9007199254740991}',
    )
    assert status == 201 and node["emoji"] == "😀" and node["max"] == 2**53 - 1 and node["min"] == -(2**53 - 1)


# --------------------------------------------------------------------------------------------- queries


DEEP_GROUP = "(" * 5000 + "a" + ")" * 5000


@pytest.mark.parametrize(
    "query",
    [
        {"$or": [{"k": i} for i in range(101)]},
        {"$and": [{"k": i} for i in range(101)]},
        {"$nor": [{"k": i} for i in range(101)]},
        {"k": {"$in": list(range(101))}},
        {"k": {"$nin": list(range(101))}},
        {f"k{i}": i for i in range(600)},
        {"$or": [{"$or": [{"$or": [{"k": {"$in": list(range(90))}}] * 9}] * 9}]},
        {"k": {"$not": {"$not": {"$not": {"$not": {"$not": {"$not": {"$not": {"$not": {"$not": 1}}}}}}}}}},
        {"k": {"$regex": "a" * 600}},
        {"k": {"$regex": DEEP_GROUP}},
        {"k": "REGEX_" + DEEP_GROUP},
        {"k": {"$not": DEEP_GROUP}},
        {"k": {"$regex": "(a+)+$"}},
        {"k": {"$regex": "(a|aa)*b"}},
        {"_id": {"$regex": "^/x/(\\w*)*$"}},
        {"k": {"$regex": "(?:x{2,}){3,}"}},
        {"k": {"$regex": "(("}},
        {"_id": {"$in": [f"/id/{i}" for i in range(10_001)]}},
    ],
)
def test_queries_over_a_limit_are_400_before_any_query(damas, query):
    api = damas("boss", "guest")
    with CaptureQueriesContext(connection) as captured:
        status, body = api.search_mongo(query)
    assert status == 400 and body["detail"], (query, status, body)
    assert _node_queries(captured) == []


def test_queries_within_the_limits_answer(damas):
    api = damas("boss", "admin")
    api.create([{"_id": f"/id/{i}", "k": i} for i in range(20)])
    assert api.search_mongo({"_id": {"$in": [f"/id/{i}" for i in range(5000)]}})[1]["count"] == 20
    assert api.search_mongo({"$or": [{"k": i} for i in range(100)]})[1]["count"] == 20
    assert api.search_mongo({"_id": {"$regex": "^/id/(1|2)$"}})[1]["ids"] == ["/id/1", "/id/2"]
    assert api.search_mongo({"_id": {"$regex": "^/id/[0-9]{1,2}$"}})[1]["count"] == 20
    status, body = api.search_mongo({}, {f"k{i}": 1 for i in range(101)})
    assert status == 400 and "sort" in body["detail"]


def test_conditions_that_read_the_node_data_are_bounded(damas):
    """PostgreSQL may hold a copy of a row's data per condition: 500 conditions on a 1 MiB node took 520 MB."""
    api = damas("boss", "guest")
    with CaptureQueriesContext(connection) as captured:
        status, body = api.search_mongo({"$or": [{f"k{i}": {"$regex": "^x"}} for i in range(40)]})
        assert status == 400 and "TRACKER_MAX_QUERY_CONDITIONS" in body["detail"]
        status, body = api.search_mongo({}, {f"k{i}": 1 for i in range(40)})
        assert status == 400 and "TRACKER_MAX_QUERY_CONDITIONS" in body["detail"]
        status, body = api.get("search/" + " ".join(f"k{i}:{i}" for i in range(70)))
        assert status == 400 and "TRACKER_MAX_QUERY_CONDITIONS" in body["detail"]
    assert _node_queries(captured) == []
    assert api.search_mongo({"k": {"$in": list(range(100))}})[0] == 200  # one condition, whatever its length


def test_in_matches_what_the_equalities_match(damas):
    api = damas("boss", "admin")
    values = [5, 5.0, "5", True, False, [1], {"b": 2}, "x", 0, None, "", 2.5]
    api.create([{"_id": f"/in/{i:02d}", "k": v} for i, v in enumerate(values) if v is not None])
    api.create([{"_id": "/in/none"}, {"_id": "/in/other", "origin": "paris", "#parent": "/in/00"}])
    total = api.search_mongo({})[1]["count"]
    for probe in ([5], ["5", True], [[1], {"b": 2}], [None, "x"], [0, False, ""], ["REGEX_^x", 2.5], values):
        answer = api.search_mongo({"k": {"$in": probe}})
        assert answer[0] == 200, (probe, answer)
        with_in = answer[1]["ids"]
        with_or = api.search_mongo({"$or": [{"k": v} for v in probe]})[1]["ids"]
        assert with_in == with_or, probe
        if None not in probe:
            assert api.search_mongo({"k": {"$nin": probe}})[1]["count"] == total - len(with_in), probe
    assert api.search_mongo({"origin": {"$in": ["paris", 1]}})[1]["ids"] == ["/in/other"]
    assert api.search_mongo({"#parent": {"$in": ["/in/00"]}})[1]["ids"] == ["/in/other"]


@pytest.mark.parametrize(
    "query",
    [
        " ".join(f"k{i}:1" for i in range(101)),
        "k:/" + DEEP_GROUP + "/",
        "k:/" + "a" * 600 + "/",
        "k:/(a+)+$/",
        "_id:/^(a|b)*$/i",
    ],
)
def test_text_searches_over_a_limit_are_400(damas, query):
    api = damas("boss", "guest")
    for route in ("search", "search_one"):
        with CaptureQueriesContext(connection) as captured:
            status, body = api.get(f"{route}/{query}")
        assert status == 400 and body["detail"], (route, query[:60], body)
        assert _node_queries(captured) == []


def test_search_pages_are_bounded(damas, settings):
    settings.TRACKER_MAX_PAGE_SIZE = 5
    api = damas("boss", "admin")
    api.create([{"_id": f"/p/{i}", "k": 1} for i in range(8)])
    status, body = api.search("k:1")
    assert status == 400 and "TRACKER_MAX_PAGE_SIZE" in body["detail"]
    assert api.search("_id:/p/1")[1] == ["/p/1"]
    assert api.search_mongo({"k": 1})[1] == {"count": 8, "ids": [f"/p/{i}" for i in range(5)]}
    assert api.search_mongo({"k": 1}, None, 100, 5)[1] == {"count": 8, "ids": ["/p/5", "/p/6", "/p/7"]}
    assert api.search_mongo({"k": 1}, None, 2, 0)[1] == {"count": 8, "ids": ["/p/0", "/p/1"]}


# --------------------------------------------------------------------------------------------- the pathological query


def test_pathological_or_over_a_huge_node_never_reaches_the_database(damas, settings):
    """The query that took a PostgreSQL backend to 22 GB: a guest's 10,000-term $or over a 10 MB node."""
    settings.TRACKER_MAX_NODE_BYTES = 16 * 1024 * 1024
    services.create_nodes([{"_id": "/huge", **{f"key{i}": "v" * 1000 for i in range(10_000)}}])
    settings.TRACKER_MAX_NODE_BYTES = 1024 * 1024
    api = damas("guest", "guest")
    query = {"$or": [{f"key{i}": "v" * 20} for i in range(10_000)]}
    tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as captured:
            status, body = api.search_mongo(query)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 400 and "TRACKER_MAX_QUERY_TERMS" in body["detail"]
    assert _node_queries(captured) == []
    assert peak < 40 * 1024 * 1024, f"the refused request peaked at {peak} bytes"


# --------------------------------------------------------------------------------------------- time limit


def _slow_search(api):
    return api.search_mongo({"$or": [{"k": {"$regex": f"^z{i}[a-y]+$"}} for i in range(25)]})


@pytest.mark.django_db(transaction=True)
def test_a_query_past_the_time_limit_is_503_naming_the_limit(damas, settings):
    api = damas("boss", "guest")
    services.create_nodes([{"_id": f"/slow/{i:05d}", "k": "abcdefghij" * 20} for i in range(4000)])
    assert _slow_search(api)[0] == 200
    settings.TRACKER_STATEMENT_TIMEOUT_MS = 1
    status, body = _slow_search(api)
    assert status == 503 and "TRACKER_STATEMENT_TIMEOUT_MS" in body["detail"], body
    settings.TRACKER_STATEMENT_TIMEOUT_MS = 10_000
    assert api.search_mongo({"_id": "/slow/00001"})[1]["ids"] == ["/slow/00001"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"  # the request's own setting did not outlive it


def test_no_statement_starts_after_the_request_deadline(settings):
    """A request of many short statements (a deep graph walk) is bounded too, not only each statement."""
    settings.TRACKER_STATEMENT_TIMEOUT_MS = 20
    with pytest.raises(limits.TimeLimitReached), limits.time_limit():
        Node.objects.count()
        time.sleep(0.05)
        Node.objects.count()
    assert Node.objects.count() >= 0  # the connection is fine afterwards


# --------------------------------------------------------------------------------------------- numbers


EXTREME_NUMBERS = {
    "big": 1e308,
    "small": 1e-300,
    "largest": 1.7976931348623157e308,
    "tiniest": 5e-324,
    "negative": -2.5e300,
    "twenty": 1e20,
    "third": 1 / 3,
    "safe": 2**53 - 1,
    "unsafe_neg": -(2**53 - 1),
    "nested": {"list": [1e308, -1e-300, 0.1]},
}


def _assert_same_numbers(data: dict) -> None:
    for key, value in EXTREME_NUMBERS.items():
        assert data[key] == value and type(data[key]) is type(value), (key, data[key])


def test_extreme_floats_come_back_in_their_shortest_form(damas):
    api = damas("boss", "admin")
    assert api.create({"_id": "/floats", **EXTREME_NUMBERS})[0] == 201
    response = api.client.post(
        "/api/read/", json.dumps("/floats"), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1e+308" in text and "1e-300" in text and not re.search(r"\d{40}", text), text[:300]
    _assert_same_numbers(response.json())
    assert api.search_mongo({"big": 1e308})[1]["ids"] == ["/floats"]
    assert api.search_mongo({"small": {"$lt": 1e-299, "$gt": 0}})[1]["ids"] == ["/floats"]


def test_extreme_floats_round_trip_through_the_replication_route(damas, settings):
    """/sync/tracker serves them in their shortest form and a pulling site stores them back unchanged."""
    from syncsite.sync_routes import route
    from synctools.client import Applier

    settings.SYNCTOOL_API_TOKEN = "sync-token-for-numbers"
    api = damas("boss", "admin")
    services.create_volume("x", url="ssh://x/p/")
    assert api.publish({"_id": "/floats", "origin": "x", **EXTREME_NUMBERS})[0] == 201
    view = next(p.callback for p in route.urlpatterns if "tracker" in p.pattern.regex.pattern)
    request = RequestFactory().get("/sync/tracker", HTTP_AUTHORIZATION="Basic c3luYy10b2tlbi1mb3ItbnVtYmVyczo=")
    response = view(request)
    assert response.status_code == 200
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    text = raw.decode()
    assert "1e+308" in text and not re.search(r"\d{40}", text)
    entries = json.loads(text)
    served = next(e for e in entries if e["model"] == "tracker.node" and e["fields"]["node_id"] == "/floats")
    _assert_same_numbers(served["fields"]["data"])
    Node.objects.filter(node_id="/floats").delete()
    with transaction.atomic(), connection.constraint_checks_disabled():
        applier = Applier("numbers-test", using="default", clean=False)
        for entry in entries:
            applier.add(entry)
        applier.finish()
    status, node = api.read("/floats")
    assert status == 200
    _assert_same_numbers(node)
    assert math.isclose(node["third"], 1 / 3)
