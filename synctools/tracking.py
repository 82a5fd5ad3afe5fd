"""Record changes of routed models (saves, deletes, M2M edits) so a Route can answer incremental pulls.

Receivers are connected per model, never globally: a global post_delete receiver would stop Django
from fast-deleting rows of every other model.

Not seen: `QuerySet.update()`, `bulk_create()` and raw SQL, which send no signals; a full pull
(without `incremental`) catches up with those.
"""

from __future__ import annotations

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save

_tracked: set[type[models.Model]] = set()


def is_tracked(model: type[models.Model]) -> bool:
    return model._meta.concrete_model in _tracked


def track(model_list) -> None:
    """Start recording changes of these models (idempotent)."""
    for model in model_list:
        concrete = model._meta.concrete_model
        if concrete in _tracked or concrete._meta.app_label == "synctools":
            continue
        _tracked.add(concrete)
        uid = f"synctools:{concrete._meta.label_lower}"
        post_save.connect(_saved, sender=concrete, dispatch_uid=uid, weak=False)
        post_delete.connect(_deleted, sender=concrete, dispatch_uid=uid, weak=False)
        for field in concrete._meta.many_to_many:
            through = field.remote_field.through
            if isinstance(through, type):
                m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"{uid}:{field.name}", weak=False)


def _saved(sender, instance, raw=False, **kwargs) -> None:
    if raw:  # a fixture or a pull being applied: the client records those itself
        return
    from synctools import services

    services.record_changes(sender, [instance.pk])


def _deleted(sender, instance, **kwargs) -> None:
    from synctools import services

    natural_key = None
    if hasattr(instance, "natural_key"):
        try:
            natural_key = list(instance.natural_key())
        except Exception:  # related rows of the key may already be gone in a cascade
            natural_key = None
    services.record_changes(sender, [instance.pk], deleted=True, natural_key=natural_key)


def _m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in {"post_add", "post_remove", "post_clear", "pre_clear"}:
        return
    from synctools import services

    if not reverse:
        if action != "pre_clear" and is_tracked(type(instance)):
            services.record_changes(type(instance), [instance.pk])
        return
    # The change was made from the other side: the rows that carry the M2M list are `model`'s.
    if not is_tracked(model):
        return
    if action == "pre_clear":
        field = next(
            (f for f in model._meta.many_to_many if f.remote_field.through is sender),
            None,
        )
        if field is not None:
            pks = list(model._base_manager.filter(**{field.name: instance.pk}).values_list("pk", flat=True))
            services.record_changes(model, pks)
    elif pk_set:
        services.record_changes(model, list(pk_set))
