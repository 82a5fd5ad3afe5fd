"""Property-based fuzz of every damas route (issue 12 §5): whatever the body, path or caller, the answer
is never a 5xx and always JSON. Bounded and derandomized, so it runs the same in CI on both databases."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker import services
from tracker.api import damas_urls

pytestmark = pytest.mark.django_db

# url name → (method, path; "{}" is a drawn path segment)
ROUTES = {
    "damas-create": ("POST", "create/"),
    "damas-read": ("POST", "read/"),
    "damas-read-ids": ("GET", "read/{}"),
    "damas-update": ("PUT", "update/"),
    "damas-upsert": ("POST", "upsert/"),
    "damas-delete": ("DELETE", "delete/"),
    "damas-search-empty": ("GET", "search/"),
    "damas-search": ("GET", "search/{}"),
    "damas-search-one-empty": ("GET", "search_one/"),
    "damas-search-one": ("GET", "search_one/{}"),
    "damas-search-mongo": ("POST", "search_mongo/"),
    "damas-graph-all": ("POST", "graph/"),
    "damas-graph": ("POST", "graph/{}/"),
    "damas-lock": ("PUT", "lock/"),
    "damas-unlock": ("PUT", "unlock/"),
    "damas-publish": ("POST", "publish/"),
    "damas-comment": ("POST", "comment/"),
    "damas-version-missing": ("POST", "version/"),
    "damas-version": ("POST", "version/{}"),
    "damas-signin": ("POST", "signIn/"),
    "damas-verify": ("GET", "verify/"),
    "damas-graph-ids": ("GET", "graph/0/{}"),
    "damas-file": ("GET", "file/{}"),
    "damas-upload": ("POST", "upload/"),
    "damas-create-token": ("POST", "createToken/"),
    "damas-tokens": ("GET", "tokens/"),
    "damas-token": ("DELETE", "tokens/{}"),
    "damas-lost-password": ("POST", "lostPassword/"),
    "damas-lost-password-email": ("GET", "lostPassword/{}"),
    "damas-change-password": ("POST", "changePassword/"),
    "damas-reset-password-body": ("POST", "resetPassword/"),
    "damas-reset-password": ("POST", "resetPassword/{}"),
}
# Routes that take form posts as well as JSON: fuzzed with every content type.
FORM_ROUTES = {
    "damas-signin",
    "damas-search-mongo",
    "damas-upload",
    "damas-create-token",
    "damas-lost-password",
    "damas-change-password",
    "damas-reset-password-body",
    "damas-reset-password",
}
CALLERS = [None, "guest", "user", "admin"]
FUZZ = settings(
    max_examples=30,
    deadline=timedelta(seconds=10),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Every character, with NUL and the query language's own characters made frequent, and often a lone
# UTF-16 surrogate at the end (Hypothesis itself draws surrogates in pairs).
ANY_TEXT = st.tuples(
    st.text(
        alphabet=st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from("\x00/:$_<>=()[]*+|\\ ,")),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["", "", "\ud800", "\udfff", "\udbff"]),
).map("".join)
KEYS = st.sampled_from(
    [
        "_id",
        "#parent",
        "origin",
        "comment",
        "query",
        "sort",
        "limit",
        "skip",
        "$or",
        "$and",
        "$in",
        "$nin",
        "$regex",
        "$not",
        "$exists",
        "$gt",
        "src_id",
        "tgt_id",
        "lock",
        "time",
        "author",
        "username",
        "password",
        "expiresIn",
        "name",
        "url",
        "k",
    ]
)
IDS = st.sampled_from(["/fz/file", "/fz/other", "/fz/", "fz-volume", "@fz-admin", "rsyncGlobalParameters", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    ANY_TEXT,
    IDS,
    st.sampled_from(["REGEX_(a+)+$", "(" * 300 + ")" * 300, "^/fz/", "x" * 600]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS | ANY_TEXT, children, max_size=5),
    max_leaves=25,
)
OBJECTS = st.dictionaries(st.one_of(KEYS, KEYS, ANY_TEXT), JSON_VALUES, min_size=1, max_size=6)
DEEP = st.integers(min_value=60, max_value=3000).map(lambda n: ("[" * n + "]" * n).encode())
JSON_BODIES = st.one_of(OBJECTS, OBJECTS, st.lists(OBJECTS, max_size=4), JSON_VALUES).map(
    lambda v: json.dumps(v).encode()
)
RAW_BODIES = st.one_of(
    st.binary(max_size=200), ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), DEEP, st.just(b"")
)
BODIES = st.one_of(JSON_BODIES, JSON_BODIES, JSON_BODIES, RAW_BODIES)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=fz",
        "text/plain",
    ]
)
SEGMENTS = ANY_TEXT | IDS | st.sampled_from(["k:/(a+)+$/", "_id:/^\\/fz\\//", "0", "-1", "99999999999999999999"])


def test_the_fuzz_covers_every_damas_route():
    assert {p.name for p in damas_urls.urlpatterns} == set(ROUTES)


@pytest.fixture
def callers(damas, client):
    """A DamasClient per caller class (None: no token at all) and a node, a volume to aim at."""
    services.create_volume("fz-volume", url="ssh://fz/p/")
    made = {cls: damas(f"fz-{cls}", cls) for cls in CALLERS if cls}
    anonymous = damas("fz-nobody", "guest")
    anonymous.token = None
    made[None] = anonymous
    made["admin"].create({"_id": "/fz/file", "origin": "fz-volume"})
    return made


def _check(response, what) -> None:
    assert response.status_code < 500, (what, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), (what, response["Content-Type"])
    json.loads(response.content)


def _send(api, method: str, path: str, body: bytes, content_type: str = "application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"} if api.token else {}
    return api.client.generic(method, f"/api/{path}", body, content_type=content_type, **headers)


def _segment(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="/,:") or "x"


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_fuzz_bodies_never_5xx(callers, name):
    method, template = ROUTES[name]
    path = template.format("fz") if "{}" in template else template

    @FUZZ
    @given(caller=st.sampled_from(CALLERS), body=BODIES, content_type=CONTENT_TYPES)
    def run(caller, body, content_type):
        content_type = content_type if name in FORM_ROUTES else "application/json"
        _check(_send(callers[caller], method, path, body, content_type), (name, caller, body[:100]))

    run()


@pytest.mark.parametrize("name", sorted(n for n, (_, t) in ROUTES.items() if "{}" in t))
def test_fuzz_paths_never_5xx(callers, name):
    method, template = ROUTES[name]

    @FUZZ
    @given(caller=st.sampled_from(CALLERS), segment=SEGMENTS, body=JSON_BODIES)
    def run(caller, segment, body):
        path = template.format(_segment(segment))
        _check(_send(callers[caller], method, path, body), (name, caller, path[:100]))

    run()
