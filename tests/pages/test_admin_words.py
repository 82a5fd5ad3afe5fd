"""The admin speaks in words and carries the site's name."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_admin_is_branded_and_labelled_in_words(client, admin_user):
    client.force_login(admin_user)
    index = client.get("/admin/").content.decode()
    assert "Syncsite administration" in index
    assert "Tracker user classes" in index and "Syncthing devices" in index
    form = client.get("/admin/tracker/volume/add/").content.decode()
    assert "Sync amount for reception" in form and "Syncamountreception" not in form


def test_node_admin_shows_times_in_words_and_error_text(client, admin_user, tmp_path):
    from tracker import services
    from tracker.models import Node

    services.create_volume("A", url=str(tmp_path), enableReception=False)
    services.create_volume("B", url=str(tmp_path / "b"))
    services.publish("/adm/f.exr", origin="A", author="alice")
    services.mark_error("/adm/f.exr", "B", 23, "rsync: failed\r\nsecond line")
    client.force_login(admin_user)
    node = Node.objects.get(node_id="/adm/f.exr")
    html = client.get(f"/admin/tracker/node/{node.pk}/change/").content.decode()
    assert "UTC" in html and "rsync: failed\r\nsecond line" in html
    listing = client.get("/admin/tracker/node/").content.decode()
    assert "UTC" in listing and str(node.time) not in listing  # no epoch milliseconds
