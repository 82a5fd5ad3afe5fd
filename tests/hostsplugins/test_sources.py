"""The source readers on real files and a real local HTTP server: shapes, options and precise errors."""

from __future__ import annotations

import functools

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from hosts.normalize import NormalisedRows, Normaliser
from hosts.plugins.sources import SourceError, fetch_json_rows, read_csv, read_json_file, read_yaml_groups
from tests.conftest import free_port

from .conftest import PASSWORD, TOKEN, USERNAME

HOSTS = [{"hostname": "web1.example.com", "os": "linux"}, {"hostname": "db1", "os": "bsd", "rack": 4}]
request = functools.partial(requests.request, timeout=5)


# --- CSV -----------------------------------------------------------------------------------------------


def test_csv_reads_every_column_but_the_hostname_as_labels(tmp_path):
    path = tmp_path / "hosts.csv"
    path.write_text("host,os,site\nweb1.example.com,linux,dc1\n\ndb1, bsd ,dc2\n")
    assert read_csv(path) == [
        ("web1.example.com", {"os": "linux", "site": "dc1"}),
        ("db1", {"os": " bsd ", "site": "dc2"}),
    ]


def test_csv_with_delimiter_hostname_column_and_encoding(tmp_path):
    path = tmp_path / "hosts.csv"
    path.write_bytes("name;city\nsrv1;Köln\n".encode("latin-1"))
    assert read_csv(path, delimiter=";", hostname_column="name", encoding="latin-1") == [("srv1", {"city": "Köln"})]


def test_csv_quoted_fields_and_bom(tmp_path):
    path = tmp_path / "hosts.csv"
    path.write_text('\ufeffhost,note\nsrv1,"a, b ""c"""\n', encoding="utf-8")
    assert read_csv(path) == [("srv1", {"note": 'a, b "c"'})]


def test_csv_empty_hostname_is_kept_for_the_import_to_skip(tmp_path):
    path = tmp_path / "hosts.csv"
    path.write_text("host,os\n,linux\n")
    assert read_csv(path) == [("", {"os": "linux"})]


TRICKY_CSV = (
    "Host, OS Name ,os name, ,Site\n"  # two columns with the same normal key (the last wins), one with an empty key
    "Web1.Example.COM, linux , bsd ,dropped, dc1 \n"
    "\n"
    " db1 ,a,b,c,\n"
    ",no,name,at,all\n"
    "web1.example.com,x,y,z,dc2\n"
    ",again,no,name,\n"
)


@pytest.mark.parametrize(
    "settings_override", [{}, {"HOSTS_LOWERCASE_HOSTNAMES": False, "HOSTS_LABEL_REPLACERS": [(" ", "-")]}]
)
def test_csv_normalised_while_read_equals_rows_normalised_by_the_import(tmp_path, settings, settings_override):
    for key, value in settings_override.items():
        setattr(settings, key, value)
    path = tmp_path / "hosts.csv"
    path.write_text(TRICKY_CSV)
    normaliser = Normaliser()
    expected: dict[str, dict] = {}
    for name, labels in read_csv(path, hostname_column="Host"):
        expected[normaliser.hostname(name) or ""] = normaliser.labels(labels)
    rows = read_csv(path, hostname_column="Host", normalise=True)
    assert isinstance(rows, NormalisedRows) and rows.rules == normaliser.rules
    assert dict(rows) == expected
    assert list(dict(rows)) == list(expected)  # the first row of a repeated hostname keeps its place
    assert (len(rows), rows.repeated, rows.first_empty) == (5, 5 - len(expected), 3)  # the empty row, repeats


def test_csv_hostnames_are_checked_as_the_import_will_see_them(tmp_path, settings):
    settings.HOSTS_HOSTNAME_PATTERN = r"^[a-z0-9.]+$"
    path = tmp_path / "hosts.csv"
    path.write_text("host,os\nWEB1.example.com,linux\n")
    assert read_csv(path) == [("WEB1.example.com", {"os": "linux"})]  # kept as it is, valid once lowercased
    assert dict(read_csv(path, normalise=True)) == {"web1.example.com": {"os": "linux"}}
    settings.HOSTS_LOWERCASE_HOSTNAMES = False
    for normalise in (False, True):
        with pytest.raises(SourceError, match=r"line 2 column 'host': invalid hostname 'WEB1\.example\.com'"):
            read_csv(path, normalise=normalise)


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("name,os\nsrv1,linux\n", {}, "no hostname column 'host' in the header (columns: name, os"),
        ("host;os\nsrv1;linux\n", {}, "no hostname column 'host' in the header (columns: host;os; delimiter ','"),
        ("", {}, "empty file, expected a header row with the column 'host'"),
        ("host,os\nsrv1,linux,extra\n", {}, "line 2: 3 fields, the header has 2"),
        ("host,os\nsrv1\n", {}, "line 2: 1 fields, the header has 2"),
        ('host,os\nsrv1,"linux\n', {}, "malformed CSV: unexpected end of data"),
        ('host,os\nsrv1,"linux"x\n', {}, "line 2: malformed CSV: ',' expected after '\"'"),
        ("host,os\nbad host!,linux\n", {}, "line 2 column 'host': invalid hostname 'bad host!'"),
        ("host,os,os\nsrv1,a,b\n", {}, "line 1: duplicate column(s) os"),
        ("host,os\n", {"delimiter": ";;"}, "the CSV delimiter must be one character"),
        ("host,os\n", {"encoding": "no-such-codec"}, "unknown encoding 'no-such-codec'"),
    ],
)
@pytest.mark.parametrize("normalise", [False, True])
def test_csv_errors_say_where_and_why(tmp_path, content, kwargs, message, normalise):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(SourceError) as caught:
        read_csv(path, normalise=normalise, **kwargs)
    assert message in str(caught.value)
    assert str(path) in str(caught.value) or "delimiter" in message


