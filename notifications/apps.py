from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        """Listen to the kernel's events; register the digest task (sends what cool-downs held back)."""
        from notifications import services
        from syncsite import events
        from syncsite.schedules import register_task

        events.raised.connect(services.on_raised, dispatch_uid="notifications.raised")
        events.resolved.connect(services.on_resolved, dispatch_uid="notifications.resolved")
        register_task("notifications.tasks.flush", label="Notifications: send held-back digests")
