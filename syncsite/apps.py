from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SyncsiteConfig(AppConfig):
    name = "syncsite"
    verbose_name = "Syncsite"


class SyncsiteAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Syncsite's admin site (optional two-factor sign-in) as `admin.site`."""

    default = False  # `syncsite` itself is SyncsiteConfig; this one is named in INSTALLED_APPS
    default_site = "syncsite.admin_site.SyncsiteAdminSite"
