"""django-filter filter sets of the hosts REST API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform

from hosts.models import CronjobRun, Host, LogEntry


class HostFilter(django_filters.FilterSet):
    """`?account=NAME&label_key=os&label_value=linux&stale=true`; a label value needs its key."""

    account = django_filters.CharFilter(field_name="account__name", help_text="owning account's name")
    label_key = django_filters.CharFilter(method="filter_label", help_text="hosts that have this label")
    label_value = django_filters.CharFilter(method="filter_label", help_text="... with this value (needs label_key)")
    stale = django_filters.BooleanFilter(help_text="not seen by the last import of its account")
    hostname = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Host
        fields = ["account", "stale", "is_object", "object_type", "disabled", "locked", "hostname"]

    def filter_label(self, queryset: QuerySet[Host], name: str, value: str) -> QuerySet[Host]:
        key = self.data.get("label_key")
        if name == "label_value" and not key:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"label_value": "label_value needs label_key"})
        if name == "label_key":
            return queryset.filter(labels__has_key=value)
        # KeyTransform (not `labels__<key>`) so a key named like a lookup ("contains", "in") is still a key.
        candidates = Q(_label_value=value)
        if value.lstrip("-").isdigit():
            candidates |= Q(_label_value=int(value))  # numbers imported from JSON/YAML match their text
        return queryset.alias(_label_value=KeyTransform(key, "labels")).filter(candidates)


class LogEntryFilter(django_filters.FilterSet):
    errors = django_filters.BooleanFilter(field_name="has_error", help_text="only runs that failed (true)")

    class Meta:
        model = LogEntry
        fields = ["source", "name", "has_error"]


class CronjobRunFilter(django_filters.FilterSet):
    class Meta:
        model = CronjobRun
        fields = ["job", "account", "status"]
