"""The hosts tasks a django-q2 schedule may run, with their arguments (see syncsite.schedules).

Every registered cronjob is schedulable through `hosts.tasks.run_cronjob` (the admin's "Cronjob
schedules" page stores that); its `job` must name a registered cronjob and `account` an account.
"""

from __future__ import annotations

from rest_framework import serializers

from hosts import cronjobs
from syncsite.schedules import register_task


class RunCronjobArguments(serializers.Serializer):
    job = serializers.CharField(max_length=200)
    account = serializers.CharField(max_length=200, required=False, allow_null=True)

    def validate_job(self, value: str) -> str:
        if value not in cronjobs.registered_cronjobs():
            known = ", ".join(cronjobs.registered_cronjobs()) or "none"
            raise serializers.ValidationError(f"{value!r} is not a registered cronjob (known: {known}).")
        return value

    def validate_account(self, value: str | None) -> str | None:
        from hosts.models import Account

        if value and not Account.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"there is no account named {value!r}.")
        return value or None


class PurgeLogEntriesArguments(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=36_500, required=False, allow_null=True)


def register() -> None:
    register_task("hosts.tasks.run_cronjob", label="Run a registered cronjob", arguments=RunCronjobArguments)
    register_task("hosts.tasks.purge_log_entries", label="Purge old log entries", arguments=PurgeLogEntriesArguments)
    register_task("hosts.tasks.report_stale_hosts", label="Report the hosts imports no longer see")
