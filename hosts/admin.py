"""Admin pages of hosts: inventory, accounts (write-only passwords), run log, rules and cronjobs."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.html import format_html, format_html_join

from hosts import cronjobs, models, services
from hosts.normalize import normalize_hostname, normalize_labels
from hosts.rules import RuleError, _rewriter, _text_or_template, compile_condition
from syncsite import schedules
from syncsite.admin import ReadOnlyAdminMixin
from syncsite.forms import SecretFieldMixin, SecretInput
from syncsite.redact import redact_url, scrub

# --- accounts ------------------------------------------------------------------------------------------------


class AccountForm(SecretFieldMixin, forms.ModelForm):
    secret_fields = ("password",)

    class Meta:
        model = models.Account
        fields = [
            "name",
            "type",
            "address",
            "username",
            "password",
            "is_master",
            "enabled",
            "verify_ssl",
            "request_timeout",
            "parent",
        ]


class AccountCustomFieldForm(forms.ModelForm):
    """A secret field's value is write-only: never rendered back, and left blank it keeps the stored one."""

    value = forms.CharField(required=False, strip=False, widget=forms.TextInput(attrs={"size": 40}))

    class Meta:
        model = models.AccountCustomField
        fields = ["name", "value", "secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.is_secret:
            self.initial["value"] = ""
            self.fields["value"].widget = SecretInput(attrs={"size": 40})
            self.fields["value"].help_text = "Stored encrypted. Leave blank to keep the current value."
        if self.instance.pk and self.instance.declared_secret():
            self.fields["secret"].help_text = "Declared secret by the plugin of this account type."

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.is_secret and not cleaned.get("value"):
            cleaned["value"] = self.instance.get_value()
        return cleaned


class AccountCustomFieldInline(admin.TabularInline):
    model = models.AccountCustomField
    form = AccountCustomFieldForm
    extra = 1


@admin.register(models.Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    inlines = [AccountCustomFieldInline]
    list_display = ["name", "type", "shown_address", "is_master", "enabled", "host_count"]
    list_filter = ["type", "is_master", "enabled"]
    search_fields = ["name", "address", "type"]

    actions = ["queue_import_hosts", "queue_export_hosts", "queue_inventorize_hosts"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_host_count=Count("hosts"))

    def _queue_type_job(self, request, queryset, action: str) -> None:
        """Queue the job `<type>: <action>` (a plugin's cronjob, e.g. `netbox: export-hosts`) for each account."""
        jobs = cronjobs.registered_cronjobs()
        for account in queryset:
            job = f"{account.type}: {action}"
            if job not in jobs:
                messages.warning(request, f"{account.name}: accounts of type {account.type!r} have no {action} job")
                continue
            services.queue_cronjob(job, account.name)
            messages.success(request, f"{account.name}: {job} queued")

    @admin.action(description="Import hosts from the selected accounts (queued)")
    def queue_import_hosts(self, request, queryset):
        self._queue_type_job(request, queryset, "import-hosts")

    @admin.action(description="Export hosts to the selected accounts (queued)")
    def queue_export_hosts(self, request, queryset):
        self._queue_type_job(request, queryset, "export-hosts")

    @admin.action(description="Inventorize hosts from the selected accounts (queued)")
    def queue_inventorize_hosts(self, request, queryset):
        self._queue_type_job(request, queryset, "inventorize-hosts")

    @admin.display(description="hosts", ordering="_host_count")
    def host_count(self, obj) -> int:
        return obj._host_count

    @admin.display(description="address", ordering="address")
    def shown_address(self, obj) -> str:
        return redact_url(obj.address)


# --- hosts ---------------------------------------------------------------------------------------------------


class LabelFilter(admin.SimpleListFilter):
    """Filter on a label key (hosts that have it); search `key:value` for a value."""

    title = "label"
    parameter_name = "label"
    sample = 500

    def lookups(self, request, model_admin):
        keys: set[str] = set()
        for labels in models.Host.objects.values_list("labels", flat=True)[: self.sample]:
            keys.update((labels or {}).keys())
        return [(key, key) for key in sorted(keys)[:50]]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(labels__has_key=self.value())
        return queryset


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


class HostForm(forms.ModelForm):
    """Labels are normalised like imports do; changing labels or inventory clears the attribute cache."""

    class Meta:
        model = models.Host
        fields = ["hostname", "account", "is_object", "object_type", "locked", "disabled", "labels", "inventory"]

    def clean_hostname(self):
        name = normalize_hostname(self.cleaned_data.get("hostname"))
        if not name:
            raise forms.ValidationError("Not a valid hostname.")
        return name

    def clean_labels(self):
        labels = self.cleaned_data.get("labels") or {}
        if not isinstance(labels, dict):
            raise forms.ValidationError('Labels must be a JSON object, e.g. {"os": "linux"}.')
        return normalize_labels(labels)

    def clean_inventory(self):
        inventory = self.cleaned_data.get("inventory") or {}
        if not isinstance(inventory, dict):
            raise forms.ValidationError("The inventory must be a JSON object.")
        return inventory


@admin.register(models.Host)
class HostAdmin(admin.ModelAdmin):
    form = HostForm
    list_display = [
        "hostname",
        "account",
        "label_summary",
        "is_object",
        "disabled",
        "last_import_seen",
        "last_import_sync",
    ]
    list_filter = ["account", LabelFilter, "is_object", "object_type", "disabled", "locked"]
    list_select_related = ["account"]
    search_fields = ["hostname"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_seen()

    @admin.display(description="last import seen", ordering="last_import_seen")
    def last_import_seen(self, host: models.Host):
        return host.last_import_seen

    readonly_fields = ["created", "last_import_seen", "last_import_sync", "host_log", "attribute_cache"]
    fieldsets = [
        (None, {"fields": ["hostname", "account", "is_object", "object_type", "locked", "disabled"]}),
        ("Data", {"fields": ["labels", "inventory"]}),
        ("History", {"fields": ["created", "last_import_seen", "last_import_sync", "host_log", "attribute_cache"]}),
    ]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        """`key:value` terms search label values (exact), other terms the hostname."""
        plain: list[str] = []
        for term in search_term.split():
            key, sep, value = term.partition(":")
            if sep and key:
                queryset = queryset.filter(Q(**{f"labels__{key.lower()}": value}))
            else:
                plain.append(term)
        return super().get_search_results(request, queryset, " ".join(plain))

    def save_model(self, request, obj, form, change):
        if change:
            services.record_manual_edit(obj, form.changed_data, request.user.get_username())
        super().save_model(request, obj, form, change)

    @admin.display(description="labels")
    def label_summary(self, obj) -> str:
        text = ", ".join(f"{k}={v}" for k, v in sorted((obj.labels or {}).items()))
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="log (newest first)")
    def host_log(self, obj) -> str:
        return format_html_join("\n", "<div><code>{}</code> {}</div>", ((e["time"], e["message"]) for e in obj.log))

    @admin.display(description="attribute cache")
    def attribute_cache(self, obj) -> str:
        return _pretty(obj.cache) if obj.cache else "-"


# --- run log -------------------------------------------------------------------------------------------------


@admin.register(models.LogEntry)
class LogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created", "source", "name", "has_error", "duration"]
    list_filter = ["has_error", "source"]
    search_fields = ["name", "source"]
    date_hierarchy = "created"
    readonly_fields = ["created", "source", "name", "has_error", "duration", "detail_table"]
    exclude = ["details"]

    @admin.display(description="details")
    def detail_table(self, obj) -> str:
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((k, scrub(v)) for k, v in obj.details))
        return format_html("<table>{}</table>", rows)


# --- rules ---------------------------------------------------------------------------------------------------


class ConditionForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        if cleaned.get("match_type") == "attribute" and not (cleaned.get("attribute") or "").strip():
            raise forms.ValidationError("An attribute condition needs the attribute key to look at.")
        defaults = {f.name: f.get_default() for f in self._meta.model._meta.concrete_fields}
        probe = SimpleNamespace(**{**defaults, **{k: v for k, v in cleaned.items() if v is not None}})
        try:
            compile_condition(probe)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


class RewriteOutcomeForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        try:
            _rewriter(cleaned.get("key_mode", "keep"), cleaned.get("new_key", ""))
            _rewriter(cleaned.get("value_mode", "keep"), cleaned.get("new_value", ""))
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


class CustomAttributeOutcomeForm(forms.ModelForm):
    def clean_value(self):
        value = self.cleaned_data.get("value", "")
        try:
            _text_or_template(value)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value


def _condition_inline(model_class):
    return type(
        f"{model_class.__name__}Inline",
        (admin.StackedInline,),
        {"model": model_class, "form": ConditionForm, "extra": 0},
    )


class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "sort_order", "condition_type", "last_match", "updated"]
    list_editable = ["enabled", "sort_order"]
    list_filter = ["enabled", "condition_type", "last_match"]
    search_fields = ["name"]
    actions = ["enable", "disable"]

    @admin.action(description="Enable selected rules")
    def enable(self, request, queryset):
        for rule in queryset:
            rule.enabled = True
            rule.save(update_fields=["enabled", "updated"])
        messages.success(request, f"{queryset.count()} rules enabled")

    @admin.action(description="Disable selected rules")
    def disable(self, request, queryset):
        for rule in queryset:
            rule.enabled = False
            rule.save(update_fields=["enabled", "updated"])
        messages.success(request, f"{queryset.count()} rules disabled")


