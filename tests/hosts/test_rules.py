"""The rule engine: operators, negation, condition types, order, last_match, outcomes."""

from __future__ import annotations

import pytest

from hosts.rules import RuleError, load_engine
from syncerapi.v1 import Host
from syncerapi.v1.core import Plugin

pytestmark = pytest.mark.django_db


def attr(key, op, value, negate=False, key_op="equal", key_negate=False):
    return {
        "match_type": "attribute",
        "attribute": key,
        "attribute_match": key_op,
        "attribute_match_negate": key_negate,
        "value": value,
        "value_match": op,
        "value_match_negate": negate,
    }


def hostname(op, value, negate=False):
    return {"match_type": "hostname", "hostname": value, "hostname_match": op, "hostname_match_negate": negate}


def host_with(labels, name="web01.dc1.example.com", inventory=None):
    host = Host.get_host(name)
    host.update_host(labels)
    if inventory:
        for key, data in inventory.items():
            host.update_inventory(key, data)
    host.save()
    return host


def attributes(host):
    plugin = Plugin()
    try:
        return plugin.get_attributes(host, False)
    finally:
        plugin.discard()


def tagged(make_rule, condition, **rule_fields):
    make_rule("custom", [condition], [{"attribute": "hit", "value": "yes"}], **rule_fields)


# value operators: (operator, needle, label value, expected match)
OPERATOR_CASES = [
    ("equal", "Linux", "linux", True),
    ("equal", "linux", "linux2", False),
    ("in", "NUX", "linux", True),
    ("in", "bsd", "linux", False),
    ("in", "b", ["a", "B"], True),
    ("in", "x", ["a", "b"], False),
    ("not_in", "bsd", "linux", True),
    ("not_in", "nux", "linux", False),
    ("in_list", "debian, Ubuntu ,rhel", "ubuntu", True),
    ("in_list", "debian,rhel", "ubuntu", False),
    ("string_in_list", "B", "a, b ,c", True),
    ("string_in_list", "b", ["A", "B"], True),
    ("string_in_list", "d", "a,b,c", False),
    ("swith", "LIN", "linux", True),
    ("swith", "nux", "linux", False),
    ("ewith", "NUX", "linux", True),
    ("ewith", "lin", "linux", False),
    ("regex", r"^web\d+$", "WEB42", True),
    ("regex", r"\d+", "web42", False),  # anchored at the start (re.match)
    ("bool", "true", "Yes", True),
    ("bool", "true", True, True),
    ("bool", "false", "on", False),
    ("bool", "false", "nope", True),
    ("ignore", "whatever", "linux", True),
]


@pytest.mark.parametrize(("op", "needle", "value", "expected"), OPERATOR_CASES)
@pytest.mark.parametrize("negate", [False, True])
def test_value_operators_and_their_negation(make_rule, op, needle, value, expected, negate):
    tagged(make_rule, attr("os", op, needle, negate=negate))
    result = attributes(host_with({"os": value}))["all"]
    want = (not expected) if negate else expected
    assert ("hit" in result) is want, (op, needle, value, negate)


