"""The monitoring page: filters, colours, totals, a file's history, bounded queries."""

from __future__ import annotations

import pytest

from tests.tracker_agent.conftest import publish_file
from tracker import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def states(make_site):
    """A file in each state at B; C wants only some of them."""
    a, _b, _c = make_site("A", enableReception=False), make_site("B"), make_site("C")
    publish_file(a, "/proj/synced.exr")
    publish_file(a, "/proj/outdated.exr")
    publish_file(a, "/proj/syncing.exr")
    publish_file(a, "/proj/error.exr")
    publish_file(a, "/proj/unwanted.exr", syncEverywhere=False, sync_C=True)
    publish_file(a, "/other/missing.exr")
    services.mark_synced("/proj/synced.exr", "B")
    services.mark_synced("/proj/outdated.exr", "B", when=1)
    services.mark_syncing("/proj/syncing.exr", "B")
    services.mark_error("/proj/error.exr", "B", 23, "rsync: link_stat failed")
    services.update_volume("B", {"agentStatus": "on", "agentVersion": "1.0.0", "last_scan": 1_700_000_000_000})
    return a


def cells_of(html: str, site: str) -> dict[str, str]:
    """path -> css class of the site's cell, from the rendered table."""
    import re

    found = {}
    for row in re.findall(r'<tr data-path="([^"]+)">(.*?)</tr>', html, flags=re.S):
        path, body = row
        match = re.search(rf'class="state state-(\w+)" data-site="{site}"', body)
        if match:
            found[path] = match.group(1)
    return found


def test_login_required(client):
    response = client.get("/tracker/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_colours_filters_and_totals(client, admin_user, states):
    client.force_login(admin_user)
    html = client.get("/tracker/").content.decode()
    assert cells_of(html, "B") == {
        "/other/missing.exr": "outdated",
        "/proj/error.exr": "error",
        "/proj/outdated.exr": "outdated",
        "/proj/synced.exr": "synced",
        "/proj/syncing.exr": "syncing",
        "/proj/unwanted.exr": "unwanted",
    }
    assert cells_of(html, "A")["/proj/synced.exr"] == "synced"  # the origin holds it
    assert cells_of(html, "C")["/proj/unwanted.exr"] == "outdated"  # wanted at C, not there yet
    assert 'title="B: error, exit code 23' in html
    assert 'data-site="B"' in html and "v1.0.0" in html
    assert "6 files tracked" in html
    for state, expected in {
        "synced": ["/proj/synced.exr"],
        "outdated": ["/other/missing.exr", "/proj/outdated.exr"],
        "syncing": ["/proj/syncing.exr"],
        "error": ["/proj/error.exr"],
        "unwanted": ["/proj/unwanted.exr"],
    }.items():
        page = client.get("/tracker/", {"site": "B", "state": state}).content.decode()
        assert sorted(cells_of(page, "B")) == expected, state
        assert "state-" in page
    prefixed = client.get("/tracker/", {"prefix": "/other/"}).content.decode()
    assert list(cells_of(prefixed, "B")) == ["/other/missing.exr"]
    origin = client.get("/tracker/", {"site": "A", "state": "origin", "prefix": "/proj/"}).content.decode()
    assert len(cells_of(origin, "A")) == 5


def test_bad_filters_are_form_errors_not_500(client, admin_user, states):
    client.force_login(admin_user)
    for query in ({"state": "error"}, {"prefix": "no-slash"}, {"site": "nowhere"}, {"state": "bogus", "site": "B"}):
        response = client.get("/tracker/", query)
        assert response.status_code == 200
        assert "errorlist" in response.content.decode()


def test_paging_uses_a_fixed_number_of_queries(client, admin_user, make_site, django_assert_max_num_queries):
    from tracker import monitoring

    a = make_site("A", enableReception=False)
    make_site("B")
    make_site("C")
    services.publish_many(
        [{"_id": f"/p/f{i:03}", "origin": "A", "comment": "x"} for i in range(monitoring.PAGE_SIZE + 5)],
        author="alice",
    )
    assert a
    client.force_login(admin_user)
    client.get("/tracker/")  # warm the session and the totals cache
    with django_assert_max_num_queries(12):
        first = client.get("/tracker/").content.decode()
    assert len(cells_of(first, "B")) == monitoring.PAGE_SIZE
    assert 'id="next-page"' in first
    with django_assert_max_num_queries(12):
        second = client.get("/tracker/", {"after": f"/p/f{monitoring.PAGE_SIZE - 1:03}"}).content.decode()
    assert sorted(cells_of(second, "B")) == [
        f"/p/f{i:03}" for i in range(monitoring.PAGE_SIZE, monitoring.PAGE_SIZE + 5)
    ]
    assert 'id="next-page"' not in second


def test_file_history(client, admin_user, states):
    client.force_login(admin_user)
    services.comment_nodes({"#parent": "/proj/error.exr", "comment": "looked at it"}, services.actor_for(admin_user))
    page = client.get("/tracker/file/", {"id": "/proj/error.exr"}).content.decode()
    assert "new" in page and "looked at it" in page
    assert 'class="state state-error" data-site="B"' in page
    assert client.get("/tracker/file/", {"id": "/nope"}).status_code == 404
    assert client.get("/tracker/file/").status_code == 404


def test_author_mode_hides_other_peoples_files(client, django_user_model, make_site, settings):
    settings.TRACKER_AUTHOR_MODE = True
    a = make_site("A", enableReception=False)
    make_site("B")
    publish_file(a, "/mine.exr")  # author alice
    services.publish("/theirs.exr", origin="A", author="bob")
    alice = django_user_model.objects.create_user("alice", password="pw-alice-12345")
    client.force_login(alice)
    page = client.get("/tracker/").content.decode()
    assert list(cells_of(page, "B")) == ["/mine.exr"]
    assert client.get("/tracker/file/", {"id": "/theirs.exr"}).status_code == 404
    assert client.get("/tracker/file/", {"id": "/mine.exr"}).status_code == 200
