"""The upgrade to hashed API tokens: tokens issued before it keep working after it."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from syncsite import tokens

BEFORE = [("syncsite", "0001_api_token"), ("tracker", "0004_edge_indexes")]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def _create_drf_token_table() -> None:
    """The table `rest_framework.authtoken` made (that app is no longer installed)."""
    q = connection.ops.quote_name
    created_type = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {q('authtoken_token')} ({q('key')} varchar(40) NOT NULL PRIMARY KEY, "
            f"{q('created')} {created_type} NOT NULL, {q('user_id')} integer NOT NULL UNIQUE)"
        )


@pytest.mark.django_db(transaction=True)
def test_old_drf_and_signin_tokens_work_after_the_migration(django_user_model, client, api_client):
    executor = _migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    AccessToken = old_apps.get_model("tracker", "AccessToken")
    alice = django_user_model.objects.create_user("alice", password="x-long-password-1")
    bob = django_user_model.objects.create_user("bob", password="x-long-password-1")
    drf_key = "0123456789abcdef0123456789abcdef01234567"
    sign_in_token = "Zm9vYmFyYmF6cXV4LXNpZ25Jbi10b2tlbi1iZWZvcmU"
    expired_token = "an-expired-signin-token-from-before-the-upgrade"
    table_made = "authtoken_token" not in connection.introspection.table_names()
    try:
        if table_made:
            _create_drf_token_table()
        with connection.cursor() as cursor:
            cursor.execute(
                'INSERT INTO authtoken_token ("key", created, user_id) VALUES (%s, %s, %s)',
                [drf_key, timezone.now() - timedelta(days=30), alice.pk],
            )
        AccessToken.objects.create(
            user_id=bob.pk,
            key_hash=hashlib.sha256(sign_in_token.encode()).hexdigest(),
            expires=timezone.now() + timedelta(days=1),
        )
        AccessToken.objects.create(
            user_id=bob.pk,
            key_hash=hashlib.sha256(expired_token.encode()).hexdigest(),
            expires=timezone.now() - timedelta(seconds=1),
        )

        executor = _migrate(executor.loader.graph.leaf_nodes())

        assert "tracker_accesstoken" not in connection.introspection.table_names()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no clear-text token is left behind
        drf = tokens.authenticate_token(drf_key)
        assert drf.user == alice and drf.prefix == drf_key[:8]
        assert timezone.now() - drf.created > timedelta(days=29)
        signed_in = tokens.authenticate_token(sign_in_token)
        assert signed_in.user == bob and signed_in.prefix is None and signed_in.label == "signIn"
        assert tokens.authenticate_token(expired_token) is None
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {drf_key}")
        assert api_client.get("/api/v1/me/").json()["username"] == "alice"
        verify = client.get("/api/verify/", HTTP_AUTHORIZATION=f"Bearer {sign_in_token}")
        assert verify.status_code == 200 and verify.json()["_id"] == "@bob"
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        if table_made:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {connection.ops.quote_name('authtoken_token')}")
