"""Fixtures of the page tests: rules (the hosts tests' factory) and a small host inventory."""

from __future__ import annotations

import pytest

from tests.hosts.conftest import make_rule  # noqa: F401 - re-exported fixture


@pytest.fixture
def inventory(db):
    """Four hosts in two accounts with labels; one stale, one disabled, one other object."""
    from hosts.models import Account, Host

    paris = Account.objects.create(name="paris-csv", type="csv")
    lyon = Account.objects.create(name="lyon-csv", type="csv")
    Host.objects.create(hostname="web01", labels={"site": "paris", "role": "web"}, account=paris)
    Host.objects.create(hostname="web02", labels={"site": "lyon", "role": "web"}, account=lyon, stale=True)
    Host.objects.create(hostname="db01", labels={"site": "paris", "role": "db", "port": 5432}, account=paris)
    Host.objects.create(hostname="misc", labels={"site": "paris"}, disabled=True)
    Host.objects.create(hostname="rack-1", labels={"site": "paris"}, is_object=True)
    return {"paris": paris, "lyon": lyon}