def test_csv_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "hosts.csv"
    path.write_bytes(b"host,city\nsrv1,ok\nsrv2,K\xf6ln\n")
    with pytest.raises(SourceError, match=r"line 3: not valid utf-8 text .*set the encoding"):
        read_csv(path)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match=r"nope\.csv: file not found"):
        read_csv(tmp_path / "nope.csv")


# --- JSON file ------------------------------------------------------------------------------------------


def test_json_list_of_objects(tmp_path):
    path = tmp_path / "hosts.json"
    path.write_text('[{"hostname": "web1.example.com", "os": "linux"}, {"hostname": "db1", "os": "bsd", "rack": 4}]')
    assert read_json_file(path) == [("web1.example.com", {"os": "linux"}), ("db1", {"os": "bsd", "rack": 4})]


def test_json_mapping_with_data_key_and_custom_hostname_key(tmp_path):
    path = tmp_path / "hosts.json"
    path.write_text('{"result": {"items": [{"fqdn": "a1", "x": 1}]}, "count": 1}')
    assert read_json_file(path, data_key="result.items", hostname_key="fqdn") == [("a1", {"x": 1})]
    path.write_text('{"hosts": {"a1": {"x": 1}, "a2": null}}')
    assert read_json_file(path, data_key="hosts") == [("a1", {"x": 1}), ("a2", {})]


def test_json_labels_key_reads_an_export_back(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('[{"hostname": "a1", "attributes": {"os": "linux"}}]')
    assert read_json_file(path, labels_key="attributes") == [("a1", {"os": "linux"})]


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ('[{"hostname": "a1",}]', {}, "line 1 column 20: malformed JSON: Expecting property name"),
        (
            '{"a": 1}',
            {"data_key": "result.hosts"},
            "data_key 'result.hosts' not found: no key 'result' at the top level (keys: a)",
        ),
        ('{"result": [1]}', {"data_key": "result.hosts"}, "result is a list, not an object"),
        ('"just text"', {}, "expected a list of host objects or an object mapping hostnames to labels, got str"),
        ("[1, 2]", {}, "item 0: expected an object, got int"),
        ('[{"name": "a1"}]', {}, "item 0: no hostname key 'hostname' (keys: name)"),
        ('[{"hostname": "a b"}]', {}, "item 0 key 'hostname': invalid hostname 'a b'"),
        ('[{"hostname": ["a"]}]', {}, "item 0 key 'hostname': hostname must be a string, got list"),
        ('{"a1": [1]}', {}, "host 'a1': expected an object of labels, got list"),
    ],
)
def test_json_errors_say_where_and_why(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SourceError) as caught:
        read_json_file(path, **kwargs)
    assert message in str(caught.value)


# --- JSON over HTTP (real local server) -------------------------------------------------------------------


def test_http_open_endpoint(source_server):
    source_server.documents["hosts.json"] = HOSTS
    rows = fetch_json_rows(request, source_server.url("/open/hosts.json"))
    assert rows == [("web1.example.com", {"os": "linux"}), ("db1", {"os": "bsd", "rack": 4})]


@pytest.mark.parametrize(
    ("kind", "auth", "headers"),
    [
        ("basic", HTTPBasicAuth(USERNAME, PASSWORD), {}),
        ("digest", HTTPDigestAuth(USERNAME, PASSWORD), {}),
        ("token", None, {"Authorization": f"Bearer {TOKEN}"}),
    ],
)
def test_http_auth_variants(source_server, kind, auth, headers):
    source_server.documents["hosts.json"] = {"data": {"hosts": HOSTS}}
    rows = fetch_json_rows(
        request, source_server.url(f"/{kind}/hosts.json"), auth=auth, headers=headers, data_key="data.hosts"
    )
    assert [name for name, _ in rows] == ["web1.example.com", "db1"]


