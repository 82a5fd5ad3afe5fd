"""Encrypted model fields for secrets kept at rest (account passwords, secret custom fields, Syncthing API keys).

Fernet (AES-128-CBC + HMAC) from `cryptography`. The key is FIELD_ENCRYPTION_KEY when set (so that
rotating SECRET_KEY does not make stored secrets unreadable), otherwise derived from SECRET_KEY.
During a key rotation FIELD_ENCRYPTION_OLD_KEYS names the previous keys: values are read with any of
them (MultiFernet) and always written with the current one; `manage.py rotate_encryption_key`
re-encrypts every stored value, after which the old keys can be removed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


class DecryptionError(ValueError):
    """A stored secret that none of the configured keys decrypts."""


@lru_cache(maxsize=16)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("syncsite-field-encryption:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def current_key_material() -> str:
    material = settings.FIELD_ENCRYPTION_KEY or settings.SECRET_KEY
    if not material:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY or SECRET_KEY must be set to store secrets.")
    return material


def old_key_materials() -> list[str]:
    """FIELD_ENCRYPTION_OLD_KEYS as a list (a comma-separated string or a list in settings)."""
    raw = getattr(settings, "FIELD_ENCRYPTION_OLD_KEYS", None) or []
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    current = current_key_material()
    return [item.strip() for item in items if item.strip() and item.strip() != current]


def fernet() -> Fernet:
    """The current key alone: what new values are written with."""
    return _fernet(current_key_material())


def reader() -> MultiFernet:
    """The current key first, then the old ones: what stored values are read with."""
    return MultiFernet([fernet(), *(_fernet(material) for material in old_key_materials())])


def encrypt(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode()).decode()


def _token(stored: str) -> bytes:
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored secret is not in the encrypted format")
    return stored[len(PREFIX) :].encode()


def decrypt(stored: str) -> str:
    try:
        return reader().decrypt(_token(stored)).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY or any of FIELD_ENCRYPTION_OLD_KEYS"
        ) from exc


def is_current(stored: str) -> bool:
    """True when the stored value is encrypted with the current key (nothing to rotate)."""
    try:
        fernet().decrypt(_token(stored))
    except (InvalidToken, DecryptionError):
        return False
    return True


def reencrypt(stored: str) -> str:
    """The stored value encrypted again with the current key; DecryptionError when no key reads it."""
    try:
        return PREFIX + reader().rotate(_token(stored)).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY or any of FIELD_ENCRYPTION_OLD_KEYS"
        ) from exc


class UnreadableSecret(str):
    """A stored secret that no configured key decrypts, as a field with `unreadable_ok` loads it: an empty string
    (so it is never used as the secret) that remembers the stored text and writes it back unchanged, so the
    row can still be listed, shown as "re-enter it" and saved, and the value comes back if the old key does."""

    stored: str

    def __new__(cls, stored: str) -> UnreadableSecret:
        secret = super().__new__(cls, "")
        secret.stored = stored
        return secret


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted in the database and plain text in Python.

    Not searchable or orderable by value, by design. Forms should never render its value back:
    use `syncsite.forms.SecretInput` (write-only) in admin forms. With `unreadable_ok=True` a value no key
    decrypts loads as an `UnreadableSecret` instead of raising DecryptionError (the row stays readable).
    """

    def __init__(self, *args, unreadable_ok: bool = False, **kwargs):
        self.unreadable_ok = unreadable_ok
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.unreadable_ok:
            kwargs["unreadable_ok"] = True
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except DecryptionError:
            if self.unreadable_ok:
                return UnreadableSecret(value)
            raise

    def get_prep_value(self, value):
        if isinstance(value, UnreadableSecret):
            return value.stored
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every concrete model of every installed app with its encrypted fields (the app registry decides)."""
    from django.apps import apps

    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        fields = [field for field in meta.concrete_fields if isinstance(field, EncryptedTextField)]
        if fields:
            yield model, fields
