"""Both search languages against a reference set of nodes, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tracker import services
from tracker.models import Node
from tracker.query import QueryError, mongo_order, mongo_query, text_query

pytestmark = pytest.mark.django_db

REFERENCE = [
    {"_id": "/shots/s01.exr", "origin": "paris", "size": 10, "tag": "hero", "time": 1000, "file_size": 5},
    {"_id": "/shots/s02.exr", "origin": "tokyo", "size": 9, "tag": "Hero", "time": 2000, "synced_paris": 3000},
    {"_id": "/shots/sub/s03.exr", "origin": "paris", "size": 100, "tag": "bg", "time": 3000, "deleted": True},
    {"_id": "/shotsX/s04.exr", "origin": "paris", "size": "10", "time": 4000},
    {"_id": "/assets/a.tx", "origin": "lima", "size": 2.5, "tag": ["hero", "bg"], "time": 5000, "flag": False},
    {"_id": "note-1", "#parent": "/shots/s01.exr", "comment": "looks good", "time": 6000},
    {"_id": "other", "name": "x", "meta": {"a": 1}, "time": 7000, "flag": True},
]


@pytest.fixture
def reference(db):
    for item in REFERENCE:
        assert not isinstance(services.create_nodes([dict(item)])[0], services.TrackerError)


def ids(q, order=("node_id",)) -> list[str]:
    return list(Node.objects.filter(q).order_by(*order).values_list("node_id", flat=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("origin:paris", ["/shots/s01.exr", "/shots/sub/s03.exr", "/shotsX/s04.exr"]),
        ("origin:paris size:10", ["/shots/s01.exr", "/shotsX/s04.exr"]),  # number 10 and string "10"
        (r"_id:/^\/shots\//", ["/shots/s01.exr", "/shots/s02.exr", "/shots/sub/s03.exr"]),
        ("_id:/^/shots/sub/", ["/shots/sub/s03.exr"]),
        (r"_id:/s0[12]\.exr$/", ["/shots/s01.exr", "/shots/s02.exr"]),
        ("tag:/^hero$/i", ["/shots/s01.exr", "/shots/s02.exr"]),
        ("tag:/^hero$/", ["/shots/s01.exr"]),
        ("size>9", ["/shots/sub/s03.exr", "/shots/s01.exr"]),
        ("size>=9 size<100", ["/shots/s01.exr", "/shots/s02.exr"]),
        ("size<=2.5", ["/assets/a.tx"]),
        ("time>5000", ["note-1", "other"]),
        ("deleted:true", ["/shots/sub/s03.exr"]),
        ("flag:false", ["/assets/a.tx"]),
        ("#parent:/shots/s01.exr", ["note-1"]),
        ("_id:other", ["other"]),
        ("comment:/good/", ["note-1"]),
        ("_id>/shotsX", ["/shotsX/s04.exr", "note-1", "other"]),
    ],
)
def test_text_language(reference, query, expected):
    assert sorted(ids(text_query(query))) == sorted(expected)


@pytest.mark.parametrize("bad", ["", "   ", "novalue", "_id:/[/"])
def test_text_language_errors(bad):
    with pytest.raises(QueryError):
        text_query(bad)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"origin": "paris", "size": 10}, ["/shots/s01.exr"]),
        (
            {"synced_paris": {"$exists": False}, "origin": {"$ne": "paris"}, "deleted": {"$ne": True}},
            ["/assets/a.tx", "note-1", "other"],
        ),
        ({"synced_paris": {"$exists": True}}, ["/shots/s02.exr"]),
        ({"size": {"$gt": 9, "$lte": 100}}, ["/shots/s01.exr", "/shots/sub/s03.exr"]),
        ({"size": {"$lt": "2"}}, ["/shotsX/s04.exr"]),  # strings compare with strings only
        ({"size": {"$in": [9, "10"]}}, ["/shots/s02.exr", "/shotsX/s04.exr"]),
        ({"origin": {"$nin": ["paris", "tokyo"]}, "time": {"$lt": 6000}}, ["/assets/a.tx"]),
        ({"tag": {"$regex": "^HER", "$options": "i"}}, ["/shots/s01.exr", "/shots/s02.exr"]),
        ({"tag": "REGEX_^h"}, ["/shots/s01.exr"]),
        ({"_id": "REGEX_^/shots/s"}, ["/shots/s01.exr", "/shots/s02.exr", "/shots/sub/s03.exr"]),
        ({"$or": [{"origin": "lima"}, {"size": 9}]}, ["/assets/a.tx", "/shots/s02.exr"]),
        ({"$and": [{"origin": "paris"}, {"size": {"$not": {"$gte": 10}}}]}, ["/shotsX/s04.exr"]),
        ({"$nor": [{"origin": "paris"}, {"time": {"$gte": 5000}}]}, ["/shots/s02.exr"]),
        ({"_id": {"$in": ["other", "nope"]}}, ["other"]),
        ({"meta": {"a": 1}}, ["other"]),
        ({"flag": False}, ["/assets/a.tx"]),
        ({"flag": {"$eq": True}}, ["other"]),
        ({"size": {"$ne": 10}, "origin": "paris"}, ["/shots/sub/s03.exr", "/shotsX/s04.exr"]),
        ({"#parent": "/shots/s01.exr"}, ["note-1"]),
        ({"deleted": None, "origin": "paris"}, ["/shots/s01.exr", "/shotsX/s04.exr"]),
        ({"_id": {"$regex": "^/shots/s0"}}, ["/shots/s01.exr", "/shots/s02.exr"]),
        ({"_id": {"$gte": "/shots/s02", "$lt": "/shotsX"}}, ["/shots/s02.exr", "/shots/sub/s03.exr"]),
    ],
)
def test_mongo_language(reference, query, expected):
    assert sorted(ids(mongo_query(query))) == sorted(expected)


@pytest.mark.parametrize(
    "bad",
    [
        "x",
        {"$where": "1"},
        {"a": {"$foo": 1}},
        {"a": {"$in": 3}},
        {"$or": []},
        {"a": {"$regex": "("}},
        {"a": {"$gt": None}},
    ],
)
def test_mongo_language_errors(bad):
    with pytest.raises(QueryError):
        mongo_query(bad)


def test_mongo_sort(reference):
    q = mongo_query({"origin": {"$exists": True}})
    assert ids(q, mongo_order({"time": -1}))[:2] == ["/assets/a.tx", "/shotsX/s04.exr"]
    assert ids(q, mongo_order({"size": 1}))[0] == "/assets/a.tx"
    assert ids(q, mongo_order({"_id": -1}))[0] == "/shotsX/s04.exr"
    with pytest.raises(QueryError):
        mongo_order({"time": 2})