class CustomAttributeOutcomeInline(admin.TabularInline):
    model = models.CustomAttributeOutcome
    form = CustomAttributeOutcomeForm
    extra = 1


@admin.register(models.CustomAttributeRule)
class CustomAttributeRuleAdmin(RuleAdmin):
    inlines = [_condition_inline(models.CustomAttributeCondition), CustomAttributeOutcomeInline]


class RewriteOutcomeInline(admin.TabularInline):
    model = models.RewriteOutcome
    form = RewriteOutcomeForm
    extra = 1


@admin.register(models.RewriteRule)
class RewriteRuleAdmin(RuleAdmin):
    inlines = [_condition_inline(models.RewriteCondition), RewriteOutcomeInline]


class FilterOutcomeInline(admin.TabularInline):
    model = models.FilterOutcome
    extra = 1


@admin.register(models.FilterRule)
class FilterRuleAdmin(RuleAdmin):
    inlines = [_condition_inline(models.FilterCondition), FilterOutcomeInline]


# --- cronjobs ------------------------------------------------------------------------------------------------

CRONJOB_FUNC = "hosts.tasks.run_cronjob"


class CronjobScheduleForm(forms.ModelForm):
    """A django-q2 schedule whose job is picked from the registered cronjobs, with an optional account."""

    job = forms.ChoiceField(choices=())
    account = forms.ModelChoiceField(
        queryset=models.Account.objects.all(), required=False, to_field_name="name", empty_label="(none)"
    )

    class Meta:
        model = models.CronjobSchedule
        fields = ["name", "schedule_type", "minutes", "cron", "next_run", "repeats"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        jobs = list(cronjobs.registered_cronjobs())
        current = self._current_kwargs()
        if current.get("job") and current["job"] not in jobs:
            jobs.append(current["job"])
        self.fields["job"].choices = [(name, name) for name in jobs]
        if current:
            self.fields["job"].initial = current.get("job")
            self.fields["account"].initial = current.get("account")

    def _current_kwargs(self) -> dict[str, Any]:
        import ast

        if not (self.instance.pk and self.instance.kwargs):
            return {}
        try:
            value = ast.literal_eval(self.instance.kwargs)
        except (ValueError, SyntaxError):
            return {}
        return value if isinstance(value, dict) else {}

    def clean(self):
        cleaned = super().clean()
        try:
            schedules.validate_timing(
                cleaned.get("schedule_type"), cron=cleaned.get("cron"), minutes=cleaned.get("minutes")
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        if cleaned.get("job"):
            account = cleaned.get("account")
            call = repr({"job": cleaned["job"], "account": account.name if account else None})
            try:
                self._call = schedules.clean_schedule_call(CRONJOB_FUNC, None, call)
            except ValidationError as exc:
                self.add_error("job", exc.messages)
        return cleaned

    def save(self, commit=True):
        schedule = super().save(commit=False)
        schedule.func = CRONJOB_FUNC
        schedule.args, schedule.kwargs = self._call
        if not schedule.name:
            schedule.name = self.cleaned_data["job"]
        if commit:
            schedule.save()
        return schedule


@admin.register(models.CronjobSchedule)
class CronjobScheduleAdmin(admin.ModelAdmin):
    form = CronjobScheduleForm
    list_display = ["name", "job_name", "schedule_type", "minutes", "cron", "next_run"]
    fields = ["name", "job", "account", "schedule_type", "minutes", "cron", "next_run", "repeats"]

    actions = ["run_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(func=CRONJOB_FUNC)

    @admin.action(description="Run the selected jobs now (in the task queue)")
    def run_now(self, request, queryset):
        import ast

        for schedule in queryset:
            try:
                kwargs = ast.literal_eval(schedule.kwargs or "{}")
                services.queue_cronjob(kwargs.get("job"), kwargs.get("account"), schedule=schedule.name)
            except (ValueError, SyntaxError, AttributeError):
                messages.error(request, f"{schedule.name}: its arguments cannot be read")
                continue
            messages.success(request, f"{schedule.name}: queued")

    @admin.display(description="job")
    def job_name(self, obj) -> str:
        import ast

        try:
            return ast.literal_eval(obj.kwargs).get("job", "")
        except (ValueError, SyntaxError, AttributeError):
            return ""


@admin.register(models.CronjobRun)
class CronjobRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["job", "account", "status", "started", "ended"]
    list_filter = ["status", "job"]
    search_fields = ["job", "account"]
    readonly_fields = ["job", "account", "status", "started", "ended", "log_text", "traceback_text"]
    exclude = ["log", "traceback"]

    @admin.display(description="log")
    def log_text(self, obj) -> str:
        return format_html("<pre>{}</pre>", obj.log or "-")

    @admin.display(description="traceback")
    def traceback_text(self, obj) -> str:
        return format_html("<pre>{}</pre>", obj.traceback or "-")