@pytest.mark.parametrize(
    ("op", "needle", "expected"),
    [
        ("equal", "WEB01.dc1.example.com", True),
        ("swith", "web", True),
        ("ewith", ".example.com", True),
        ("in", "dc1", True),
        ("not_in", "dc2", True),
        ("in_list", "a, web01.dc1.example.com", True),
        ("regex", r"web\d+\.", True),
        ("regex", r"db\d+", False),
        ("equal", "other", False),
    ],
)
@pytest.mark.parametrize("negate", [False, True])
def test_hostname_conditions(make_rule, op, needle, expected, negate):
    tagged(make_rule, hostname(op, needle, negate))
    result = attributes(host_with({"os": "linux"}))["all"]
    assert ("hit" in result) is (expected is not negate)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # key match operators
        (attr("OS", "equal", "linux"), True),  # keys are case-insensitive
        (attr("o", "equal", "linux", key_op="swith"), True),
        (attr("x", "equal", "linux", key_op="swith"), False),
        (attr("os", "equal", "linux", key_op="equal", key_negate=True), False),  # only key is 'os'
        (attr("^o.$", "ignore", "", key_op="regex"), True),
        # ignore on the key, negated: the attribute must be absent
        (attr("missing", "equal", "", key_op="ignore", key_negate=True), True),
        (attr("os", "equal", "", key_op="ignore", key_negate=True), False),
        # negated ignore on the value never matches
        (attr("os", "ignore", "", negate=True), False),
        # a missing attribute never matches, even negated
        (attr("missing", "equal", "x", negate=True), False),
    ],
)
def test_attribute_key_matching(make_rule, condition, expected):
    tagged(make_rule, condition)
    assert ("hit" in attributes(host_with({"os": "linux"}))["all"]) is expected


def test_inventory_keys_are_attributes_too(make_rule):
    tagged(make_rule, attr("cmk__state", "equal", "UP"))
    host = host_with({"os": "linux"}, inventory={"cmk": {"state": "up"}})
    assert attributes(host)["all"]["hit"] == "yes"


def test_jinja_needle_is_rendered_per_host(make_rule):
    tagged(make_rule, attr("primary_site", "equal", "{{ site }}"))
    assert "hit" in attributes(host_with({"site": "dc1", "primary_site": "DC1"}, name="a"))["all"]
    assert "hit" not in attributes(host_with({"site": "dc2", "primary_site": "dc1"}, name="b"))["all"]


@pytest.mark.parametrize(
    ("condition_type", "expected"),
    [("all", False), ("any", True), ("anyway", True)],
)
def test_condition_types(make_rule, condition_type, expected):
    make_rule(
        "custom",
        [attr("os", "equal", "linux"), attr("site", "equal", "dc9")],
        [{"attribute": "hit", "value": "yes"}],
        condition_type=condition_type,
    )
    assert ("hit" in attributes(host_with({"os": "linux", "site": "dc1"}))["all"]) is expected


def test_all_with_every_condition_true_matches(make_rule):
    make_rule(
        "custom", [attr("os", "equal", "linux"), attr("site", "equal", "dc1")], [{"attribute": "hit", "value": "1"}]
    )
    assert attributes(host_with({"os": "linux", "site": "dc1"}))["all"]["hit"] == "1"


def test_rules_run_in_sort_order_and_last_match_stops(make_rule):
    make_rule("custom", [], [{"attribute": "role", "value": "second"}], condition_type="anyway", sort_order=20)
    make_rule("custom", [], [{"attribute": "role", "value": "first"}], condition_type="anyway", sort_order=10)
    host = host_with({"os": "linux"})
    # later rules win for the same key
    assert attributes(host)["all"]["role"] == "second"

    make_rule(
        "custom",
        [attr("os", "equal", "linux")],
        [{"attribute": "role", "value": "stopper"}],
        sort_order=15,
        last_match=True,
    )
    host = Host.get_host(host.hostname)
    assert attributes(host)["all"]["role"] == "stopper"


def test_disabled_rules_are_ignored(make_rule):
    make_rule("custom", [], [{"attribute": "hit", "value": "1"}], condition_type="anyway", enabled=False)
    assert "hit" not in attributes(host_with({"os": "linux"}))["all"]


def test_custom_attribute_values_are_jinja_templates(make_rule):
    make_rule(
        "custom",
        [attr("os", "ewith", "nux")],
        [
            {"attribute": "fqdn", "value": "{{ HOSTNAME }}"},
            {"attribute": "os_upper", "value": "{{ os|upper }}-{{ cmk__agent }}"},
            {"attribute": "plain", "value": "text"},
        ],
    )
    result = attributes(host_with({"os": "linux"}, inventory={"cmk": {"agent": "2.3"}}))["all"]
    assert result["fqdn"] == "web01.dc1.example.com"
    assert result["os_upper"] == "LINUX-2.3"
    assert result["plain"] == "text"
    assert result["HOSTNAME"] == "web01.dc1.example.com"


