"""The rules-version row, and the daily schedule that purges old run log entries."""

from django.db import migrations

PURGE_NAME = "Purge old log entries"
PURGE_FUNC = "hosts.tasks.purge_log_entries"


def forwards(apps, schema_editor):
    RulesState = apps.get_model("hosts", "RulesState")
    RulesState.objects.get_or_create(pk=1, defaults={"version": 0})
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(func=PURGE_FUNC).exists():
        Schedule.objects.create(name=PURGE_NAME, func=PURGE_FUNC, schedule_type="D", repeats=-1)


def backwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(func=PURGE_FUNC, name=PURGE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
