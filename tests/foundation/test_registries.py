"""What apps declare in their AppConfig: dashboard cards (registered in ready()) and hosts plugin modules."""

from __future__ import annotations

import pytest

from syncsite import dashboard


def test_every_app_offers_its_cards_in_installed_apps_order():
    # the site's own entry ("needs attention") first, then the apps in INSTALLED_APPS order
    assert dashboard.registered() == ["syncsite", "hosts", "tracker", "syncthing_bridge", "synctools"]


@pytest.mark.django_db
def test_a_registered_app_is_asked_in_its_installed_apps_place():
    dashboard.register("auth", cards=lambda: [{"key": "users", "title": "Users", "count": 0, "url": "", "note": ""}])
    try:
        assert dashboard.registered()[0] == "auth"
        cards, sections = dashboard.collect()
        assert cards[0]["key"] == "users" and {"hosts", "accounts", "synctools"} <= {c["key"] for c in cards}
        assert all({"template", "data"} <= set(section) for section in sections)
    finally:
        dashboard.unregister("auth")
    assert "auth" not in dashboard.registered()


def test_plugins_are_declared_by_the_apps_and_loaded_at_startup():
    from hosts import discovery

    declared = discovery.candidate_modules()
    for module in (
        "hosts.plugins.accounts",
        "hosts.plugins.exports",
        "hosts.plugins.importers",
        "syncthing_bridge.plugins.inventory",
    ):
        assert module in declared and module in discovery.loaded_plugins(), module