def test_rewrite_rules(make_rule):
    make_rule(
        "rewrite",
        [],
        [
            {"attribute": "OS", "key_mode": "string", "new_key": "operating_system"},
            {"attribute": "fqdn", "key_mode": "keep", "value_mode": "split", "new_value": ".:0"},
            {
                "attribute": "site",
                "key_mode": "jinja",
                "new_key": "site_{{ value }}",
                "value_mode": "string",
                "new_value": "yes",
            },
            {"attribute": "env", "value_mode": "jinja", "new_value": "{{ value|upper }}@{{ site }}"},
            {"attribute": "obsolete", "key_mode": "string", "new_key": ""},
            {"attribute": "absent", "key_mode": "string", "new_key": "never"},
            {"attribute": "path", "value_mode": "split", "new_value": "/:7"},
        ],
        condition_type="anyway",
    )
    host = host_with({"os": "linux", "fqdn": "web01.dc1", "site": "dc1", "env": "prod", "obsolete": 1, "path": "a/b"})
    result = attributes(host)["all"]
    assert result["operating_system"] == "linux" and "os" not in result
    assert result["fqdn"] == "web01"
    assert result["site_dc1"] == "yes" and "site" not in result
    assert result["env"] == "PROD@"  # 'site' was renamed by the earlier outcome
    assert "obsolete" not in result
    assert "never" not in result
    assert result["path"] == ""


def test_rewrite_sees_custom_attributes_and_filter_sees_rewrites(make_rule):
    make_rule("custom", [], [{"attribute": "Team", "value": "ops"}], condition_type="anyway")
    make_rule(
        "rewrite", [attr("team", "equal", "ops")], [{"attribute": "team", "key_mode": "string", "new_key": "owner"}]
    )
    make_rule("filter", [attr("owner", "equal", "ops")], [{"action": "whitelist_attribute", "attribute": "owner"}])
    result = attributes(host_with({"os": "linux"}))
    assert result["filtered"] == {"owner": "ops"}


def test_filter_whitelists_keys_prefixes_and_values(make_rule):
    make_rule(
        "filter",
        [],
        [
            {"action": "whitelist_attribute", "attribute": "OS"},
            {"action": "whitelist_attribute", "attribute": "cmk__*"},
            {"action": "whitelist_attribute_value", "attribute": "env", "value": "prod, staging"},
            {"action": "whitelist_attribute_value", "attribute": "site", "value": "dc2"},
        ],
        condition_type="anyway",
    )
    host = host_with(
        {"os": "linux", "env": "Prod", "site": "dc1", "secret": "x"}, inventory={"cmk": {"state": "up", "agent": "2"}}
    )
    result = attributes(host)
    assert result["filtered"] == {"os": "linux", "env": "Prod", "cmk__state": "up", "cmk__agent": "2"}
    assert result["all"]["secret"] == "x"


def test_no_matching_filter_rule_means_nothing_filtered(make_rule):
    make_rule("filter", [attr("os", "equal", "bsd")], [{"action": "whitelist_attribute", "attribute": "os"}])
    result = attributes(host_with({"os": "linux"}))
    assert result["filtered"] == {}
    assert result["all"]["os"] == "linux"


def test_ignore_host(make_rule):
    make_rule("filter", [hostname("swith", "web")], [{"action": "ignore_host"}])
    assert attributes(host_with({"os": "linux"})) is False
    assert attributes(host_with({"os": "linux"}, name="db01")) is not False


