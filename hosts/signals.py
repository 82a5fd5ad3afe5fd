"""Any change to a rule, condition or outcome moves the rules version, making cached attributes stale.

After `migrate`, custom fields that an installed plugin declares secret but that were stored before it
said so are encrypted (installing or upgrading a plugin is followed by `manage.py migrate`).
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_migrate, post_save


def _rules_changed(sender, **kwargs) -> None:
    from hosts.services import bump_rules_version

    if kwargs.get("raw"):
        return
    bump_rules_version()


def _secure_declared_fields(sender, **kwargs) -> None:
    from django.core.exceptions import FieldDoesNotExist

    from hosts.services import secure_declared_fields

    state = kwargs.get("apps")
    try:  # migrated back before the secret column exists: nothing to do
        if state is not None:
            state.get_model("hosts", "AccountCustomField")._meta.get_field("secret")
    except (LookupError, FieldDoesNotExist):
        return
    secure_declared_fields()


def connect() -> None:
    from django.apps import apps

    from hosts import models

    post_migrate.connect(_secure_declared_fields, sender=apps.get_app_config("hosts"), dispatch_uid="hosts-secrets")

    for model in (
        models.CustomAttributeRule,
        models.CustomAttributeCondition,
        models.CustomAttributeOutcome,
        models.RewriteRule,
        models.RewriteCondition,
        models.RewriteOutcome,
        models.FilterRule,
        models.FilterCondition,
        models.FilterOutcome,
    ):
        post_save.connect(_rules_changed, sender=model, dispatch_uid=f"hosts-rules-{model.__name__}-save")
        post_delete.connect(_rules_changed, sender=model, dispatch_uid=f"hosts-rules-{model.__name__}-delete")
