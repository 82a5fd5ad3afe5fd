"""Re-encrypt every encrypted model field with the current FIELD_ENCRYPTION_KEY.

The procedure: set FIELD_ENCRYPTION_KEY to the new key and FIELD_ENCRYPTION_OLD_KEYS to the previous
one(s), run this command, then remove FIELD_ENCRYPTION_OLD_KEYS. Running it again is harmless: values
already under the current key are left alone.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F, Value

from syncsite.fields import DecryptionError, EncryptedTextField, encrypted_fields, is_current, reencrypt

RAW = "_stored_{}"


def _raw_rows(model: type[models.Model], fields: list[EncryptedTextField], after, limit: int) -> list[tuple]:
    """(pk, stored text of each field) of the next batch, read without decrypting."""
    raw = {RAW.format(f.attname): ExpressionWrapper(F(f.attname), output_field=models.TextField()) for f in fields}
    queryset = model._default_manager.order_by("pk").annotate(**raw)
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    return list(queryset.values_list("pk", *raw)[:limit])


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field of every model with FIELD_ENCRYPTION_KEY, reading old values with "
        "FIELD_ENCRYPTION_OLD_KEYS. Checks every value first: if any cannot be decrypted, nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
        parser.add_argument("--check", action="store_true", help="only report what would be re-encrypted")

    def handle(self, *args, batch_size: int, check: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        targets = list(encrypted_fields())
        stale = self._scan(targets, batch_size)
        if check:
            self.stdout.write(f"{sum(stale.values())} value(s) to re-encrypt")
            return
        total_rotated = total_current = 0
        for model, fields in targets:
            rotated = current = 0
            after = None
            while rows := _raw_rows(model, fields, after, batch_size):
                with transaction.atomic(using=model._default_manager.db):
                    for pk, *stored_values in rows:
                        changes = {}
                        for field, stored in zip(fields, stored_values, strict=True):
                            if not stored:
                                continue
                            if is_current(stored):
                                current += 1
                                continue
                            changes[field.attname] = Value(self._reencrypt(model, pk, field, stored))
                        if changes:
                            model._default_manager.filter(pk=pk).update(**changes)
                            rotated += len(changes)
                after = rows[-1][0]
            self.stdout.write(f"{model._meta.label}: {rotated} re-encrypted, {current} already current")
            total_rotated += rotated
            total_current += current
        self.stdout.write(f"done: {total_rotated} value(s) re-encrypted, {total_current} already current")

    def _scan(self, targets, batch_size: int) -> dict[str, int]:
        """Values per model that need the new key; CommandError naming every row that no key decrypts."""
        stale: dict[str, int] = {}
        failures: list[str] = []
        for model, fields in targets:
            after = None
            while rows := _raw_rows(model, fields, after, batch_size):
                for pk, *stored_values in rows:
                    for field, stored in zip(fields, stored_values, strict=True):
                        if not stored or is_current(stored):
                            continue
                        try:
                            reencrypt(stored)
                        except DecryptionError:
                            failures.append(f"{model._meta.label} pk={pk} field {field.name}")
                        else:
                            stale[model._meta.label] = stale.get(model._meta.label, 0) + 1
                after = rows[-1][0]
        if failures:
            shown = "; ".join(failures[:20]) + (f"; and {len(failures) - 20} more" if len(failures) > 20 else "")
            raise CommandError(
                "cannot decrypt with FIELD_ENCRYPTION_KEY or any of FIELD_ENCRYPTION_OLD_KEYS (nothing was changed): "
                + shown
            )
        return stale

    @staticmethod
    def _reencrypt(model: type[models.Model], pk, field: EncryptedTextField, stored: str) -> str:
        try:
            return reencrypt(stored)
        except DecryptionError as exc:  # written between the scan and now with an unknown key
            raise CommandError(f"{model._meta.label} pk={pk} field {field.name}: {exc}") from exc
