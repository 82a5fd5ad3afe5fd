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
