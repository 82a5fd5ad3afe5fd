"""Users appear as read-only `@username` nodes: keep them in step with Django's users."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tracker import services
from tracker.models import TrackerProfile


@receiver(post_save, sender=get_user_model(), dispatch_uid="tracker_user_saved")
def user_saved(sender, instance, raw: bool = False, **kwargs) -> None:
    if not raw:
        services.sync_user_node(instance)


@receiver(post_delete, sender=get_user_model(), dispatch_uid="tracker_user_deleted")
def user_deleted(sender, instance, **kwargs) -> None:
    services.remove_user_node(instance.get_username())


@receiver(post_save, sender=TrackerProfile, dispatch_uid="tracker_profile_saved")
def profile_saved(sender, instance, raw: bool = False, **kwargs) -> None:
    if not raw:
        services.sync_user_node(instance.user)
