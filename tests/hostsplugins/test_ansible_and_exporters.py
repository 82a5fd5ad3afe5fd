"""The Ansible inventory builder (checked with the real ansible-inventory) and the CSV/JSON exporters."""

from __future__ import annotations

import io
import json

from hosts.plugins.ansible import build_inventory, group_name, host_groups, host_inventory
from hosts.plugins.exporters import write_csv, write_json
from hosts.plugins.sources import read_csv, read_json_file

from .ansible_helpers import ansible_inventory, script_printing

HOSTS = [
    ("web1.example.com", {"ansible_group": "web", "os": "linux", "port": 22}),
    ("web2.example.com", {"ansible_group": "web,prod", "os": "linux"}),
    ("db1", {"ansible_group": "1-db", "os": "bsd", "tags": ["a", "b"]}),
    ("lonely", {"os": "linux"}),
]


def test_group_names_are_valid_for_ansible():
    assert group_name("web servers") == "web_servers"
    assert group_name("1-db") == "_1_db"
    assert host_groups({"g": ["a", "b c"]}, "g") == ["a", "b_c"]
    assert host_groups({"g": "all,web"}, "g") == ["web"]
    assert host_groups({}, "g") == []


def test_build_inventory_has_the_documented_shape():
    inventory = build_inventory(HOSTS)
    assert inventory["_meta"]["hostvars"]["db1"] == {"ansible_group": "1-db", "os": "bsd", "tags": ["a", "b"]}
    assert inventory["all"] == {"children": ["_1_db", "prod", "web", "ungrouped"]}
    assert inventory["web"] == {"hosts": ["web1.example.com", "web2.example.com"]}
    assert inventory["prod"] == {"hosts": ["web2.example.com"]}
    assert inventory["ungrouped"] == {"hosts": ["lonely"]}
    assert host_inventory(None) == {}


def test_real_ansible_inventory_reads_the_output(tmp_path):
    script = script_printing(tmp_path / "inventory.py", build_inventory(HOSTS, group_label="ansible_group"))
    listed = ansible_inventory(script, "--list", home=tmp_path)
    assert sorted(listed["all"]["children"]) == ["_1_db", "prod", "ungrouped", "web"]
    assert listed["web"]["hosts"] == ["web1.example.com", "web2.example.com"]
    assert listed["ungrouped"]["hosts"] == ["lonely"]
    assert listed["_meta"]["hostvars"]["web1.example.com"]["port"] == 22
    assert listed["_meta"]["hostvars"]["db1"]["tags"] == ["a", "b"]
    one = ansible_inventory(script, "--host", "web2.example.com", home=tmp_path)
    assert one == {"ansible_group": "web,prod", "os": "linux"}


def test_csv_export_round_trips_through_the_csv_reader(tmp_path):
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as stream:
        assert write_csv(HOSTS, stream) == 4
    header = path.read_text().splitlines()[0]
    assert header == "host,ansible_group,os,port,tags"
    rows = dict(read_csv(path))
    assert rows["db1"] == {"ansible_group": "1-db", "os": "bsd", "port": "", "tags": '["a", "b"]'}
    assert rows["web1.example.com"]["port"] == "22"


def test_json_export_round_trips_through_the_json_reader(tmp_path):
    stream = io.StringIO()
    assert write_json(HOSTS, stream) == 4
    assert json.loads(stream.getvalue())[0] == {"hostname": "web1.example.com", "attributes": HOSTS[0][1]}
    path = tmp_path / "export.json"
    path.write_text(stream.getvalue())
    assert read_json_file(path, labels_key="attributes") == [(name, attrs) for name, attrs in HOSTS]
    empty = io.StringIO()
    assert write_json([], empty, indent=None) == 0
    assert json.loads(empty.getvalue()) == []
