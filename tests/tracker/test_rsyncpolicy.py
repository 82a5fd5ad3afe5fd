"""One rsync policy for the admin form, the tracker's write path and the agent: allow-listed options and
environment names, one url parser."""

from __future__ import annotations

import pytest

from tests.tracker.conftest import volume_form
from tracker import rsyncpolicy, services
from tracker.agent import rsync as agent_rsync
from tracker.agent.volumes import parse_volume_url
from tracker.models import Volume

ALLOWED_ARGS = [
    "-a",
    "-avz",
    "-rlptgoD",
    "-zc --bwlimit=10000",
    "--bwlimit=4m --timeout=30 --contimeout=5",
    "--compress-level=9 --chmod=Du=rwx,Fu=rw,go-w",
    "--checksum --size-only --ignore-times --numeric-ids",
    "--no-perms --no-owner --no-group --no-D --no-times --no-compress",
    "-HAXS --one-file-system --omit-dir-times",
    "--max-size=10G --min-size=1k --modify-window=2",
    "--compress-choice=zstd --checksum-choice=xxh128",
    "'--bwlimit=1m'",
]
REFUSED_ARGS = [
    "-e",
    "-e ssh",
    "-essh",
    "-ze 'ssh -i k'",
    "--rsh=ssh",
    "--rsh 'sh -c id'",
    "-e \"sh -c 'touch /tmp/PWNED'\"",
    "--rsync-path='sh -c id'",
    "--rsync-path=/bin/sh",
    "--files-from=/etc/passwd",
    "--include-from=/etc/shadow",
    "--exclude-from=/etc/shadow",
    "--filter='merge /etc/passwd'",
    "-f 'merge /etc/passwd'",
    "-F",
    "--log-file=/tmp/x",
    "--log-file-format=%n",
    "--write-batch=/tmp/b",
    "--only-write-batch=/tmp/b",
    "--read-batch=/tmp/b",
    "--temp-dir=/tmp",
    "-T /tmp",
    "--partial-dir=/tmp",
    "--backup-dir=/tmp",
    "--backup",
    "-b",
    "--link-dest=/etc",
    "--copy-dest=/etc",
    "--compare-dest=/etc",
    "--password-file=/etc/shadow",
    "--out-format=%n",
    "--log-format=%n",
    "--inplace",
    "--partial",
    "-P",
    "--append",
    "--delete",
    "--del",
    "--delete-after",
    "--remove-source-files",
    "--dry-run",
    "-n",
    "-i",
    "-q",
    "-L",
    "--copy-links",
    "--copy-unsafe-links",
    "-K",
    "--keep-dirlinks",
    "--no-recursive",
    "--no-r",
    "--bwlimit",
    "--bwlimit=1;id",
    "--chmod=$(id)",
    "--timeout=abc",
    "--daemon",
    "--server",
    "--config=/etc/x",
    "--sockopts=x",
    "--address=1.2.3.4",
    "--port=873",
    "--iconv=x",
    "--usermap=x:y",
    "--groupmap=x:y",
    "--chown=root:root",
    "--checksum-seed=1",
    "--write-devices",
    "--mkpath",
    "--no-safe-links",
    "--munge-links",
    "/other/dest",
    "host:/dest",
    "'unterminated",
    "-a\n-e",
]


@pytest.mark.parametrize("args", ALLOWED_ARGS)
def test_allowed_rsync_args(args):
    assert rsyncpolicy.parse_rsync_args(args)


@pytest.mark.parametrize("args", REFUSED_ARGS)
def test_refused_rsync_args(args):
    with pytest.raises(rsyncpolicy.RsyncConfigError):
        rsyncpolicy.parse_rsync_args(args)


def test_short_clusters_are_read_letter_by_letter():
    assert rsyncpolicy.parse_rsync_args("-avz") == ["-avz"]
    for cluster in ("-avze", "-aT", "-avf", "-aB", "-a0", "-ab", "-au"):
        with pytest.raises(rsyncpolicy.RsyncConfigError, match="contains -"):
            rsyncpolicy.parse_rsync_args(cluster)


@pytest.mark.parametrize(
    "env",
    [
        "RSYNC_RSH=sh",
        "RSYNC_CONNECT_PROG='sh -c id'",
        "LD_PRELOAD=/tmp/x.so",
        "LD_LIBRARY_PATH=/tmp",
        "PATH=/tmp",
        "HOME=/tmp",
        "SSH_AUTH_SOCK=/tmp/s",
        "RSYNC_PASSWORD=ok LD_PRELOAD=/x.so",
        "NOEQUALS",
        "1BAD=x",
        "'unterminated",
    ],
)
def test_refused_rsync_env(env):
    with pytest.raises(rsyncpolicy.RsyncConfigError):
        rsyncpolicy.parse_rsync_env(env)


