"""Property-based run of the whole REST API (/api/v1/, as /api/schema/ describes it) against a live server.

For a superuser's token and a low-privileged user's token, every operation gets a bounded, seeded set of
generated requests (valid ones, and for the superuser invalid ones too), half of them aimed at objects
that exist: no answer may be a 5xx (except a 502 the operation documents: an unreachable Syncthing
daemon), and every answer the schema describes must match it.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# Examples per operation, token and mode are multiplied by SCHEMATHESIS_SCALE (e.g. 5 for a deeper local run);
# at 1 both runs together take about a minute on a loaded two-core machine, on each database.
SCALE = float(os.environ.get("SCHEMATHESIS_SCALE", "1"))


def no_server_error(ctx, response, case) -> bool | None:
    """5xx is a bug, except a status the operation documents (502: the Syncthing daemon could not be reached)."""
    status = response.status_code
    if status >= 500 and str(status) not in case.operation.definition.raw.get("responses", {}):
        raise AssertionError(f"{case.method} {case.formatted_path} answered {status}: {response.text[:500]}")
    return True


POSITIVE_CHECKS = [no_server_error, response_schema_conformance, content_type_conformance]
NEGATIVE_CHECKS = [no_server_error, content_type_conformance]


def seed() -> dict[str, dict[str, Any]]:
    """One object of each kind the API addresses by path (again before each operation: a DELETE may remove it).

    Returns path parameters by path prefix; the Syncthing instance points at a port nobody listens on.
    """
    from hosts import models as hosts_models
    from hosts.services import write_log
    from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance
    from tracker.models import Node

    account, _ = hosts_models.Account.objects.get_or_create(name="fuzz-account", defaults={"type": "csv"})
    host, _ = hosts_models.Host.objects.get_or_create(hostname="fuzz-host", defaults={"labels": {"os": "linux"}})
    log = hosts_models.LogEntry.objects.filter(has_error=True).first() or write_log("fuzz", "test", [("error", "x")])
    run = hosts_models.CronjobRun.objects.first() or hosts_models.CronjobRun.objects.create(job="fuzz", status="failed")
    rule = hosts_models.RewriteRule.objects.first() or hosts_models.RewriteRule.objects.create(name="fuzz rule")
    instance, _ = SyncthingInstance.objects.get_or_create(
        name="fuzz-daemon", defaults={"url": f"http://127.0.0.1:{free_port()}", "api_key": "k", "timeout": 2}
    )
    device, _ = SyncthingDevice.objects.get_or_create(instance=instance, device_id="FUZZ-DEVICE")
    folder, _ = SyncthingFolder.objects.get_or_create(instance=instance, folder_id="fuzz-folder")
    node, _ = Node.objects.get_or_create(node_id="/fuzz/file", defaults={"kind": "file", "origin": "fuzz"})
    from django_q.models import Schedule

    schedule, _ = Schedule.objects.get_or_create(name="fuzz", defaults={"func": "syncthing_bridge.tasks.refresh_all"})
    return {
        "/api/v1/accounts/": {"name": account.name},
        "/api/v1/cronjob-runs/": {"id": run.pk},
        "/api/v1/hosts/": {"hostname": host.hostname},
        "/api/v1/logs/": {"id": log.pk},
        "/api/v1/rules/": {"kind": "rewrite", "id": str(rule.pk)},
        "/api/v1/schedules/": {"id": schedule.pk},
        "/api/v1/syncthing/devices/": {"id": device.pk},
        "/api/v1/syncthing/folders/": {"id": folder.pk},
        "/api/v1/syncthing/instances/": {"id": instance.pk},
        "/api/v1/tracker/nodes/": {"id": node.pk},
    }


def strategy_for(operation, mode: GenerationMode):
    """Generated requests, half of them (when the path names an object) aimed at a seeded one."""
    generated = operation.as_strategy(generation_mode=mode)
    names = {parameter.name for parameter in operation.path_parameters}
    known = next((params for prefix, params in seed().items() if operation.path.startswith(prefix)), {})
    if not names or not names <= set(known):
        return generated
    aimed = operation.as_strategy(generation_mode=mode, path_parameters={name: known[name] for name in names})
    return st.one_of(generated, aimed)


def exercise(strategy, checks: list, examples: int, base_url: str, headers: dict[str, str]):
    """A seeded, bounded Hypothesis test that sends each generated request and checks its answer."""

    @given(case=strategy)
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def send(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        case.validate_response(response, checks=checks, headers=headers)

    return send


def run_operations(schema, base_url: str, headers: dict[str, str], modes: dict[GenerationMode, int]) -> list[str]:
    """Every operation with the given number of examples per mode; the failures (empty when all passed)."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in modes.items():
            checks = POSITIVE_CHECKS if mode == GenerationMode.POSITIVE else NEGATIVE_CHECKS
            try:
                exercise(strategy_for(operation, mode), checks, max(1, round(examples * SCALE)), base_url, headers)()
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
                details = [str(exc), *(str(sub) for sub in getattr(exc, "exceptions", ()))]
                label = f"{operation.method.upper()} {operation.path} ({mode.value})"
                failures.append(f"{label}: " + "\n".join(details)[:3000])
    return failures


@pytest.fixture
def api_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")


@pytest.mark.parametrize(
    ("who", "modes"),
    [
        ("superuser", {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}),
        ("user", {GenerationMode.POSITIVE: 4}),
    ],
)
def test_api_answers_within_its_schema_and_never_5xx(api_schema, live_server, make_token, who, modes):
    token = make_token(f"fuzz-{who}", superuser=(who == "superuser"))
    started = time.monotonic()
    failures = run_operations(api_schema, live_server.url, {"Authorization": f"Bearer {token}"}, modes)
    print(f"schemathesis ({who}): {time.monotonic() - started:.1f}s")
    assert not failures, "\n\n".join(failures)
