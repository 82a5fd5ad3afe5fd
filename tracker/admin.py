"""Admin pages of the tracker: a node browser with per-site status, typed volume and global parameter forms,
user classes and tokens. Every write goes through tracker.services as the signed-in user, so the permission
matrix of tracker.permissions applies here as on the API; volume values use tracker.rsyncpolicy's validators."""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from syncsite.redact import redact_urls_in_text
from syncsite.templatetags.siteformat import exact
from tracker import conf, limits, permissions, rsyncpolicy, services
from tracker.models import GlobalParameters, Node, NodeKind, TrackerProfile, Volume
from tracker.query import QueryError, text_query

STATUS_COLOURS = {
    "synced": "#2e7d32",
    "outdated": "#b8860b",
    "syncing": "#1565c0",
    "error": "#c62828",
    "not wanted": "#777",
    "missing": "#555",
    "origin": "#000",
}


def _raise_first(results: list) -> dict:
    result = results[0]
    if isinstance(result, services.TrackerError):
        raise ValidationError(result.detail)
    return result


def _actor(request: HttpRequest) -> services.Actor:
    return services.actor_for(request.user)


def _may_write_kind(request: HttpRequest, node_id: str, kind: str) -> bool:
    """Whether the matrix lets this user write such a node at all (admin kinds, user nodes)."""
    try:
        kind = permissions.kind_of(node_id, kind)
        permissions.check_kind(_actor(request), permissions.Op.UPDATE, node_id, (kind,))
    except services.Forbidden:
        return False
    return True


def _check_form_write(form: forms.Form, request: HttpRequest, node_id: str, keys: dict) -> None:
    """The matrix's verdict on the form's write, shown on the form instead of failing on save."""
    try:
        services.check_write(node_id, keys, _actor(request))
    except services.TrackerError as exc:
        form.add_error(None, exc.detail)


# --------------------------------------------------------------------------------------------- nodes


class NodeForm(forms.ModelForm):
    """A node is its `_id` plus its keys as one JSON object."""

    keys = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "cols": 100, "style": "font-family: monospace"}),
        required=False,
        help_text="The node's keys as a JSON object (without _id). Remove a key to delete it (author and time stay).",
    )

    class Meta:
        model = Node
        fields = ["node_id"]

    request: HttpRequest | None = None  # set by NodeAdmin.get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["node_id"].disabled = True
            shown = {k: v for k, v in self.instance.data.items() if k not in self.hidden_keys()}
            self.fields["keys"].initial = json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)

    def hidden_keys(self) -> frozenset[str]:
        """Keys this user may not read: not shown, and kept as they are on save."""
        if not self.instance.pk or self.request is None:
            return frozenset()
        kind = permissions.kind_of(self.instance.node_id, self.instance.kind)
        return permissions.hidden_keys(_actor(self.request), kind)

    def changes(self) -> dict:
        """The keys to write: the form's, plus removals of shown keys left out (author and time stay)."""
        keys = dict(self.cleaned_data.get("keys") or {})
        if not self.instance.pk:
            return keys
        kept = {"author", "time", *self.hidden_keys()}
        return {**{k: None for k in self.instance.data if k not in keys and k not in kept}, **keys}

    def clean(self):
        cleaned = super().clean()
        node_id = self.instance.node_id if self.instance.pk else cleaned.get("node_id")
        if node_id and "keys" in cleaned and self.request is not None:
            _check_form_write(self, self.request, node_id, self.changes())
        return cleaned

    def clean_node_id(self) -> str:
        node_id = self.cleaned_data["node_id"]
        if not self.instance.pk:
            try:
                services.validate_node_id(node_id)
            except services.TrackerError as exc:
                raise ValidationError(exc.detail) from exc
        return node_id

    def clean_keys(self) -> dict:
        text = self.cleaned_data.get("keys") or "{}"
        try:  # the damas routes' rules: numbers, text, nesting and node size
            keys = limits.parse_json(text.encode("utf-8", "surrogatepass"), nodes=True)
        except services.TrackerError as exc:
            raise ValidationError(f"Not valid node JSON: {exc.detail}") from exc
        if not isinstance(keys, dict):
            raise ValidationError("Keys must be a JSON object.")
        keys.pop("_id", None)
        return keys


