"""django-q2's Schedule admin, with the task allow-list: `func` is picked from the registered tasks."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django_q.admin import ScheduleAdmin as DjangoQScheduleAdmin
from django_q.models import Schedule

from syncsite import schedules


class ScheduleForm(forms.ModelForm):
    """A schedule names a registered task; its arguments are checked against what the task declares."""

    func = forms.ChoiceField(choices=(), help_text="Only registered tasks can be scheduled.")

    class Meta:
        model = Schedule
        fields = schedules.EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(path, f"{task.label} ({path})") for path, task in schedules.registered_tasks().items()]
        current = self.instance.func if self.instance.pk else ""
        if current and current not in schedules.registered_tasks():
            choices.append((current, f"{current} (not registered: cannot be saved)"))
        self.fields["func"].choices = choices

    def clean(self):
        cleaned = super().clean()
        try:
            schedules.validate_timing(
                cleaned.get("schedule_type"), cron=cleaned.get("cron"), minutes=cleaned.get("minutes")
            )
            if cleaned.get("func"):
                cleaned["args"], cleaned["kwargs"] = schedules.clean_schedule_call(
                    cleaned["func"], cleaned.get("args"), cleaned.get("kwargs")
                )
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


admin.site.unregister(Schedule)


@admin.register(Schedule)
class ScheduleAdmin(DjangoQScheduleAdmin):
    form = ScheduleForm
    fields = ScheduleForm.Meta.fields
