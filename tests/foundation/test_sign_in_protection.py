"""Brute-force protection (per user and address, in the database) and the admin's optional TOTP sign-in."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"
PASSWORD = "right-Password-123"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real password checks, with a cheap hasher: these tests sign in dozens of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def _sign_in(address: str, password: str):
    return Client(REMOTE_ADDR=address).post("/api/signIn/", {"username": "boss", "password": password})


def _admin_login(address: str, password: str, **extra):
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "boss", "password": password, "next": "/admin/", **extra}
    )
    return client, response


def test_five_bad_passwords_lock_sign_in_for_that_user_and_address_only(staff, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    statuses = [_sign_in(ATTACKER, f"wrong-{i}").status_code for i in range(4)]
    assert statuses == [401] * 4
    fifth = _sign_in(ATTACKER, "wrong-5")
    assert fifth.status_code == 429 and "locked" in fifth.json()["detail"]
    assert int(fifth["Retry-After"]) == 15 * 60
    # Locked: even the right password is refused from that address, as JSON.
    locked = _sign_in(ATTACKER, PASSWORD)
    assert locked.status_code == 429 and locked["Content-Type"] == "application/json"
    assert "token" not in locked.json()
    # The real user, elsewhere, is not locked out.
    fine = _sign_in(OWNER, PASSWORD)
    assert fine.status_code == 200 and fine.json()["token"]


def test_a_success_resets_the_count(staff):
    for i in range(4):
        assert _sign_in(OWNER, f"typo-{i}").status_code == 401
    assert _sign_in(OWNER, PASSWORD).status_code == 200
    for i in range(4):
        assert _sign_in(OWNER, f"typo-again-{i}").status_code == 401
    assert _sign_in(OWNER, PASSWORD).status_code == 200


def test_admin_login_is_locked_per_user_and_address(staff):
    for i in range(4):
        _, response = _admin_login(ATTACKER, f"wrong-{i}")
        assert response.status_code == 200  # the form again, with its error
    _, fifth = _admin_login(ATTACKER, "wrong-5")
    assert fifth.status_code == 429 and b"locked" in fifth.content.lower()
    _, locked = _admin_login(ATTACKER, PASSWORD)
    assert locked.status_code == 429
    client, ok = _admin_login(OWNER, PASSWORD)
    assert ok.status_code == 302 and client.get("/admin/").status_code == 200


def test_trusted_proxy_address_is_the_one_counted(staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    def via_proxy(client_address: str, password: str, spoofed: str = "10.9.9.9"):
        return Client(REMOTE_ADDR="127.0.0.1").post(
            "/api/signIn/",
            {"username": "boss", "password": password},
            HTTP_X_FORWARDED_FOR=f"{spoofed}, {client_address}",
        )

    for i in range(5):
        # A forged left-most entry changes nothing: the proxy's own entry is the one trusted.
        via_proxy(ATTACKER, f"wrong-{i}", spoofed=f"10.0.0.{i}")
    assert via_proxy(ATTACKER, PASSWORD).status_code == 429
    assert via_proxy(OWNER, PASSWORD).status_code == 200


# --------------------------------------------------------------------------------------------- two-factor


def _code(device: TOTPDevice) -> str:
    """The current TOTP code, computed from the device's key (RFC 6238) as an authenticator app would."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_staff_without_a_device_log_in_with_their_password(staff):
    client, response = _admin_login(OWNER, PASSWORD)
    assert response.status_code == 302 and client.get("/admin/").status_code == 200


def test_staff_with_a_device_must_give_the_current_code(staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    _, without = _admin_login(OWNER, PASSWORD)
    assert without.status_code == 200 and without.context["form"].errors
    _, wrong = _admin_login(OWNER, PASSWORD, otp_token="000000" if _code(device) != "000000" else "111111")
    assert wrong.status_code == 200 and wrong.context["form"].errors
    # django-otp then throttles the device (1 s, doubling per failure); let that time pass.
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    device.throttle_reset()
    client, right = _admin_login(OWNER, PASSWORD, otp_token=_code(device))
    assert right.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_password_only_session_of_a_2fa_user_does_not_open_the_admin(staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client(REMOTE_ADDR=OWNER)
    response = client.post("/accounts/login/", {"username": "boss", "password": PASSWORD})
    assert response.status_code == 302  # the dashboard's password login
    assert client.get("/admin/").status_code == 302  # the admin still wants the code


def test_admin_require_2fa_refuses_users_without_a_device(staff, settings):
    settings.ADMIN_REQUIRE_2FA = True
    _, response = _admin_login(OWNER, PASSWORD)
    assert response.status_code == 200 and response.context["form"].errors


def test_staff_enrol_their_own_device_and_see_only_theirs(django_user_model, staff):
    clerk = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=staff, name="boss phone", confirmed=True)
    client = Client(REMOTE_ADDR=OWNER)
    client.force_login(clerk)
    add = client.post(
        "/admin/otp_totp/totpdevice/add/",
        {
            "name": "my phone",
            "confirmed": "on",
            "key": TOTPDevice._meta.get_field("key").default(),
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
            "throttling_failure_count": 0,
        },
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    device = TOTPDevice.objects.get(name="my phone")
    assert device.user == clerk
    listing = client.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "my phone" in listing and "boss phone" not in listing
    # The enrolling session stays in, so it can show the QR code; a new login needs the code.
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 200
    other = TOTPDevice.objects.get(name="boss phone")
    assert client.get(f"/admin/otp_totp/totpdevice/{other.pk}/change/").status_code in (302, 403, 404)
    fresh = Client(REMOTE_ADDR=OWNER)
    assert fresh.post("/admin/login/", {"username": "clerk", "password": PASSWORD}).status_code == 200
    assert (
        fresh.post("/admin/login/", {"username": "clerk", "password": PASSWORD, "otp_token": _code(device)}).status_code
        == 302
    )
