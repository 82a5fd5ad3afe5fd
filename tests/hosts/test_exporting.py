"""The shared export base (syncerapi.v1.exporting): diff, stale limit, chunks, the run log."""

from __future__ import annotations

import pytest

from syncerapi.v1.core import Plugin
from syncerapi.v1.exporting import ExportError, ExportResult, chunked, delete_policy, plan_changes


def difference(wanted, existing):
    return {k: v for k, v in wanted.items() if existing.get(k) != v}


def test_plan_sorts_create_update_unchanged_and_deletes_only_managed_stale():
    plan = plan_changes(
        {"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 3}},
        {"b": {"x": 2}, "c": {"x": 0}, "d": {}, "foreign": {}},
        difference,
        managed=["b", "c", "d"],
        config={"delete_stale": "true"},
    )
    assert plan.create == {"a": {"x": 1}} and plan.update == {"c": {"x": 3}} and plan.unchanged == 1
    assert plan.delete == ["d"] and not plan.over_limit
    assert [str(change) for change in plan.changes()] == ["create a: {'x': 1}", "update c: {'x': 3}", "delete d"]


def test_nothing_changed_is_an_empty_plan():
    plan = plan_changes({"a": {"x": 1}}, {"a": {"x": 1}}, difference, managed=["a"])
    assert plan.empty and plan.unchanged == 1


def test_stale_limit_as_the_importers_apply_it(settings):
    settings.HOSTS_IMPORT_DELETE_LIMIT = 2
    managed = ["s1", "s2", "s3"]
    current = {key: {} for key in managed}
    kept = plan_changes({}, current, difference, managed=managed, config={"delete_hosts": "1"})
    assert kept.delete == [] and kept.over_limit and "exceed the delete limit 2" in kept.refused_delete
    forced = plan_changes({}, current, difference, managed=managed, config={"delete_hosts": "1"}, force_delete=True)
    assert forced.delete == managed
    no_delete = plan_changes({}, current, difference, managed=managed, config={})
    assert no_delete.delete == [] and not no_delete.over_limit and no_delete.stale == 3
    assert delete_policy({"delete_stale": "yes", "delete_limit": "7"}) == (True, 7)
    with pytest.raises(ExportError, match="not a number"):
        delete_policy({"delete_limit": "many"})


def test_chunked():
    assert list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunked([], 500)) == []


@pytest.mark.django_db
def test_one_log_entry_with_counts_and_errors():
    from hosts.models import LogEntry

    plugin = Plugin()
    plugin.name, plugin.source = "test export", "test_export"
    result = ExportResult(created=2, unchanged=5, activation_id="abc")
    result.errors.append("host x: refused")
    result.log_into(plugin)
    plugin.close()
    entry = LogEntry.objects.get(source="test_export")
    details = dict(entry.details)
    assert details["created"] == 2 and details["unchanged"] == 5 and details["activation_id"] == "abc"
    assert entry.has_error and result.summary() == "created 2, updated 0, deleted 0, unchanged 5, activation abc"
