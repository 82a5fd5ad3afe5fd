"""Admin of the notifications: channels (secrets write-only), rules (event choices), incidents and deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from notifications.models import Channel, Delivery, Incident, Rule
from syncsite import events
from syncsite.admin import ReadOnlyAdminMixin
from syncsite.forms import SecretFieldMixin


class ChannelForm(SecretFieldMixin, forms.ModelForm):
    secret_fields = ("secret",)
    url = forms.URLField(
        required=False, assume_scheme="https", max_length=2000, help_text=Channel._meta.get_field("url").help_text
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "enabled", "recipients", "url", "secret"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "enabled", "target", "signed"]
    list_filter = ["kind", "enabled"]

    @admin.display(description="sends to")
    def target(self, obj: Channel) -> str:
        from syncsite.redact import redact_url

        return ", ".join(obj.addresses()) if obj.kind == Channel.EMAIL else redact_url(obj.url)

    @admin.display(boolean=True, description="signed")
    def signed(self, obj: Channel) -> bool:
        return bool(obj.secret)


class RuleForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = Rule
        fields = ["name", "enabled", "events", "channels", "notify_event_emails", "cooldown_minutes", "send_recovered"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = events.choices()
        extra = [(kind, kind) for kind in (self.instance.events or []) if kind not in dict(known)]
        self.fields["events"].choices = known + extra


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "enabled", "event_list", "cooldown_minutes", "send_recovered"]
    filter_horizontal = ["channels"]

    @admin.display(description="events")
    def event_list(self, obj: Rule) -> str:
        return ", ".join(obj.events) or "every event"


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "key", "title", "rule", "opened", "last_seen", "occurrences", "count", "resolved"]
    list_filter = ["kind", ("resolved", admin.EmptyFieldListFilter)]
    search_fields = ["key", "title"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created", "subject", "channel", "recipients", "ok", "attempts", "error"]
    list_filter = ["ok"]
