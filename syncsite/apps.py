from django.apps import AppConfig


class SyncsiteConfig(AppConfig):
    name = "syncsite"
    verbose_name = "Syncsite"

    def ready(self) -> None:
        """Guard the scheduler with the task allow-list; register the tasks of Django-only apps (synctools)."""
        from django_q.signals import pre_enqueue

        from syncsite import schedules, site_schedules

        pre_enqueue.connect(schedules.guard_enqueued_task, dispatch_uid="syncsite.schedules.guard")
        site_schedules.register()
