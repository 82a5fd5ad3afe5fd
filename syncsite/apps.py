from importlib import import_module

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SyncsiteConfig(AppConfig):
    """The site's own app: it wires in synctools, which knows only Django and so cannot register itself."""

    name = "syncsite"
    verbose_name = "Syncsite"

    def ready(self) -> None:
        """Register the dashboard cards, tasks and error base of Django-only apps (synctools); guard the task queue.

        With `SYNCTOOL_API_TOKEN` set, the routes of the site's own data are imported here, so every process
        (web, workers, commands) records changes of the models they serve.
        """
        from django_q.signals import pre_enqueue, pre_execute

        from syncsite import dashboard, errors, ops, schedules, site_schedules, taskqueue
        from synctools import conf as synctools_conf
        from synctools import services as synctools_services
        from synctools.errors import SynctoolsError

        errors.register_foreign(SynctoolsError)  # synctools cannot subclass DomainError: it knows only Django

        if synctools_conf.api_token():
            import_module("syncsite.sync_routes")

        dashboard.register(
            "synctools", cards=synctools_services.dashboard_cards, sections=synctools_services.dashboard_sections
        )
        pre_enqueue.connect(schedules.guard_enqueued_task, dispatch_uid="syncsite.schedules.guard")
        pre_execute.connect(taskqueue.renew_delivery, dispatch_uid="syncsite.taskqueue.renew_delivery")
        site_schedules.register()
        ops.register()
        # "Needs attention" comes first: the site's own entry (its label sorts before every app's).
        dashboard.register("syncsite", sections=ops.dashboard_sections)


class SyncsiteAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Syncsite's admin site (optional two-factor sign-in) as `admin.site`."""

    default = False  # `syncsite` itself is SyncsiteConfig; this one is named in INSTALLED_APPS
    default_site = "syncsite.admin_site.SyncsiteAdminSite"
