"""The rsync runner with the real rsync binary: batches, packages, failures, verification, ssh."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import require_binary
from tests.tracker_agent.conftest import write_file
from tracker.agent import rsync
from tracker.agent.volumes import parse_volume_url

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _rsync_installed():
    require_binary("rsync")


@pytest.fixture
def volumes(tmp_path):
    src, dst = tmp_path / "A", tmp_path / "B"
    src.mkdir()
    dst.mkdir()
    return src, dst


def test_one_batch_copies_files_and_packages(volumes):
    src, dst = volumes
    write_file(src, "/p/one.txt", "one", mtime=1_600_000_000)
    write_file(src, "/p/deep/two.bin", os.urandom(5000))
    write_file(src, "/p/pkg/a.txt", "a")
    write_file(src, "/p/pkg/sub/b.txt", "bb")
    result = rsync.copy_batch(
        parse_volume_url(str(src)), parse_volume_url(str(dst)), ["/p/one.txt", "/p/deep/two.bin", "/p/pkg/"]
    )
    assert result.errors == []
    assert sorted(result.synced) == ["/p/deep/two.bin", "/p/one.txt", "/p/pkg/"]
    assert result.commands == 1
    assert (dst / "p/one.txt").read_text() == "one"
    assert (dst / "p/one.txt").stat().st_mtime == 1_600_000_000
    assert (dst / "p/deep/two.bin").read_bytes() == (src / "p/deep/two.bin").read_bytes()
    assert (dst / "p/pkg/sub/b.txt").read_text() == "bb"
    # Already there: still reported synced (rsync lists unchanged files with -ii), nothing copied.
    again = rsync.copy_batch(parse_volume_url(str(src)), parse_volume_url(str(dst)), ["/p/one.txt", "/p/pkg/"])
    assert sorted(again.synced) == ["/p/one.txt", "/p/pkg/"]


def test_missing_and_unreadable_sources_fail_alone(volumes):
    src, dst = volumes
    write_file(src, "/ok.txt", "fine")
    write_file(src, "/folder/inside.txt", "x")
    locked = write_file(src, "/locked.txt", "secret")
    locked.chmod(0)
    ids = ["/ok.txt", "/missing.txt", "/folder", "/nofolder/"]
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        ids.append("/locked.txt")
    result = rsync.copy_batch(parse_volume_url(str(src)), parse_volume_url(str(dst)), ids)
    assert result.synced == ["/ok.txt"]
    assert result.returncode == 23
    errors = {node_id: (code, message) for node_id, code, message in result.errors}
    assert errors["/missing.txt"][0] == 23 and "missing.txt" in errors["/missing.txt"][1]
    assert errors["/nofolder/"][0] == 23
    assert errors["/folder"][0] == 23  # a folder published without its trailing / is not a file
    if "/locked.txt" in ids:
        assert errors["/locked.txt"][0] == 23
    assert (dst / "ok.txt").read_text() == "fine"
    assert result.commands == 2  # the copy, then a dry run confirming the files that look right


def test_unsafe_paths_never_reach_rsync(volumes, tmp_path):
    src, dst = volumes
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not copy")
    os.symlink(outside, src / "door")
    os.symlink(outside, dst / "trap")
    write_file(src, "/pkg/f", "f")
    os.symlink("/etc", src / "pkg" / "etc")
    result = rsync.copy_batch(
        parse_volume_url(str(src)),
        parse_volume_url(str(dst)),
        ["/../outside/secret", "/door/secret", "/trap/evil.txt", "/pkg/", "/a//b", "relative"],
    )
    assert result.synced == []
    assert {code for _, code, _ in result.errors} == {rsync.UNSAFE_PATH}
    assert len(result.errors) == 6
    assert result.commands == 0
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_forbidden_and_bad_rsync_args_are_config_errors(volumes):
    src, dst = volumes
    write_file(src, "/f", "x")
    for args in ("--inplace", "--partial", "--delete", "--remove-source-files", "/other/dest", "-e", "-e ssh"):
        result = rsync.copy_batch(parse_volume_url(str(src)), parse_volume_url(str(dst)), ["/f"], rsync_args=args)
        assert result.errors == [("/f", rsync.CONFIG_ERROR, result.stderr)], args
    for env in ("NOEQUALS", "X=1", "RSYNC_RSH=sh"):
        bad_env = rsync.copy_batch(parse_volume_url(str(src)), parse_volume_url(str(dst)), ["/f"], rsync_env=env)
        assert bad_env.errors[0][1] == rsync.CONFIG_ERROR, env
    ok = rsync.copy_batch(
        parse_volume_url(str(src)),
        parse_volume_url(str(dst)),
        ["/f"],
        rsync_args="--chmod=F644",
        rsync_env="RSYNC_PROXY=proxy.invalid:3128",
    )
    assert ok.synced == ["/f"]


def test_rsync_failure_exit_code_applies_to_the_batch(volumes, tmp_path):
    src, dst = volumes
    write_file(src, "/f", "x")
    unreachable = parse_volume_url("ssh://nobody@127.0.0.1:1/nowhere")
    result = rsync.copy_batch(unreachable, parse_volume_url(str(dst)), ["/f"])  # ssh runs with BatchMode=yes
    assert result.synced == []
    assert result.errors[0][1] in (12, 255)  # ssh could not connect (rsync reports 255, or 12 in a race)
    assert result.errors[0][2]
    both_remote = rsync.copy_batch(unreachable, unreachable, ["/f"])
    assert both_remote.errors[0][1] == rsync.CONFIG_ERROR


def test_excluded_files_are_not_transferred(volumes):
    src, dst = volumes
    write_file(src, "/pkg/keep.txt", "k")
    write_file(src, "/pkg/drop.tmp", "d")
    write_file(src, "/alone.tmp", "d")
    result = rsync.copy_batch(
        parse_volume_url(str(src)), parse_volume_url(str(dst)), ["/pkg/", "/alone.tmp"], excludes=["*.tmp"]
    )
    assert result.synced == ["/pkg/"]
    assert result.errors[0][:2] == ("/alone.tmp", rsync.NOT_TRANSFERRED)
    assert sorted(p.name for p in (dst / "pkg").iterdir()) == ["keep.txt"]


def test_interrupted_copy_never_leaves_the_final_name(volumes):
    """Kill rsync mid-file: the destination has no file under the final name, only rsync's partial data."""
    src, dst = volumes
    big = write_file(src, "/big.bin", b"")
    with big.open("wb") as handle:
        for _ in range(64):
            handle.write(os.urandom(1 << 20))
    batch = rsync.RsyncBatch(parse_volume_url(str(src)), parse_volume_url(str(dst)), rsync_args="--bwlimit=4m")
    proc = subprocess.Popen(batch.command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc.stdin.write(b"big.bin")
    proc.stdin.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(p.name.startswith(".big.bin.") for p in dst.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert not (dst / "big.bin").exists()
    partial = dst / ".syncsite-partial" / "big.bin"
    assert partial.exists() and 0 < partial.stat().st_size < big.stat().st_size
    # The next batch resumes and finishes under the final name.
    result = rsync.copy_batch(parse_volume_url(str(src)), parse_volume_url(str(dst)), ["/big.bin"])
    assert result.synced == ["/big.bin"]
    assert (dst / "big.bin").stat().st_size == big.stat().st_size
    assert not partial.exists()


def test_size_check_catches_a_destination_that_does_not_match(volumes, monkeypatch):
    src, dst = volumes
    write_file(src, "/f", "12345")
    batch = rsync.RsyncBatch(parse_volume_url(str(src)), parse_volume_url(str(dst)))
    real_run = batch._run

    def run_then_truncate(rels, *, dry_run=False):
        outcome = real_run(rels, dry_run=dry_run)
        (dst / "f").write_text("1")  # the destination changes behind rsync's back
        return outcome

    monkeypatch.setattr(batch, "_run", run_then_truncate)
    result = batch.copy(["/f"])
    assert result.synced == []
    assert result.errors[0][:2] == ("/f", rsync.SIZE_MISMATCH)


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_rsync_over_ssh(volumes, agent_ssh, direction):
    ssh_server = agent_ssh  # ssh options come from the agent's settings only
    src, dst = volumes
    write_file(src, "/shots/s01.exr", os.urandom(3000))
    write_file(src, "/shots/pkg/x.txt", "x")
    if direction == "pull":
        source, destination = parse_volume_url(ssh_server.url(src)), parse_volume_url(str(dst))
    else:
        source, destination = parse_volume_url(str(src)), parse_volume_url(ssh_server.url(dst))
    result = rsync.copy_batch(source, destination, ["/shots/s01.exr", "/shots/pkg/", "/shots/none"])
    assert sorted(result.synced) == ["/shots/pkg/", "/shots/s01.exr"], result.stderr
    assert result.errors[0][:2] == ("/shots/none", 23)
    assert (dst / "shots/s01.exr").read_bytes() == (src / "shots/s01.exr").read_bytes()
    assert (dst / "shots/pkg/x.txt").read_text() == "x"


def test_parse_rsync_args_short_option_clusters():
    # No remote shell from a volume any more: -e/--rsh are refused like any option off the allow-list.
    assert rsync.parse_rsync_args("-avz --chmod=F644") == ["-avz", "--chmod=F644"]
    for bad in ("-aP", "-an", "-ai", "-e", "-av -e", "-ze 'ssh -i k'", "-essh", "--rsh='ssh -x' -v"):
        with pytest.raises(rsync.RsyncConfigError):
            rsync.parse_rsync_args(bad)


def test_remote_shell_comes_only_from_the_agent_settings(volumes, settings, monkeypatch):
    src, _ = volumes
    settings.TRACKER_AGENT_SSH_IDENTITY_FILE = "/etc/syncsite/key"
    settings.TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE = "/etc/syncsite/known_hosts"
    monkeypatch.setenv("RSYNC_RSH", "sh -c 'touch /tmp/never'")
    monkeypatch.setenv("RSYNC_CONNECT_PROG", "sh")
    batch = rsync.RsyncBatch(
        parse_volume_url(str(src)), parse_volume_url("ssh://sync@host.example:2222/p/"), rsync_args="-z"
    )
    command = batch.command()
    assert all(isinstance(word, str) for word in command)
    assert command.count("-e") == 1
    assert command[command.index("-e") + 1] == (
        "ssh -o BatchMode=yes -i /etc/syncsite/key -o IdentitiesOnly=yes"
        " -o UserKnownHostsFile=/etc/syncsite/known_hosts -p 2222"
    )
    assert "RSYNC_RSH" not in batch.env and "RSYNC_CONNECT_PROG" not in batch.env


def test_rsync_runs_without_a_shell():
    """Every process the agent starts gets an argument list: no shell=True, no os.system, no shell string."""
    import inspect

    from tracker.agent import runner, scanner

    for module in (rsync, runner, scanner):
        source = inspect.getsource(module)
        assert "shell=True" not in source and "os.system" not in source and "os.popen" not in source
