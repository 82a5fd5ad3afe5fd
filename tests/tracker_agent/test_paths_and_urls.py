"""Path safety and volume URLs: what a tracker path or a volume url may and may not do."""

import os

import pytest

from tracker.agent.paths import UnsafePath, check_tree, local_target, relative_path
from tracker.agent.volumes import VolumeURLError, parse_volume_url


@pytest.mark.parametrize(
    ("node_id", "expected"),
    [("/a/b.txt", "a/b.txt"), ("/proj/pkg/", "proj/pkg/"), ("/x", "x"), ("/a b/c'd", "a b/c'd")],
)
def test_relative_path_accepts_clean_ids(node_id, expected):
    assert relative_path(node_id) == expected


@pytest.mark.parametrize(
    "node_id",
    ["", "a/b", "/", "//", "/a/../b", "/..", "/a/..", "/./a", "/a//b", "/a/\x00", "/a\\..\\b", "/" + "x" * 5000],
)
def test_relative_path_rejects_escapes(node_id):
    with pytest.raises(UnsafePath):
        relative_path(node_id)


def test_local_target_refuses_symlinks_pointing_out(tmp_path):
    root = tmp_path / "vol"
    outside = tmp_path / "outside"
    (root / "proj").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("no")
    os.symlink(outside, root / "proj" / "door")
    os.symlink(outside / "secret", root / "proj" / "leak")
    os.symlink(root / "proj", root / "inner")
    assert local_target(root, "/proj/new.txt") == root.resolve() / "proj" / "new.txt"
    assert local_target(root, "/inner/x") == root.resolve() / "inner" / "x"  # a link that stays inside is fine
    for bad in ("/proj/door/secret", "/proj/door/", "/proj/leak", "/proj/door/new/deeper.txt"):
        with pytest.raises(UnsafePath):
            local_target(root, bad)


def test_check_tree_refuses_a_package_with_a_link_out(tmp_path):
    root = tmp_path / "vol"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "sub" / "f").write_text("x")
    check_tree(root, "/pkg/")
    os.symlink("/etc/passwd", root / "pkg" / "sub" / "passwd")
    with pytest.raises(UnsafePath):
        check_tree(root, "/pkg/")


def test_parse_local_and_ssh_urls():
    local = parse_volume_url("/srv/studio/")
    assert not local.is_remote and local.rsync_root() == "/srv/studio/"
    assert parse_volume_url("file:///srv/x").rsync_root() == "/srv/x/"
    remote = parse_volume_url("ssh://alice@host.example:2222/project/")
    assert remote.is_remote and (remote.user, remote.host, remote.port, remote.path) == (
        "alice",
        "host.example",
        2222,
        "/project/",
    )
    assert remote.rsync_root() == "alice@host.example:/project/"
    assert remote.rsh_command() == "ssh -p 2222"
    assert remote.rsh_command("ssh -i '/k ey'") == "ssh -i '/k ey' -p 2222"
    assert parse_volume_url("ssh://h/p").rsh_command() == "ssh"
    assert parse_volume_url("ssh://[::1]:22/p").rsync_root() == "[::1]:/p/"


@pytest.mark.parametrize(
    "url", ["", "relative/path", "http://x/y", "ssh:///nohost", "ssh://h:notaport/p", "ssh://h", "ssh://h/", "/a\nb"]
)
def test_parse_rejects_unusable_urls(url):
    with pytest.raises(VolumeURLError):
        parse_volume_url(url)


def test_volume_guard_agrees_with_local_target(tmp_path):
    from tracker.agent.paths import VolumeGuard

    root = tmp_path / "vol"
    (root / "proj" / "real").mkdir(parents=True)
    os.symlink(tmp_path, root / "proj" / "door")
    os.symlink(root / "proj" / "real", root / "proj" / "inside")
    os.symlink("/etc/hostname", root / "proj" / "real" / "leak")
    guard = VolumeGuard(root)
    for node_id in ("/proj/real/a", "/proj/inside/b", "/proj/new/deeper/c", "/proj/door/x", "/proj/real/leak"):
        try:
            expected = str(local_target(root, node_id))
        except UnsafePath:
            with pytest.raises(UnsafePath):
                guard.target(node_id)
            continue
        assert guard.target(node_id) == expected