def test_allowed_rsync_env():
    assert rsyncpolicy.parse_rsync_env("RSYNC_PASSWORD='a b' RSYNC_PROXY=proxy:3128") == {
        "RSYNC_PASSWORD": "a b",
        "RSYNC_PROXY": "proxy:3128",
    }
    assert rsyncpolicy.parse_rsync_env({"RSYNC_PASSWORD": "x"}) == {"RSYNC_PASSWORD": "x"}
    with pytest.raises(rsyncpolicy.RsyncConfigError):
        rsyncpolicy.parse_rsync_env({"LD_PRELOAD": "x"})


@pytest.mark.parametrize(
    "url",
    [
        "rsync://host/module/",
        "ssh://-oProxyCommand=id/p",
        "ssh://h/p;id",
        "ssh://h/p/$(id)",
        "ssh://h/p `id`",
        "ssh://user:pw@h/p",
        "ssh://-l@h/p",
        "ssh://h/p?x=1",
        "ssh://h:0/p",
        "http://x/y",
        "file://remote/x",
        "relative/path",
        "/a\nb",
        "/a\x7fb",
        "",
    ],
)
def test_urls_refused_by_admin_agent_and_services_alike(url, admin_client, db):
    with pytest.raises(rsyncpolicy.VolumeURLError):
        rsyncpolicy.parse_url(url)
    with pytest.raises(rsyncpolicy.VolumeURLError):
        parse_volume_url(url)
    if url:
        with pytest.raises(services.InvalidInput):
            services.create_volume("v", url=url)
        response = admin_client.post("/admin/tracker/volume/add/", volume_form(url=url))
        assert response.status_code == 200 and not Volume.objects.exists()


@pytest.mark.parametrize("url", ["/srv/x", "file:///srv/x", "ssh://sync@host.example:2222/project/", "ssh://[::1]/p"])
def test_urls_accepted_alike(url, db):
    assert rsyncpolicy.parse_url(url).path
    assert parse_volume_url(url).path
    assert services.create_volume("v", url=url)["url"] == url


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rsync_args", "-e \"sh -c 'touch /tmp/PWNED'\""),
        ("rsync_args", "--rsync-path=/bin/sh"),
        ("rsync_args", "--files-from=/etc/passwd"),
        ("rsync_env", "RSYNC_RSH=sh"),
        ("rsync_env", "LD_PRELOAD=/tmp/x.so"),
    ],
)
def test_the_three_doors_refuse_the_same_values(admin_client, damas, db, field, value):
    with pytest.raises(rsyncpolicy.RsyncConfigError):
        getattr(rsyncpolicy, f"parse_{field}")(value)
    response = admin_client.post("/admin/tracker/volume/add/", volume_form(**{field: value}))
    assert response.status_code == 200 and not Volume.objects.exists()
    admin = damas("boss", "admin")
    status, body = admin.create({"_id": "sit/v", "name": "v", "url": "/srv/v", field: value})
    assert status == 400 and field in body["detail"]
    services.create_volume("v2", url="/srv/v2")
    assert admin.update({"_id": "v2", field: value})[0] == 400
    assert admin.version("v2", {field: value})[0] == 400
    assert field not in services.get_volume("v2")
    batch = agent_rsync.copy_batch(parse_volume_url("/srv/a"), parse_volume_url("/srv/b"), ["/f"], **{field: value})
    assert batch.errors == [("/f", agent_rsync.CONFIG_ERROR, batch.stderr)]


def test_admin_form_accepts_allowed_values(admin_client, db):
    response = admin_client.post("/admin/tracker/volume/add/", volume_form(rsync_args="-avz --bwlimit=4m"))
    assert response.status_code == 302, response.content
    assert services.get_volume("oslo")["rsync_args"] == "-avz --bwlimit=4m"


def test_status_updates_of_a_volume_with_an_old_bad_value_still_work(db):
    services.create_volume("old", url="/srv/old")
    Volume.objects.filter(node_id="old").update(data={"name": "old", "url": "/srv/old", "rsync_args": "-e sh"})
    assert services.update_volume("old", {"agentStatus": "on"})["agentStatus"] == "on"
    with pytest.raises(services.InvalidInput):
        services.update_volume("old", {"rsync_args": "-e sh -z"})