@pytest.mark.parametrize("kind", ["basic", "digest", "token"])
def test_http_wrong_credentials_are_a_clear_error(source_server, kind):
    source_server.documents["hosts.json"] = HOSTS
    auth = {"basic": HTTPBasicAuth(USERNAME, "wrong"), "digest": HTTPDigestAuth(USERNAME, "wrong")}.get(kind)
    headers = {"Authorization": "Bearer wrong"} if kind == "token" else {}
    with pytest.raises(SourceError, match=r"HTTP 40[13] .*refused the credentials"):
        fetch_json_rows(request, source_server.url(f"/{kind}/hosts.json"), auth=auth, headers=headers)


def test_http_500_is_reported_with_the_body(source_server):
    with pytest.raises(SourceError) as caught:
        fetch_json_rows(request, source_server.url("/error"))
    assert (
        str(caught.value)
        == f"{source_server.url('/error')}: HTTP 500 Internal Server Error: internal error: database is down"
    )


def test_http_not_json(source_server):
    with pytest.raises(SourceError, match=r"/not-json line 1 column 1: malformed JSON"):
        fetch_json_rows(request, source_server.url("/not-json"))


def test_http_unreachable():
    url = f"http://127.0.0.1:{free_port()}/hosts.json"
    with pytest.raises(SourceError, match=r"hosts.json: unreachable \(.*[Cc]onnection refused"):
        fetch_json_rows(request, url)


def test_http_missing_data_key(source_server):
    source_server.documents["hosts.json"] = {"data": {}}
    with pytest.raises(SourceError, match=r"data_key 'data.hosts' not found: no key 'hosts' at data \(keys: none\)"):
        fetch_json_rows(request, source_server.url("/open/hosts.json"), data_key="data.hosts")


# --- YAML -----------------------------------------------------------------------------------------------

YAML_INVENTORY = """
all:
  vars:
    dc: dc1
    env: dev
  children:
    web:
      vars: {env: prod, role: web}
      hosts:
        web1.example.com: {role: frontend}
        web2.example.com:
    db:
      hosts: [db1]
      children:
        db_replicas:
          vars: {replica: true}
          hosts:
            db2:
lonely:
  hosts:
    web2.example.com: {extra: 1}
"""


def test_yaml_groups_merge_vars_from_the_outside_in(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(YAML_INVENTORY)
    rows = dict(read_yaml_groups(path))
    assert rows["web1.example.com"] == {"dc": "dc1", "env": "prod", "role": "frontend", "group": "web"}
    assert rows["web2.example.com"] == {"dc": "dc1", "env": "prod", "role": "web", "extra": 1, "group": "lonely,web"}
    assert rows["db1"] == {"dc": "dc1", "env": "dev", "group": "db"}
    assert rows["db2"] == {"dc": "dc1", "env": "dev", "replica": True, "group": "db,db_replicas"}


def test_yaml_group_label_is_configurable(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text("web:\n  hosts: [a1]\n")
    assert read_yaml_groups(path, group_label="ansible_group") == [("a1", {"ansible_group": "web"})]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("web:\n  hosts: [a1\n", "line 3 column 1: malformed YAML"),
        ("- a\n- b\n", "expected a mapping of groups at the top level, got list"),
        ("", "empty file, expected a mapping of groups"),
        ("web:\n  host: [a1]\n", "group 'web': unknown key(s) host (expected hosts, vars, children)"),
        ("web:\n  vars: [1]\n", "group 'web': vars must be a mapping, got list"),
        (
            "web:\n  children:\n    app:\n      hosts: 5\n",
            "group 'web > app': hosts must be a mapping or a list, got int",
        ),
        ("web:\n  hosts:\n    a1: [1]\n", "group 'web' host 'a1': vars must be a mapping, got list"),
        ("web:\n  hosts:\n    bad/name:\n", "group 'web': invalid hostname 'bad/name'"),
        ("web: 3\n", "group 'web': expected a mapping with hosts/vars/children, got int"),
    ],
)
def test_yaml_errors_say_where_and_why(tmp_path, content, message):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(SourceError) as caught:
        read_yaml_groups(path)
    assert message in str(caught.value)


def test_http_errors_never_show_credentials_of_the_url():
    url = f"http://importer:very-secret@127.0.0.1:{free_port()}/hosts.json"
    with pytest.raises(SourceError) as caught:
        fetch_json_rows(request, url)
    assert "very-secret" not in str(caught.value)
    assert str(caught.value).startswith(url.replace("importer:very-secret@", "") + ": unreachable")
