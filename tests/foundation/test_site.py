import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, Task
from django_q.tasks import async_task, result
from openapi_spec_validator import validate

from syncsite.fields import decrypt, encrypt

pytestmark = pytest.mark.django_db


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] in {"sqlite", "postgresql"}


def test_openapi_schema_is_valid(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    assert "/api/v1/me/" in schema["paths"]


def test_swagger_ui_is_served(client):
    assert client.get("/api/docs/").status_code == 200


def test_anonymous_api_write_is_refused_with_json(api_client):
    response = api_client.post(
        "/api/v1/schedules/", {"func": "hosts.tasks.purge_log_entries", "name": "x"}, format="json"
    )
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/v1/does-not-exist/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("keyword", ["Bearer", "Token"])
def test_token_from_command_authenticates_with_both_header_forms(api_client, django_user_model, capsys, keyword):
    django_user_model.objects.create_user("robot", password="x-long-password-1")
    call_command("create_api_token", "robot")
    token = capsys.readouterr().out.strip()
    assert len(token) == 40
    api_client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "robot"


def test_bad_token_is_401_json(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_token_command_makes_new_tokens_rotates_and_errors_on_unknown_user(api_client, django_user_model, capsys):
    """Each run issues a new token, shown once (tokens are stored hashed); --rotate revokes the others."""
    from django.core.management.base import CommandError

    django_user_model.objects.create_user("robot")
    call_command("create_api_token", "robot")
    first = capsys.readouterr().out.strip()
    call_command("create_api_token", "robot")
    second = capsys.readouterr().out.strip()
    assert second != first

    def status(token: str) -> int:
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api_client.get("/api/v1/me/").status_code

    assert status(first) == status(second) == 200
    call_command("create_api_token", "robot", "--rotate")
    third = capsys.readouterr().out.strip()
    assert third not in (first, second)
    assert (status(first), status(second), status(third)) == (401, 401, 200)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("create_api_token", "nobody")


def test_schedule_api_validates_cron(token_client):
    bad = token_client.post(
        "/api/v1/schedules/",
        {"func": "hosts.tasks.purge_log_entries", "schedule_type": "C", "cron": "every day"},
        format="json",
    )
    assert bad.status_code == 400
    assert "cron" in bad.json()["errors"]
    good = token_client.post(
        "/api/v1/schedules/",
        {
            "name": "nightly",
            "func": "hosts.tasks.purge_log_entries",
            "args": "15",
            "schedule_type": "C",
            "cron": "0 3 * * *",
        },
        format="json",
    )
    assert good.status_code == 201, good.content


def test_django_q_task_runs_in_sync_mode():
    task_id = async_task("math.floor", 2.7)
    assert result(task_id) == 2
    assert Task.objects.get(id=task_id).success is True


def test_failing_task_raises_in_sync_mode():
    with pytest.raises(TypeError):
        async_task("math.floor", "not a number")


def test_failed_task_is_shown_on_home(client, admin_user):
    now = timezone.now()
    Task.objects.create(
        id="f" * 32, name="broken-import", func="math.floor", started=now, stopped=now, success=False, result="boom"
    )
    assert Failure.objects.count() == 1
    client.force_login(admin_user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"Failed tasks" in response.content
    assert b"broken-import" in response.content


def test_home_requires_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_admin_login_page(client):
    assert client.get("/admin/login/").status_code == 200


def test_encrypted_values_round_trip_and_are_not_plain():
    stored = encrypt("hunter2")
    assert "hunter2" not in stored
    assert decrypt(stored) == "hunter2"
    with pytest.raises(ValueError):
        decrypt("hunter2")
