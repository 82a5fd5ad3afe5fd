"""API tokens: one hashed model for DRF, the damas routes and signIn; the command, the admin, the upgrade."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from syncsite import tokens
from syncsite.models import ApiToken
from tracker import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def robot(django_user_model):
    return django_user_model.objects.create_user("robot", password="x-long-password-1")


def test_issued_token_is_stored_hashed_and_checks_out(robot):
    token, raw = tokens.issue_token(robot, label="backup script", expires_in=3600)
    assert len(raw) == 40 and token.prefix == raw[:8]
    row = ApiToken.objects.values().get()
    assert raw not in {str(value) for value in row.values()}
    assert row["digest"] == hashlib.sha256(raw.encode()).hexdigest()
    found = tokens.authenticate_token(raw)
    assert found == token and found.user == robot and found.label == "backup script"
    assert timedelta(minutes=59) < token.expires - timezone.now() <= timedelta(hours=1)
    assert tokens.authenticate_token(raw + "x") is None
    assert tokens.authenticate_token("") is None
    assert tokens.authenticate_token("x" * 10_000) is None


def test_several_tokens_per_user_each_revocable(robot):
    first, first_raw = tokens.issue_token(robot, label="a")
    _, second_raw = tokens.issue_token(robot, label="b")
    assert tokens.revoke(first) == 1
    assert tokens.authenticate_token(first_raw) is None
    assert tokens.authenticate_token(second_raw) is not None
    assert tokens.revoke(robot) == 1  # only the live one was left
    assert tokens.authenticate_token(second_raw) is None


def test_expired_token_and_inactive_user_are_refused(robot):
    token, raw = tokens.issue_token(robot, label="short")
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert tokens.authenticate_token(raw) is None
    _, other = tokens.issue_token(robot, label="long")
    robot.is_active = False
    robot.save()
    assert tokens.authenticate_token(other) is None


def test_last_used_is_written_at_most_once_a_minute(robot, django_assert_num_queries):
    token, raw = tokens.issue_token(robot, label="busy")
    assert token.last_used is None
    with django_assert_num_queries(2):  # the lookup, then the first use is recorded
        tokens.authenticate_token(raw)
    first_use = ApiToken.objects.get().last_used
    assert first_use is not None
    with django_assert_num_queries(1):  # within the minute: a read, no write
        tokens.authenticate_token(raw)
    ApiToken.objects.update(last_used=timezone.now() - timedelta(minutes=2))
    tokens.authenticate_token(raw)
    assert ApiToken.objects.get().last_used > first_use - timedelta(seconds=1)


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_one_token_serves_drf_and_the_damas_routes_with_both_keywords(client, api_client, robot, keyword):
    _, raw = tokens.issue_token(robot, label="both")
    api_client.credentials(HTTP_AUTHORIZATION=f"{keyword} {raw}")
    assert api_client.get("/api/v1/me/").json()["username"] == "robot"
    assert api_client.get("/api/v1/tracker/nodes/").status_code == 200
    verify = client.get("/api/verify/", HTTP_AUTHORIZATION=f"{keyword} {raw}")
    assert verify.status_code == 200 and verify.json()["_id"] == "@robot"


@pytest.mark.parametrize("header", ["Bearer", "Token a b", "Bearer \xff\xfe"])
def test_malformed_headers_are_401_json_everywhere(client, api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401 and response.json()["detail"]
    damas = client.get("/api/verify/", HTTP_AUTHORIZATION=header)
    assert damas.status_code == 401 and damas.json()["detail"]


def test_revoked_token_is_401_on_both_apis(client, api_client, robot):
    token, raw = tokens.issue_token(robot, label="gone")
    tokens.revoke(token)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get("/api/v1/me/").status_code == 401
    assert client.get("/api/verify/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_actor_carries_the_agent_capability_of_the_token(robot):
    _, plain = tokens.issue_token(robot, label="user")
    _, agent = tokens.issue_token(robot, label="site agent", agent=True)
    assert services.actor_for_token(plain) == services.Actor("robot", "user", agent=False)
    assert services.actor_for_token(agent) == services.Actor("robot", "user", agent=True)
    assert services.user_for_token(agent) == robot
    assert services.actor_for_token("nope") is None and services.user_for_token("nope") is None


def test_sign_in_issues_a_kernel_token_and_revoke_tokens_ends_it(client, robot):
    body = client.post("/api/signIn/", {"username": "robot", "password": "x-long-password-1", "expiresIn": "60"}).json()
    token = ApiToken.objects.get(user=robot)
    assert token.label == "signIn" and token.digest == tokens.token_digest(body["token"])
    assert timedelta(seconds=50) < token.expires - timezone.now() <= timedelta(seconds=60)
    assert services.revoke_tokens(robot) == 1
    assert client.get("/api/verify/", HTTP_AUTHORIZATION=f"Bearer {body['token']}").status_code == 401


def test_command_options(capsys, robot):
    call_command("create_api_token", "robot", "--label", "nightly pull", "--expires-in", "120", "--agent")
    raw = capsys.readouterr().out.strip()
    token = tokens.authenticate_token(raw)
    assert token.label == "nightly pull" and token.agent
    assert timedelta(seconds=100) < token.expires - timezone.now() <= timedelta(seconds=120)
    call_command("create_api_token", "newbie", "--create-user")
    assert tokens.authenticate_token(capsys.readouterr().out.strip()).user.username == "newbie"
    with pytest.raises(CommandError, match="expires-in"):
        call_command("create_api_token", "robot", "--expires-in", "0")
    assert ApiToken.objects.count() == 2


def test_admin_lists_tokens_without_secrets_and_shows_a_new_one_once(admin_client, robot):
    _, old_raw = tokens.issue_token(robot, label="listed")
    listing = admin_client.get("/admin/syncsite/apitoken/").content.decode()
    assert "listed" in listing and old_raw[:8] in listing and old_raw not in listing
    assert tokens.token_digest(old_raw) not in listing
    response = admin_client.post(
        "/admin/syncsite/apitoken/add/", {"user": robot.pk, "label": "from the admin", "agent": "on"}, follow=True
    )
    assert response.status_code == 200
    created = ApiToken.objects.get(label="from the admin")
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for m in shown for word in m.split() if word.startswith(created.prefix))
    assert tokens.authenticate_token(raw) == created and created.agent
    change = admin_client.get(f"/admin/syncsite/apitoken/{created.pk}/change/").content.decode()
    assert raw not in change and created.digest not in change
    assert raw not in admin_client.get("/admin/syncsite/apitoken/").content.decode()
    admin_client.post(
        "/admin/syncsite/apitoken/",
        {"action": "revoke_selected", "_selected_action": [created.pk]},
    )
    assert tokens.authenticate_token(raw) is None


def test_admin_refuses_an_expiry_in_the_past(admin_client, robot):
    past = timezone.now() - timedelta(days=1)
    response = admin_client.post(
        "/admin/syncsite/apitoken/add/",
        {"user": robot.pk, "label": "late", "expires_0": past.strftime("%Y-%m-%d"), "expires_1": "00:00:00"},
    )
    assert response.status_code == 200 and "must be in the future" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_staff_with_token_permissions_only_make_plain_tokens_for_themselves(client, django_user_model, admin_user):
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="x-long-password-1", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename__endswith="_apitoken"))
    tokens.issue_token(admin_user, label="the admin's")
    client.force_login(clerk)
    assert "the admin&#x27;s" not in client.get("/admin/syncsite/apitoken/").content.decode()
    response = client.post(
        "/admin/syncsite/apitoken/add/", {"user": admin_user.pk, "label": "mine", "agent": "on"}, follow=True
    )
    assert response.status_code == 200
    made = ApiToken.objects.get(label="mine")
    assert made.user == clerk and not made.agent
    client.post(f"/admin/syncsite/apitoken/{made.pk}/change/", {"label": "mine", "revoked": "", "agent": "on"})
    made.refresh_from_db()
    assert not made.agent