def test_broken_rules_are_skipped_and_reported(make_rule):
    tagged(make_rule, attr("os", "regex", "("), name="bad regex")
    make_rule("custom", [], [{"attribute": "ok", "value": "1"}], condition_type="anyway")
    engine = load_engine()
    assert len(engine.custom) == 1
    assert "bad regex" in engine.errors[0]
    plugin = Plugin()
    assert attributes(host_with({"os": "linux"}))["all"]["ok"] == "1"
    plugin.init_custom_attributes()
    assert plugin.log_details[-1][0] == "rule_error"
    plugin.discard()


def test_compile_errors_raise_rule_error():
    from types import SimpleNamespace

    from hosts.rules import _rewriter, compile_condition

    with pytest.raises(RuleError):
        _rewriter("split", "no-index")
    with pytest.raises(RuleError):
        compile_condition(
            SimpleNamespace(
                **{
                    **attr("os", "unknown-op", "x"),
                    "hostname": "",
                    "hostname_match": "equal",
                    "hostname_match_negate": False,
                }
            )
        )


def test_generated_matching_code_agrees_with_the_closures(make_rule):
    """Every operator, negation and value shape: the generated phase function and the closures agree."""
    import itertools

    from hosts.rules import RuleEngine

    ops = ["equal", "in", "not_in", "in_list", "string_in_list", "swith", "ewith", "regex", "bool", "ignore"]
    needles = ["linux", "a, b", "b", "^l", "true", "{{ site }}", ""]
    order = 0
    for op, needle, negate in itertools.product(ops, needles, [False, True]):
        order += 1
        make_rule(
            "custom", [attr("os", op, needle, negate)], [{"attribute": f"v{order}", "value": "1"}], sort_order=order
        )
        order += 1
        make_rule(
            "custom", [hostname(op, needle, negate)], [{"attribute": f"h{order}", "value": "1"}], sort_order=order
        )
    for key_op, key_negate in itertools.product(["swith", "regex", "ignore", "equal"], [False, True]):
        order += 1
        make_rule(
            "custom",
            [attr("o", "in", "l", key_op=key_op, key_negate=key_negate)],
            [{"attribute": f"k{order}", "value": "1"}],
            sort_order=order,
            condition_type="any",
        )
    engine = load_engine()
    closures = RuleEngine(engine.version, engine.custom, engine.rewrite, engine.filter, generated=False)
    values = ["Linux", " linux ", "b", "a,b", ["A", "B"], ["linux"], True, False, None, 3, "lin", "dc1"]
    for index, value in enumerate(values):
        for labels in ({"os": value, "site": "dc1"}, {"site": "linux"}):
            name = f"linux{index}.b" if index % 2 else "true"
            assert engine.compute(name, labels, {}) == closures.compute(name, labels, {}), (value, labels)


def test_a_template_failing_at_runtime_renders_empty_and_is_logged(make_rule, caplog):
    make_rule(
        "custom",
        [],
        [{"attribute": "ratio", "value": "{{ cpus / 0 }}"}, {"attribute": "ok", "value": "1"}],
        condition_type="anyway",
    )
    with caplog.at_level("ERROR", logger="hosts.rules"):
        result = attributes(host_with({"cpus": 4}))["all"]
    assert result["ratio"] == "" and result["ok"] == "1"
    assert "failed" in caplog.text


def test_rules_load_with_one_query_per_model(make_rule, django_assert_num_queries):
    for index in range(5):
        make_rule(
            "custom",
            [attr("os", "equal", "x"), hostname("swith", "w")],
            [{"attribute": "a", "value": "1"}],
            name=f"c{index}",
        )
        make_rule("rewrite", [attr("os", "equal", "x")], [{"attribute": "a", "key_mode": "string", "new_key": "b"}])
        make_rule("filter", [attr("os", "equal", "x")], [{"action": "ignore_host"}])
    # the rules version, then rules + conditions + outcomes for each of the three kinds
    with django_assert_num_queries(10):
        engine = load_engine()
    assert (len(engine.custom), len(engine.rewrite), len(engine.filter)) == (5, 5, 5)