class NodeAdmin(admin.ModelAdmin):
    """Browse nodes: search `/path/prefix` or text-language terms (`origin:paris size>10`)."""

    form = NodeForm
    list_display = ["node_id", "kind", "origin", "author_display", "time_display", "lock_display", "site_status"]
    list_filter = ["kind", "deleted"]
    search_fields = ["node_id"]
    search_help_text = "A path prefix (/project/shots/) or key terms: origin:paris size>100 _id:/regex/"
    readonly_fields = ["kind", "origin", "time_display", "sync_priority", "deleted", "site_states", "children"]
    actions = ["lock_nodes", "unlock_nodes"]
    list_per_page = 100
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        return ["node_id", "keys", *(self.readonly_fields if obj else [])]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _may_write_kind(request, obj.node_id, obj.kind))

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or _may_write_kind(request, obj.node_id, obj.kind))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("/") and " " not in term and ":" not in term:
            return queryset.filter(node_id__startswith=term), False
        if re.search(r"[:<>]", term):
            try:
                return queryset.filter(text_query(term)), False
            except QueryError as exc:
                messages.error(request, f"Search not understood: {exc.detail}")
                return queryset.none(), False
        return queryset.filter(node_id__startswith=term), False

    @admin.display(description="author")
    @admin.display(description="time", ordering="time")
    def time_display(self, obj: Node) -> str:
        """The version time in the site's zone (the wire keeps epoch milliseconds)."""
        return exact(obj.time) if obj.time else "—"

    def author_display(self, obj: Node) -> str:
        author = obj.data.get("author", "")
        return ", ".join(author) if isinstance(author, list) else str(author)

    @admin.display(description="lock")
    def lock_display(self, obj: Node) -> str:
        return str(obj.data.get("lock", ""))

    def _statuses(self, obj: Node, site_names: list[str], everywhere: bool):
        return [(site, services.site_status(obj, site, everywhere)) for site in site_names]

    @admin.display(description="sites")
    def site_status(self, obj: Node):
        if obj.kind not in services.FILE_KINDS:
            return ""
        request_sites = getattr(self, "_request_sites", None)
        site_names, everywhere = request_sites or (services.sites(), True)
        return format_html_join(
            " ",
            '<span title="{}" style="color:{}">{}:&nbsp;{}</span>',
            (
                (status, STATUS_COLOURS.get(status, "#000"), site, status)
                for site, status in self._statuses(obj, site_names, everywhere)
            ),
        )

    def get_changelist_instance(self, request):
        # Two queries per page, not per row: the status column reads only these and each node's own keys.
        self._request_sites = (
            services.sites(),
            services.sync_everywhere(),
        )
        return super().get_changelist_instance(request)

    @admin.display(description="status per site")
    def site_states(self, obj: Node):
        if obj.kind not in services.FILE_KINDS:
            return "—"
        everywhere = services.sync_everywhere()
        rows = self._statuses(obj, services.sites(), everywhere)
        return format_html(
            "<table><tr><th>site</th><th>status</th><th>synced</th><th>error</th></tr>{}</table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td style="color:{}">{}</td><td>{}</td><td>{}'
                '<pre style="white-space:pre-wrap;margin:0">{}</pre></td></tr>',
                (
                    (
                        site,
                        STATUS_COLOURS.get(status, "#000"),
                        status,
                        exact(obj.data.get(f"synced_{site}")),
                        obj.data.get(f"syncError_{site}", ""),
                        redact_urls_in_text(str(obj.data.get(f"syncErrorMessage_{site}") or "")),
                    )
                    for site, status in rows
                ),
            ),
        )

    @admin.display(description="child nodes")
    def children(self, obj: Node):
        kids = list(Node.objects.filter(parent=obj.node_id).order_by("time", "node_id")[:200])
        if not kids:
            return "—"
        return format_html(
            "<table><tr><th>_id</th><th>time</th><th>author</th><th>comment / keys</th></tr>{}</table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
                (
                    (
                        reverse("admin:tracker_node_change", args=[kid.pk]),
                        kid.node_id,
                        exact(kid.data.get("time")),
                        kid.data.get("author", ""),
                        kid.data.get("comment")
                        or json.dumps({k: v for k, v in kid.data.items() if k not in ("#parent", "author", "time")})[
                            :200
                        ],
                    )
                    for kid in kids
                ),
            ),
        )

    def save_model(self, request, obj: Node, form, change: bool) -> None:
        keys = form.changes()
        actor = _actor(request)
        if change:
            node = _raise_first(services.update_nodes([{**keys, "_id": obj.node_id}], actor))
        else:
            node = _raise_first(services.create_nodes([{**keys, "_id": form.cleaned_data["node_id"]}], actor))
        obj.pk = Node.objects.get(node_id=node["_id"]).pk

    def delete_model(self, request, obj: Node) -> None:
        _delete(request, [obj.node_id])

    def delete_queryset(self, request, queryset: QuerySet) -> None:
        _delete(request, list(queryset.values_list("node_id", flat=True)))

    @admin.action(description="Lock selected nodes (in my name)")
    def lock_nodes(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("node_id", flat=True))
        try:
            count = services.force_lock(ids, request.user.get_username(), _actor(request))
        except services.TrackerError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return
        self.message_user(request, f"Locked {count} node(s).")

    @admin.action(description="Unlock selected nodes (whoever holds the lock)")
    def unlock_nodes(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            count = services.force_unlock(list(queryset.values_list("node_id", flat=True)), _actor(request))
        except services.TrackerError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return
        self.message_user(request, f"Unlocked {count} node(s).")


def _delete(request: HttpRequest, node_ids: list[str]) -> None:
    """Delete through services as the signed-in user; what the matrix refuses is reported, not deleted."""
    results = services.delete_nodes(node_ids, _actor(request))
    refused = [r.detail for r in results if isinstance(r, services.TrackerError)]
    if refused:
        messages.error(request, "Not deleted: " + "; ".join(refused[:10]))


admin.site.register(Node, NodeAdmin)


# --------------------------------------------------------------------------------------------- volumes


VOLUME_BOOLEANS = [
    "enableEmission",
    "enableReception",
    "enableDiscovery",
    "enableDiscoveryPackages",
    "enableDiscoveryUpdatedFiles",
    "enableDiscoveryDeletedFiles",
    "enableDeletion",
]
VOLUME_STATUS_KEYS = [
    "agentStatus",
    "agentVersion",
    "agentStartTime",
    "lastConnectionAttempt",
    "lastConnectionSuccess",
    "last_emission",
    "last_reception",
    "last_scan",
    "exit_emission",
    "exit_reception",
    "exit_scan",
    "exit_deletion",
    "stderr_deletion",
    "last_deletion",
    "bytesTotal",
    "bytesUsed",
    "capacityError",
    "error",
    "scan_duration",
]


AUDIT_HIDDEN_KEYS = {"rsync_env"}  # may carry RSYNC_PASSWORD: the audit log says it changed, not to what


def _audit(obj: Node, before: dict, after: dict, change: bool) -> None:
    """An audit log entry (django-auditlog) for a volume or the global parameters, which are JSON keys of a node
    written through the tracker's services, so the model signals auditlog listens to do not see them."""
    from auditlog.models import LogEntry

    changes = {}
    for key in sorted(set(before) | set(after)):
        if key.startswith("_") or before.get(key) == after.get(key):
            continue
        old, new = before.get(key), after.get(key)
        if key in AUDIT_HIDDEN_KEYS:
            old, new = ("***" if old else None), ("***" if new else None)
        changes[key] = [None if old is None else str(old), None if new is None else str(new)]
    if changes:
        action = LogEntry.Action.UPDATE if change else LogEntry.Action.CREATE
        LogEntry.objects.log_create(obj, action=action, changes=changes)


# The spec's keys in words for the admin form (the key itself is the help text's first word).
VOLUME_LABELS = {
    "enableEmission": "Emission enabled (send files to other sites)",
    "enableReception": "Reception enabled (receive files from other sites)",
    "enableDiscovery": "Discovery enabled (scan the volume for files)",
    "enableDiscoveryPackages": "Discover folder packages",
    "enableDiscoveryUpdatedFiles": "Discover updated files",
    "enableDiscoveryDeletedFiles": "Discover deleted files",
    "enableDeletion": "Propagate deletions (move into the trash)",
    "deletionMaxPerRound": "Maximum deletions per round",
    "trashRetentionDays": "Trash retention (days)",
    "syncAmountEmission": "Sync amount for emission",
    "syncAmountReception": "Sync amount for reception",
    "rsync_args": "rsync options",
    "rsync_env": "rsync environment",
    "notifiedEmails": "Notified e-mail addresses",
}


class VolumeForm(forms.ModelForm):
    """The spec's volume keys, typed and validated; status keys written by agents are shown, not edited."""

    name = forms.SlugField(help_text="The site name used in synced_<name>, sync_<name>, origin...")
    url = forms.CharField(help_text="ssh://user@host:port/project/, file:///path or a local /path.")
    # Initial values are the agent's defaults for a volume without the key (docs/tracker-agent.md).
    enableEmission = forms.BooleanField(required=False, initial=False)
    enableReception = forms.BooleanField(required=False, initial=True)
    enableDiscovery = forms.BooleanField(required=False, initial=False)
    enableDiscoveryPackages = forms.BooleanField(required=False, initial=True)
    enableDiscoveryUpdatedFiles = forms.BooleanField(required=False, initial=True)
    enableDiscoveryDeletedFiles = forms.BooleanField(required=False, initial=False)
    enableDeletion = forms.BooleanField(
        required=False,
        initial=False,
        help_text="Move files deleted at their origin into this volume's .syncsite-trash/<day>/ (never unlinked).",
    )
    deletionMaxPerRound = forms.IntegerField(
        required=False, min_value=0, help_text="More deletions than this in one round stop and alert (default 100)."
    )
    trashRetentionDays = forms.IntegerField(
        required=False, min_value=0, help_text="Trash days older than this are purged (default 30)."
    )
    syncAmountEmission = forms.IntegerField(min_value=1, max_value=100000, initial=conf.default_batch_size)
    syncAmountReception = forms.IntegerField(min_value=1, max_value=100000, initial=conf.default_batch_size)
    rsync_args = forms.CharField(
        required=False, help_text="Extra rsync options from an allow-list, e.g. --bwlimit=10000 -z"
    )
    rsync_env = forms.CharField(
        required=False,
        help_text=f"Environment for rsync: NAME=value, names among {', '.join(sorted(rsyncpolicy.ALLOWED_ENV))}",
    )
    notifiedEmails = forms.CharField(required=False, help_text="Comma separated e-mail addresses.")

    class Meta:
        model = Volume
        fields = ["node_id"]
        labels = {"node_id": "_id"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node_id"].required = False
        self.fields["node_id"].help_text = "Defaults to the name, e.g. sit/studio/paris."
        for key, label in VOLUME_LABELS.items():
            if key in self.fields:
                field = self.fields[key]
                field.label = label
                field.help_text = f"{key}. {field.help_text}".strip() if field.help_text else key
        if self.instance.pk:
            self.fields["node_id"].disabled = True
            for name in self.fields:
                if name in self.instance.data:
                    self.fields[name].initial = self.instance.data[name]

    def _policy(self, name: str, check) -> str:
        value = self.cleaned_data[name].strip()
        try:
            check(value)
        except rsyncpolicy.PolicyError as exc:
            raise ValidationError(str(exc)) from exc
        return value

    def clean_url(self) -> str:
        return self._policy("url", rsyncpolicy.parse_url)

    def clean_rsync_args(self) -> str:
        return self._policy("rsync_args", rsyncpolicy.parse_rsync_args)

    def clean_rsync_env(self) -> str:
        return self._policy("rsync_env", rsyncpolicy.parse_rsync_env)

    def clean_notifiedEmails(self) -> str:
        emails = [e.strip() for e in self.cleaned_data["notifiedEmails"].split(",") if e.strip()]
        for email in emails:
            validate_email(email)
        return ",".join(emails)

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name")
        if name and not self.instance.pk and services.get_volume(name) is not None:
            self.add_error("name", f"A volume named {name} exists already.")
        return cleaned

    def volume_keys(self) -> dict:
        keys = {name: self.cleaned_data[name] for name in ("name", "url", "rsync_args", "rsync_env", "notifiedEmails")}
        keys.update({name: self.cleaned_data[name] for name in VOLUME_BOOLEANS})
        keys["syncAmountEmission"] = self.cleaned_data["syncAmountEmission"]
        keys["syncAmountReception"] = self.cleaned_data["syncAmountReception"]
        keys["deletionMaxPerRound"] = self.cleaned_data.get("deletionMaxPerRound")
        keys["trashRetentionDays"] = self.cleaned_data.get("trashRetentionDays")
        return keys


@admin.register(Volume)
class VolumeAdmin(admin.ModelAdmin):
    form = VolumeForm
    list_display = ["volume_name", "node_id", "url_display", "agent_status", "pending"]
    search_fields = ["node_id"]
    readonly_fields = ["agent"]

    def get_fields(self, request, obj=None):
        fields = ["node_id", "name", "url", *VOLUME_BOOLEANS, "syncAmountEmission", "syncAmountReception"]
        fields += ["deletionMaxPerRound", "trashRetentionDays"]
        fields += ["rsync_args", "rsync_env", "notifiedEmails"]
        hidden = permissions.hidden_keys(_actor(request), NodeKind.VOLUME)
        fields = [f for f in fields if f not in hidden]
        return [*fields, "agent"] if obj else fields

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and _may_write_kind(request, "", NodeKind.VOLUME)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and _may_write_kind(request, "", NodeKind.VOLUME)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and _may_write_kind(request, "", NodeKind.VOLUME)

    @admin.display(description="name")
    def volume_name(self, obj: Volume) -> str:
        return str(obj)

    @admin.display(description="url")
    def url_display(self, obj: Volume) -> str:
        return obj.data.get("url", "")

    @admin.display(description="agent")
    def agent_status(self, obj: Volume) -> str:
        return obj.data.get("agentStatus", "")

    @admin.display(description="files to receive")
    def pending(self, obj: Volume) -> int:
        return services.pending_count(str(obj))

    @admin.display(description="agent status keys")
    def agent(self, obj: Volume):
        rows = [(key, obj.data[key]) for key in VOLUME_STATUS_KEYS if key in obj.data]
        if not rows:
            return "No agent has reported yet."
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    def save_model(self, request, obj: Volume, form: VolumeForm, change: bool) -> None:
        keys = form.volume_keys()
        actor = _actor(request)
        try:
            if change:
                node = services.update_nodes([{**keys, "_id": obj.node_id}], actor)
                node = _raise_first(node)
            else:
                name = keys.pop("name")
                node_id = form.cleaned_data.get("node_id") or None
                node = services.create_volume(name, node_id=node_id, actor=actor, **keys)
        except services.TrackerError as exc:
            raise ValidationError(exc.detail) from exc
        obj.pk = Node.objects.get(node_id=node["_id"]).pk
        _audit(Volume.objects.get(pk=obj.pk), obj.data if change else {}, node, change)

    def delete_model(self, request, obj: Volume) -> None:
        _delete(request, [obj.node_id])

    def delete_queryset(self, request, queryset: QuerySet) -> None:
        _delete(request, list(queryset.values_list("node_id", flat=True)))


# --------------------------------------------------------------------------------------------- global parameters


def _may_write_global(request: HttpRequest) -> bool:
    return _may_write_kind(request, services.GLOBAL_PARAMETERS_ID, NodeKind.OTHER)


class GlobalParametersForm(forms.ModelForm):
    enableScans = forms.BooleanField(required=False, initial=True)
    syncEverywhere = forms.BooleanField(
        required=False,
        initial=services.GLOBAL_DEFAULTS["syncEverywhere"],
        help_text="Default destination rule: propagate files to every site.",
    )
    ignoreExistingFiles = forms.BooleanField(required=False)
    sleepBetweenScans = forms.IntegerField(min_value=1, max_value=86400, initial=60, help_text="Seconds.")
    includePatternRules = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    excludePatternRules = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    excludedFiles = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    rsaPublicKey = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Public key installed in the volumes' .ssh/authorized_keys.",
    )

    class Meta:
        model = GlobalParameters
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = services.global_parameters()
        for name in self.fields:
            if name in current:
                self.fields[name].initial = current[name]

    def clean_rsaPublicKey(self) -> str:
        key = self.cleaned_data["rsaPublicKey"].strip()
        if key and not re.match(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( \S.*)?$", key):
            raise ValidationError("Not an OpenSSH public key (ssh-ed25519 AAAA... comment).")
        return key

    def _clean_patterns(self, name: str) -> str:
        text = self.cleaned_data[name]
        for line in text.splitlines():
            if "\x00" in line:
                raise ValidationError("Patterns cannot contain NUL characters.")
        return text

    def clean_includePatternRules(self) -> str:
        return self._clean_patterns("includePatternRules")

    def clean_excludePatternRules(self) -> str:
        return self._clean_patterns("excludePatternRules")


@admin.register(GlobalParameters)
class GlobalParametersAdmin(admin.ModelAdmin):
    form = GlobalParametersForm
    list_display = ["__str__", "sync_everywhere"]

    @admin.display(description="syncEverywhere", boolean=True)
    def sync_everywhere(self, obj: GlobalParameters) -> bool:
        return services.sync_everywhere(obj.data)

    def has_add_permission(self, request) -> bool:
        allowed = super().has_add_permission(request) and _may_write_global(request)
        return allowed and not GlobalParameters.objects.exists()

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and _may_write_global(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and _may_write_global(request)

    def save_model(self, request, obj: GlobalParameters, form, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.fields}
        before = dict(obj.data) if change and obj.pk else {}
        node = services.set_global_parameters(changes, actor=_actor(request))
        obj.pk = Node.objects.get(node_id=node["_id"]).pk
        _audit(GlobalParameters.objects.get(pk=obj.pk), before, node, bool(before))

    def delete_model(self, request, obj) -> None:
        _delete(request, [obj.node_id])


# --------------------------------------------------------------------------------------------- users


@admin.register(TrackerProfile)
class TrackerProfileAdmin(admin.ModelAdmin):
    """The tracker class of each user (superusers are always admin)."""

    list_display = ["user", "user_class"]
    list_filter = ["user_class"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj: TrackerProfile, form, change: bool) -> None:
        services.set_user_class(obj.user, obj.user_class)
        obj.pk = TrackerProfile.objects.get(user=obj.user).pk
