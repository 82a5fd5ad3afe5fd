"""Encrypted model fields for secrets kept at rest (account passwords, Syncthing API keys).

Fernet (AES-128-CBC + HMAC) from `cryptography`. The key is FIELD_ENCRYPTION_KEY when set (so that
rotating SECRET_KEY does not make stored secrets unreadable), otherwise derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("syncsite-field-encryption:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def fernet() -> Fernet:
    material = settings.FIELD_ENCRYPTION_KEY or settings.SECRET_KEY
    if not material:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY or SECRET_KEY must be set to store secrets.")
    return _fernet(material)


def encrypt(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("stored secret is not in the encrypted format")
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the current FIELD_ENCRYPTION_KEY") from exc


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted in the database and plain text in Python.

    Not searchable or orderable by value, by design. Forms should never render its value back:
    use `syncsite.forms.SecretInput` (write-only) in admin forms.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
