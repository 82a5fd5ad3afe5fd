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


RUN_FAILED = "hosts.run_failed"


def _run_logged(sender, instance, created: bool = False, raw: bool = False, **kwargs) -> None:
    """An import, export or plugin run's log entry: a flagged one raises the event, a clean one resolves it."""
    from syncsite import events

    if raw or not created:
        return
    key = f"{instance.source}: {instance.name}"
    if instance.has_error:
        lines = [f"{name}: {value}" for name, value in (instance.details or [])[:50] if isinstance(name, str)]
        events.emit(RUN_FAILED, key, f"run failed: {key}", lines=lines, url=f"/admin/hosts/logentry/{instance.pk}/")
    else:
        events.resolve(RUN_FAILED, key, title=f"run works again: {key}")


def _cronjob_finished(sender, instance, raw: bool = False, **kwargs) -> None:
    from syncsite import events

    if raw:
        return
    key = f"cronjob: {instance.job}" + (f" ({instance.account})" if instance.account else "")
    if instance.status == instance.FAILED:
        last = (instance.traceback or "").strip().splitlines()[-1:] or ["(no traceback)"]
        url = f"/admin/hosts/cronjobrun/{instance.pk}/"
        events.emit(RUN_FAILED, key, f"cronjob failed: {instance.job}", lines=last, url=url)
    elif instance.status == instance.SUCCESS:
        events.resolve(RUN_FAILED, key, title=f"cronjob works again: {instance.job}")


def connect() -> None:
    from django.apps import apps

    from hosts import models

    post_migrate.connect(_secure_declared_fields, sender=apps.get_app_config("hosts"), dispatch_uid="hosts-secrets")
    post_save.connect(_run_logged, sender=models.LogEntry, dispatch_uid="hosts-run-logged")
    post_save.connect(_cronjob_finished, sender=models.CronjobRun, dispatch_uid="hosts-cronjob-finished")
    from syncsite import events

    events.declare(RUN_FAILED, "Hosts: an import, export, plugin or cronjob run failed")

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
