"""Glob rules and deletion switches are judged at write time: a rule that does not parse is a clear 400."""

from __future__ import annotations

import pytest

from tracker import services
from tracker.rsyncpolicy import PatternRuleError, parse_pattern_rules

pytestmark = pytest.mark.django_db


def test_globs_parse_and_rsync_rule_syntax_is_refused():
    assert parse_pattern_rules("*.tmp, /render/cache/*\n# a comment\n.DS_Store,[!a]x") == [
        "*.tmp",
        "/render/cache/*",
        ".DS_Store",
        "[!a]x",
    ]
    assert parse_pattern_rules(["*.exr", "include.txt"]) == ["*.exr", "include.txt"]
    for bad in ("merge /etc/passwd", "dir-merge .rules", "- *.tmp", "+ *", "!", "*.[ab", "a]b", "a\\b", "/a//b"):
        with pytest.raises(PatternRuleError):
            parse_pattern_rules(bad)
    with pytest.raises(PatternRuleError):
        parse_pattern_rules(42)


def test_bad_rule_through_the_api_is_a_400_and_nothing_is_written(damas):
    admin = damas("root", "admin")
    status, body = admin.upsert({"_id": "rsyncGlobalParameters", "excludePatternRules": "*.tmp"})
    assert status == 200, body
    status, body = admin.update({"_id": "rsyncGlobalParameters", "excludePatternRules": "merge /etc/shadow"})
    assert status == 400 and "filter rule" in body["detail"], body
    status, body = admin.update({"_id": "rsyncGlobalParameters", "includePatternRules": "*.[exr"})
    assert status == 400 and "unclosed [" in body["detail"], body
    assert services.global_parameters()["excludePatternRules"] == "*.tmp"
    assert "includePatternRules" not in services.get_node("rsyncGlobalParameters")


def test_volume_deletion_switches_are_typed(damas):
    admin = damas("root", "admin")
    services.create_volume("B", url="/srv/b")
    status, body = admin.update({"_id": "B", "enableDeletion": "yes"})
    assert status == 400 and "enableDeletion" in body["detail"]
    status, body = admin.update({"_id": "B", "deletionMaxPerRound": -1})
    assert status == 400 and "deletionMaxPerRound" in body["detail"]
    status, _ = admin.update({"_id": "B", "enableDeletion": True, "deletionMaxPerRound": 10, "trashRetentionDays": 7})
    assert status == 200
    with pytest.raises(services.InvalidInput):
        services.set_global_parameters({"excludedFiles": "[x"})
