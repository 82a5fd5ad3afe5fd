"""The tracker's pages: a file's page (readable state, error text, history, lock/unlock/comment through the
permission matrix), the path tree, Syncthing-fed sites as columns, live refresh fragments."""

from __future__ import annotations

import pytest

from tests.tracker_agent.conftest import make_site, publish_file  # noqa: F401 - fixture
from tracker import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(make_site):  # noqa: F811
    a = make_site("A", enableReception=False)
    make_site("B")
    publish_file(a, "/show/seq/shot010.exr", b"x" * 3000, file_size=3 * 1024 * 1024)
    publish_file(a, "/show/seq/shot020.exr")
    publish_file(a, "/show/edit.mov")
    services.mark_error("/show/seq/shot020.exr", "B", 23, "rsync: link_stat failed\r\nsecond line")
    return a


def file_url(path: str) -> str:
    return f"/tracker/file/?id={path}"


def test_file_page_is_readable(client, admin_user, files):
    client.force_login(admin_user)
    html = client.get(file_url("/show/seq/shot010.exr")).content.decode()
    assert "3.0 MiB" in html
    assert '<time datetime="' in html and "UTC" in html  # human text, exact time on hover
    html = client.get(file_url("/show/seq/shot020.exr")).content.decode()
    assert "exit 23" in html
    assert "rsync: link_stat failed\r\nsecond line" in html  # the text itself, not an escaped \r\n
    assert 'title="B: error, exit code 23' in html and ">!</span>" in html  # a letter, not only a colour


def test_lock_comment_unlock_through_the_matrix(client, django_user_model, files):
    bob = django_user_model.objects.create_user("bob", password="bob-pass-1234")
    carol = django_user_model.objects.create_user("carol", password="carol-pass-1234")
    client.force_login(bob)
    path = "/show/edit.mov"
    assert 'value="lock"' in client.get(file_url(path)).content.decode()
    response = client.post("/tracker/file/action/", {"id": path, "action": "lock"})
    assert response.status_code == 302
    assert services.read_nodes([path])[0]["lock"] == "bob"
    client.post("/tracker/file/action/", {"id": path, "action": "comment", "comment": "retimed, see notes"})
    html = client.get(file_url(path)).content.decode()
    assert "retimed, see notes" in html and "locked by bob" in html and 'value="unlock"' in html

    client.force_login(carol)  # someone else's lock: no unlock button, and the service refuses
    html = client.get(file_url(path)).content.decode()
    assert 'value="unlock"' not in html and 'value="lock"' not in html
    client.post("/tracker/file/action/", {"id": path, "action": "unlock"})
    assert services.read_nodes([path])[0]["lock"] == "bob"

    client.force_login(bob)
    client.post("/tracker/file/action/", {"id": path, "action": "unlock"})
    assert "lock" not in services.read_nodes([path])[0]


def test_guests_may_not_lock_or_comment(client, django_user_model, files):
    guest = django_user_model.objects.create_user("guest", password="guest-pass-1234")
    services.set_user_class(guest, "guest")
    client.force_login(guest)
    path = "/show/edit.mov"
    html = client.get(file_url(path)).content.decode()
    assert 'id="file-actions"' not in html
    assert client.post("/tracker/file/action/", {"id": path, "action": "lock"}).status_code == 403
    assert client.post("/tracker/file/action/", {"id": path, "action": "comment", "comment": "x"}).status_code == 403
    assert "lock" not in services.read_nodes([path])[0]
    assert len(services.children_of(path)) == 1  # the publish's version only


def test_tree_browses_folders_with_the_same_filters(client, admin_user, files):
    client.force_login(admin_user)
    html = client.get("/tracker/tree/?prefix=/show/").content.decode()
    assert 'data-path="/show/edit.mov"' in html and 'href="?prefix=%2Fshow%2Fseq%2F">seq/</a>' in html
    html = client.get("/tracker/tree/?prefix=/show/seq/&site=B&state=error").content.decode()
    assert 'data-path="/show/seq/shot020.exr"' in html and 'data-path="/show/seq/shot010.exr"' not in html
    assert 'site=B&amp;state=error&amp;prefix=/show/">show/</a>' in html  # breadcrumbs keep the filters
    assert client.get("/tracker/tree/?prefix=nope").status_code == 200  # the form says why


def test_tree_is_keyset_paged(client, admin_user, files, django_assert_max_num_queries):
    from tracker import monitoring

    for i in range(monitoring.PAGE_SIZE + 5):
        publish_file(files, f"/bulk/f{i:03}.exr")
    client.force_login(admin_user)
    with django_assert_max_num_queries(12):
        html = client.get("/tracker/tree/?prefix=/bulk/").content.decode()
    assert html.count("<tr data-path=") == monitoring.PAGE_SIZE
    assert "after=%2Fbulk%2Ff049.exr" in html


def test_syncthing_fed_sites_are_columns(client, admin_user, files):
    from syncthing_bridge.models import SyncthingInstance

    SyncthingInstance.objects.create(name="studio-st", url="http://127.0.0.1:1", site="ST")
    services.mark_synced_many(["/show/edit.mov"], "ST")
    client.force_login(admin_user)
    html = client.get("/tracker/").content.decode()
    assert "<th>ST</th>" in html
    assert 'data-site="ST" data-status="synced"' in html


def test_tracker_live_fragment(client, admin_user, files):
    client.force_login(admin_user)
    page = client.get("/tracker/?site=B").content.decode()
    assert 'data-live-url="?site=B&amp;fragment=1"' in page and "data-live-toggle" in page
    fragment = client.get("/tracker/?site=B&fragment=1").content.decode()
    assert "<header" not in fragment and 'id="files"' in fragment
