"""Fixtures of the hosts tests: accounts and a rule factory."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_run_logs_at_exit():
    """Plugins left open by a test would write their run log at interpreter exit, after the test DB is gone."""
    yield
    from hosts import plugin

    with plugin._pending_lock:
        pending = list(plugin._pending)
    for item in pending:
        item.discard()


@pytest.fixture
def account(db):
    from hosts.models import Account

    acc = Account.objects.create(name="source-a", type="csv", address="/tmp/a.csv", password="s3cret-pw")
    acc.custom_fields.create(name="inventorize_key", value="inv_a")
    acc.custom_fields.create(name="delete_hosts", value="True")
    return acc


@pytest.fixture
def master_account(db):
    from hosts.models import Account

    return Account.objects.create(name="master", type="cmdb", is_master=True)


@pytest.fixture
def make_rule(db):
    """make_rule("custom"|"rewrite"|"filter", conditions=[{...}], outcomes=[{...}], **rule_fields)."""
    from hosts import models

    kinds = {
        "custom": (models.CustomAttributeRule, models.CustomAttributeCondition, models.CustomAttributeOutcome),
        "rewrite": (models.RewriteRule, models.RewriteCondition, models.RewriteOutcome),
        "filter": (models.FilterRule, models.FilterCondition, models.FilterOutcome),
    }

    def make(kind: str, conditions: list[dict[str, Any]] = (), outcomes: list[dict[str, Any]] = (), **fields):
        rule_model, condition_model, outcome_model = kinds[kind]
        fields.setdefault("name", f"{kind} rule")
        rule = rule_model.objects.create(**fields)
        for position, cond in enumerate(conditions):
            condition_model.objects.create(rule=rule, position=position, **cond)
        for position, out in enumerate(outcomes):
            outcome_model.objects.create(rule=rule, position=position, **out)
        return rule

    return make
