"""The scanner's walk and comparison, on real folders (the tracker side is in test_agent.py)."""

from __future__ import annotations

import os

from tests.tracker_agent.conftest import write_file
from tracker.agent.scanner import PatternRules, compare, differs, split_patterns, walk_volume


def test_split_patterns():
    assert split_patterns("*.tmp, .DS_Store\n/render/cache/*\n# comment\n") == ["*.tmp", ".DS_Store", "/render/cache/*"]
    assert split_patterns(None) == [] and split_patterns(["a", " "]) == ["a"]


def test_walk_honours_rules_packages_and_skips_temp_and_links(tmp_path):
    root = tmp_path / "vol"
    write_file(root, "/p/a.exr", "aaaa", mtime=1_700_000_000.5)
    write_file(root, "/p/b.tmp", "b")
    write_file(root, "/p/.DS_Store", "x")
    write_file(root, "/render/cache/c.exr", "c")
    write_file(root, "/p/pkg/one", "1", mtime=1_700_000_001)
    write_file(root, "/p/pkg/sub/two", "22", mtime=1_700_000_005)
    write_file(root, "/p/.a.exr.Ab12Cd", "partial")  # rsync temp file
    write_file(root, "/.syncsite-partial/p/x", "partial")
    os.symlink("/etc/passwd", root / "p" / "link")
    rules = PatternRules(exclude="*.tmp, .DS_Store, /render/cache")
    walk = walk_volume(root, rules, packages={"/p/pkg/"}, skip_names={".syncsite-partial"})
    assert walk.files == {"/p/a.exr": (1_700_000_000_500, 4), "/p/pkg/": (1_700_000_005_000, 3)}
    assert walk.errors == []
    only_exr = walk_volume(root, PatternRules(include="*.exr"), skip_names={".syncsite-partial"})
    assert sorted(only_exr.files) == ["/p/a.exr", "/render/cache/c.exr"]
    no_packages = walk_volume(root, packages={"/p/pkg/"}, scan_packages=False, skip_names={".syncsite-partial"})
    assert "/p/pkg/" not in no_packages.files and "/p/pkg/one" not in no_packages.files


def test_differs_compares_size_then_mtime():
    assert not differs((1_700_000_000_500, 4), {"file_mtime": 1_700_000_000_500, "file_size": 4})
    assert differs((1_700_000_000_500, 5), {"file_mtime": 1_700_000_000_500, "file_size": 4})
    assert differs((1_700_000_000_501, 4), {"file_mtime": 1_700_000_000_500, "file_size": 4})
    assert not differs((1_700_000_000_900, 4), {"file_mtime": 1_700_000_000_000})  # second precision
    assert not differs((1, 1), {})


def test_compare_judges_only_copies_this_site_holds():
    walk = {
        "/new": (10, 1),
        "/old-new": (1, 1),
        "/same": (100, 5),
        "/changed": (200, 6),
        "/theirs-outdated": (5, 5),
        "/no-baseline": (7, 7),
    }
    nodes = [
        {"_id": "/same", "origin": "A", "time": 1, "file_mtime": 100, "file_size": 5},
        {"_id": "/changed", "origin": "B", "time": 1, "synced_A": 2, "file_mtime": 100, "file_size": 5},
        {"_id": "/theirs-outdated", "origin": "B", "time": 9, "synced_A": 2, "file_mtime": 100, "file_size": 5},
        {"_id": "/gone", "origin": "A", "time": 1, "file_mtime": 1, "file_size": 1},
        {"_id": "/never-here", "origin": "B", "time": 1},
        {"_id": "/in-flight", "origin": "B", "time": 1, "synced_A": 2, "syncing_A": 3},
        {"_id": "/was-deleted", "origin": "A", "time": 1, "deleted": True},
        {"_id": "/no-baseline", "origin": "A", "time": 1},
    ]
    diff = compare(dict(walk), nodes, "A")
    assert diff.new == [("/new", 10, 1), ("/old-new", 1, 1)]
    assert diff.modified == [("/changed", 200, 6)]
    assert diff.deleted == ["/gone"]
    assert diff.baseline == [("/no-baseline", 7, 7)]
    assert diff.unchanged == 1
    quiet = compare(dict(walk), nodes, "A", detect_modified=False, detect_deleted=False, new_since_ms=5)
    assert quiet.new == [("/new", 10, 1)] and quiet.modified == [] and quiet.deleted == []
