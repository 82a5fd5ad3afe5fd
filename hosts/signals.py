"""Any change to a rule, condition or outcome moves the rules version, making cached attributes stale."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _rules_changed(sender, **kwargs) -> None:
    from hosts.services import bump_rules_version

    if kwargs.get("raw"):
        return
    bump_rules_version()


def connect() -> None:
    from hosts import models

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
