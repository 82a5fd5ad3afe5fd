"""Hosts, accounts, the run log, rules and cronjob runs.

`Host` carries the plugin-facing object API documented in syncerapi.v1 (get_host, update_host, ...);
those methods are the sanctioned way for plugins to write hosts. Everything else is written by
hosts.services.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django_q.models import Schedule

from hosts import conf, ownership
from hosts.jinja import render_jinja
from hosts.normalize import normalize_hostname, normalize_key, normalize_labels, normalize_value
from syncsite.fields import EncryptedTextField

TRUE_STRINGS = {"true"}
FALSE_STRINGS = {"false"}


class AccountManager(models.Manager):
    """Accounts are matched across sites by name (their natural key)."""

    def get_by_natural_key(self, name: str) -> Account:
        return self.get(name=name)

    def pks_by_natural_key(self, keys: list[tuple]) -> dict[tuple, int]:
        return {(name,): pk for name, pk in self.filter(name__in=[k[0] for k in keys]).values_list("name", "pk")}


class Account(models.Model):
    """Where a plugin imports from or exports to: address, credentials and plugin-specific fields."""

    name = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=100, blank=True, help_text="Which plugin uses this account (e.g. csv, json).")
    address = models.CharField(max_length=500, blank=True, help_text="URL, path or host name of the source/target.")
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True, default="", help_text="Stored encrypted; never shown back.")
    is_master = models.BooleanField(
        default=False, help_text="Hosts owned by a master account cannot be taken over by other accounts."
    )
    enabled = models.BooleanField(default=True)
    verify_ssl = models.BooleanField(default=True, help_text="Verify TLS certificates of HTTP requests.")
    request_timeout = models.FloatField(
        null=True, blank=True, help_text="Seconds before an HTTP request gives up (default: HOSTS_HTTP_TIMEOUT)."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="A child account takes every setting of its parent that it leaves empty "
        "(type, address, username, password, request timeout, custom fields).",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = AccountManager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def natural_key(self) -> tuple[str]:
        return (self.name,)

    def as_config(self) -> dict[str, Any]:
        """The dict plugins receive from get_account(): model fields plus flattened custom fields.

        A child account starts from its parent's dict (ancestors first) and overrides what it sets itself.
        """
        own = self._own_config()
        if self.parent_id is None:
            return own
        chain: list[Account] = []
        seen = {self.pk}
        ancestor = self.parent
        while ancestor is not None and ancestor.pk not in seen:
            chain.append(ancestor)
            seen.add(ancestor.pk)
            ancestor = ancestor.parent
        config: dict[str, Any] = {}
        for account in reversed(chain):
            config.update({key: value for key, value in account._own_config().items() if value not in ("", None)})
        config.update({key: value for key, value in own.items() if value not in ("", None)})
        for key in ("id", "_id", "name", "enabled", "is_master", "verify_ssl", "verify_cert"):
            config[key] = own[key]
        config["parent"] = self.parent.name if self.parent else None
        config["is_child"] = True
        return config

    def clean(self) -> None:
        ancestor, seen = self.parent, {self.pk}
        while ancestor is not None:
            if ancestor.pk in seen:
                raise ValidationError({"parent": "an account cannot be its own ancestor"})
            seen.add(ancestor.pk)
            ancestor = ancestor.parent

    def _own_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "id": self.pk,
            "_id": self.pk,
            "name": self.name,
            "type": self.type,
            "address": self.address,
            "username": self.username,
            "password": self.password,
            "is_master": self.is_master,
            "enabled": self.enabled,
            "verify_ssl": self.verify_ssl,
            "verify_cert": self.verify_ssl,
            "request_timeout": self.request_timeout,
        }
        for field in self.custom_fields.all():
            value: Any = field.get_value()
            lowered = value.strip().lower()
            if lowered in TRUE_STRINGS:
                value = True
            elif lowered in FALSE_STRINGS:
                value = False
            config[field.name] = value
        return config


class AccountCustomFieldManager(models.Manager):
    def get_by_natural_key(self, account_name: str, name: str) -> AccountCustomField:
        return self.get(account__name=account_name, name=name)


class AccountCustomField(models.Model):
    """A plugin-specific setting of an account (e.g. `delimiter`, `hostname_field`, `inventorize_key`).

    A secret field (marked in the admin, or declared secret by the plugin of the account's type) keeps its
    value only in `secret_value`, encrypted; `value` is then empty. Read it with `get_value()`.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="custom_fields")
    name = models.CharField(max_length=200)
    value = models.TextField(blank=True, default="", help_text="The value of a field that is not secret.")
    secret = models.BooleanField(
        default=False, help_text="Stored encrypted and never shown again (API, sync stream, logs, admin)."
    )
    secret_value = EncryptedTextField(blank=True, default="", help_text="The value of a secret field, encrypted.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="hosts_account_field_unique")]

    objects = AccountCustomFieldManager()  # noqa: DJ012

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keep the value in the one column its secrecy calls for (a declared secret stays secret)."""
        if not self.secret and self.declared_secret():
            self.secret = True
        if self.secret:
            if self.value:  # a new value was given: it goes into the encrypted column
                self.secret_value, self.value = self.value, ""
        else:
            if self.secret_value and not self.value:
                self.value = self.secret_value
            self.secret_value = ""
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "value", "secret", "secret_value"}
        super().save(*args, **kwargs)

    def natural_key(self) -> tuple[str, str]:
        """(account name, field name): a field is matched across sites with its account, never by id."""
        return (*self.account.natural_key(), self.name)

    natural_key.dependencies = ["hosts.account"]

    @property
    def is_set(self) -> bool:
        return bool(self.get_value())

    def declared_secret(self) -> bool:
        from hosts.accountfields import declared_secret

        account_type = self.account.type if self.account_id else ""
        return declared_secret(account_type, self.name)

    @property
    def is_secret(self) -> bool:
        """Secret by the admin's checkbox or by its plugin's declaration (even before the row was re-saved)."""
        return self.secret or self.declared_secret()

    def get_value(self) -> str:
        """The field's value in clear, for the plugin that uses it; never for display."""
        return (self.secret_value if self.secret else self.value) or ""


SEEN_MARK = "_seen_mark"


class HostQuerySet(models.QuerySet):
    def with_seen(self) -> HostQuerySet:
        """Hosts orderable and filterable by `last_import_seen` (the later of the row's value and the HostSeen mark)."""
        mark = models.F(SEEN_MARK)
        row = models.F("last_import_seen_row")
        return self.annotate(last_import_seen=Greatest(Coalesce(row, mark), Coalesce(mark, row)))


class HostManager(models.Manager.from_queryset(HostQuerySet)):
    """Every host query carries its HostSeen mark (a primary-key lookup per row), so `last_import_seen` is the
    value at load time and costs no query per host."""

    def get_queryset(self) -> HostQuerySet:
        mark = HostSeen.objects.filter(host_id=models.OuterRef("pk")).values("seen")[:1]
        return super().get_queryset().annotate(**{SEEN_MARK: models.Subquery(mark)})

    def get_by_natural_key(self, hostname: str) -> Host:
        """Hosts are matched across sites by name (their natural key), never by database id."""
        return self.get(hostname=hostname)

    def pks_by_natural_key(self, keys: list[tuple]) -> dict[tuple, int]:
        rows = Host._base_manager.filter(hostname__in=[k[0] for k in keys]).values_list("hostname", "pk")
        return {(hostname,): pk for hostname, pk in rows}


class HostApiError(RuntimeError):
    """A removed or misused Host API call; the message says what to call instead."""


class Host(models.Model):
    """A host (or another object) in the inventory, with its labels, inventory and attribute cache."""

    hostname = models.CharField(max_length=255, unique=True)
    labels = models.JSONField(default=dict, blank=True)
    inventory = models.JSONField(default=dict, blank=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="hosts", help_text="Owning account."
    )
    is_object = models.BooleanField(default=False, help_text="Not a host but another object (never exported).")
    object_type = models.CharField(max_length=100, blank=True, default="")
    locked = models.BooleanField(default=False, help_text="Locked hosts keep their account (CMDB mode).")
    disabled = models.BooleanField(default=False, help_text="Disabled hosts are not exported.")
    # Written with the row (update_host + save, new and changed hosts); an unchanged host seen by a bulk import only
    # gets a HostSeen row. `last_import_seen` is the later of both.
    last_import_seen_row = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        db_column="last_import_seen",
        help_text="Last time an import saw the host.",
    )
    last_import_sync = models.DateTimeField(null=True, blank=True, help_text="Last time an import changed its labels.")
    stale = models.BooleanField(
        default=False, db_index=True, help_text="The last import of its account did not see the host."
    )
    created = models.DateTimeField(default=timezone.now, editable=False)
    cache = models.JSONField(default=dict, blank=True, editable=False)
    log = models.JSONField(default=list, blank=True, editable=False)

    objects = HostManager()

    class Meta:
        ordering = ["hostname"]
        indexes = [models.Index(fields=["account"]), models.Index(fields=["is_object", "disabled"])]

    def __str__(self) -> str:
        return self.hostname

    def natural_key(self) -> tuple[str]:
        return (self.hostname,)

    @classmethod
    def replication_refusals(cls, rows: list, context) -> set[int]:
        """Pulled copies a replication pull must not apply (synctools hook): see hosts.replication."""
        from hosts import replication

        return replication.host_refusals(rows, context)

    @property
    def last_import_seen(self) -> Any:
        """Last time an import saw the host: the later of the row's own value and its HostSeen mark.

        Hosts loaded through `Host.objects` carry the mark; a host built in Python costs one query here.
        """
        if SEEN_MARK in self.__dict__:
            mark = self.__dict__[SEEN_MARK]
        elif self.pk is None:
            mark = None
        else:
            mark = HostSeen.objects.filter(host_id=self.pk).values_list("seen", flat=True).first()
        row = self.last_import_seen_row
        if mark is None or (row is not None and row >= mark):
            return row
        return mark

    @last_import_seen.setter
    def last_import_seen(self, value: Any) -> None:
        self.last_import_seen_row = value

    # --- lookups -------------------------------------------------------------------------------------------

    @classmethod
    def get_host(cls, hostname: Any, create: bool = True) -> Host | bool:
        """The host with this (normalised) name; a new unsaved one when missing and create=True, else False."""
        name = normalize_hostname(hostname)
        if not name:
            return False
        host = cls.objects.select_related("account").filter(hostname=name).first()
        if host is not None:
            return host
        if not create:
            return False
        return cls(hostname=name)

    @classmethod
    def get_export_hosts(cls) -> models.QuerySet[Host]:
        """Hosts that export plugins should process: real hosts, not disabled."""
        # the host's own log is for people, not exports: loaded only if a plugin touches it
        return (
            cls.objects.filter(is_object=False, disabled=False)
            .select_related("account")
            .defer("log")
            .order_by("hostname")
        )

    @staticmethod
    def rewrite_hostname(old_name: str, template: str, attributes: dict[str, Any]) -> str:
        """A hostname rendered from a Jinja template; the old name when the template is empty or renders invalid."""
        if not template:
            return old_name
        rendered = render_jinja(template, **{**(attributes or {}), "HOSTNAME": old_name})
        return normalize_hostname(rendered) or old_name

    # --- labels --------------------------------------------------------------------------------------------

    def update_host(self, labels: dict[Any, Any]) -> bool:
        """Replace all labels; True when they changed (then last_import_sync is set and the cache cleared)."""
        now = timezone.now()
        self.last_import_seen = now
        new_labels = normalize_labels(labels or {})
        if new_labels == self.labels:
            return False
        self.labels = new_labels
        self.last_import_sync = now
        self.cache = {}
        return True

    def set_labels(self, *args: Any, **kwargs: Any):
        """Removed: replacing labels must go through update_host so normalisation and change detection run."""
        raise HostApiError("Host.set_labels() is deprecated and removed: use Host.update_host(labels) instead.")

    def replace_label(self, key: Any, value: Any) -> bool:
        """Set one label, leaving the others; True (and the cache cleared) when the value changed."""
        norm_key = normalize_key(key)
        if not norm_key:
            raise ValueError(f"label key {key!r} is empty after normalisation")
        norm_value = normalize_value(value)
        if norm_key in self.labels and self.labels[norm_key] == norm_value:
            return False
        self.labels = {**self.labels, norm_key: norm_value}
        self.last_import_sync = timezone.now()
        self.cache = {}
        return True

    def get_labels(self) -> dict[str, Any]:
        return dict(self.labels)

    # --- inventory -----------------------------------------------------------------------------------------

    def update_inventory(self, key: str, new_data: dict[str, Any]) -> bool:
        """Replace the inventory section `key` (stored as key__field); {} clears it. True when it changed."""
        prefix = f"{key}__"
        kept = {k: v for k, v in self.inventory.items() if not k.startswith(prefix)}
        section = {f"{prefix}{field}": normalize_value(value) for field, value in (new_data or {}).items()}
        new_inventory = {**kept, **section}
        if new_inventory == self.inventory:
            return False
        self.inventory = new_inventory
        self.cache = {}
        return True

    def set_inventory_attribute(self, key: str, value: Any) -> bool:
        """Set one inventory entry and save at once; True when it changed."""
        value = normalize_value(value)
        if key in self.inventory and self.inventory[key] == value:
            return False
        self.inventory = {**self.inventory, key: value}
        self.cache = {}
        self.save()
        return True

    def get_inventory(self, key_filter: str | bool = False) -> dict[str, Any]:
        if not key_filter:
            return dict(self.inventory)
        return {k: v for k, v in self.inventory.items() if k.startswith(str(key_filter))}

    # --- ownership -----------------------------------------------------------------------------------------

    def set_account(self, account_dict: dict[str, Any] | None = None) -> bool:
        """Claim the host for an account; False when it is locked or owned by another (master) account."""
        if not account_dict or not account_dict.get("id"):
            raise ValueError("set_account needs the account dict returned by get_account()")
        account_id = account_dict["id"]
        if self.account_id == account_id:
            return True
        current = None if self.locked or self.account_id is None else self.account
        if not ownership.may_take_over(
            locked=self.locked,
            owner_is_master=current is not None and current.is_master,
            claimant_is_master=bool(account_dict.get("is_master")),
        ):
            return False
        if current is not None:
            self.add_log(ownership.take_over_log(current.name, account_dict.get("name")))
        self.account_id = account_id
        return True

    # --- log -----------------------------------------------------------------------------------------------

    def add_log(self, entry: Any) -> None:
        """Prepend an entry to the host's own log (newest first, capped at HOSTS_HOST_LOG_LENGTH)."""
        item = {"time": timezone.now().isoformat(timespec="seconds"), "message": str(entry)}
        self.log = [item, *(self.log or [])][: conf.host_log_length()]


class HostSeen(models.Model):
    """When a bulk import last saw an unchanged host, kept out of the wide host row.

    A re-import of unchanged hosts then writes these narrow rows (one set-based statement per chunk) instead
    of rewriting every host row and its indexes. Read through `Host.last_import_seen`.
    """

    # No database foreign key: on PostgreSQL its per-row check locks every host row (FOR KEY SHARE), which is the
    # very write this table avoids. Deleting hosts through the ORM still deletes their marks (CASCADE).
    host = models.OneToOneField(
        Host, primary_key=True, on_delete=models.CASCADE, related_name="import_seen", db_constraint=False
    )
    seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.host_id} seen {self.seen:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def replication_refusals(cls, rows: list, context) -> set[int]:
        """A seen mark follows its host (synctools hook): see hosts.replication."""
        from hosts import replication

        return replication.seen_refusals(rows, context)


# --- run log -------------------------------------------------------------------------------------------------


def detail_is_error(name: Any) -> bool:
    lowered = str(name).lower()
    return "error" in lowered or "exception" in lowered


class LogEntry(models.Model):
    """One run of a plugin or job: what it did, as (name, value) details; flagged when something failed."""

    source = models.CharField(max_length=100, db_index=True)
    name = models.CharField(max_length=200)
    details = models.JSONField(default=list, blank=True, help_text="[name, value] pairs.")
    has_error = models.BooleanField(default=False, db_index=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "log entries"

    def __str__(self) -> str:
        return f"{self.source}: {self.name}"


# --- rules ---------------------------------------------------------------------------------------------------

OPERATORS = [
    ("equal", "equal: is exactly"),
    ("in", "in: contains (substring, or an element of a list)"),
    ("not_in", "not_in: does not contain"),
    ("in_list", "in_list: is one of the comma-separated needles"),
    ("string_in_list", "string_in_list: needle is an element of the value's list (or comma-separated text)"),
    ("swith", "swith: starts with"),
    ("ewith", "ewith: ends with"),
    ("regex", "regex: regular expression matches at the start"),
    ("bool", "bool: same truth value (true/yes/1/on)"),
    ("ignore", "ignore: always matches (negated: never / key absent)"),
]
CONDITION_TYPES = [("all", "all conditions must match"), ("any", "any condition matches"), ("anyway", "always")]
MATCH_TYPES = [("hostname", "hostname"), ("attribute", "attribute key and value")]


class Rule(models.Model):
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0, help_text="Rules run in ascending order.")
    last_match = models.BooleanField(default=False, help_text="Stop evaluating later rules when this one matches.")
    condition_type = models.CharField(max_length=10, choices=CONDITION_TYPES, default="all")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name


class Condition(models.Model):
    match_type = models.CharField(max_length=10, choices=MATCH_TYPES, default="attribute")
    hostname = models.CharField(max_length=500, blank=True, default="")
    hostname_match = models.CharField(max_length=20, choices=OPERATORS, default="equal")
    hostname_match_negate = models.BooleanField(default=False)
    attribute = models.CharField(max_length=500, blank=True, default="", help_text="Attribute key to look at.")
    attribute_match = models.CharField(max_length=20, choices=OPERATORS, default="equal")
    attribute_match_negate = models.BooleanField(default=False)
    value = models.TextField(blank=True, default="", help_text="Needle; may be a Jinja template.")
    value_match = models.CharField(max_length=20, choices=OPERATORS, default="equal")
    value_match_negate = models.BooleanField(default=False)
    position = models.IntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ["position", "id"]

    def __str__(self) -> str:
        if self.match_type == "hostname":
            neg = "not " if self.hostname_match_negate else ""
            return f"hostname {neg}{self.hostname_match} {self.hostname!r}"
        kneg = "not " if self.attribute_match_negate else ""
        vneg = "not " if self.value_match_negate else ""
        return f"key {kneg}{self.attribute_match} {self.attribute!r}, value {vneg}{self.value_match} {self.value!r}"


class CustomAttributeRule(Rule):
    """Adds attributes to matching hosts."""

    class Meta(Rule.Meta):
        pass


class CustomAttributeCondition(Condition):
    rule = models.ForeignKey(CustomAttributeRule, on_delete=models.CASCADE, related_name="conditions")


class CustomAttributeOutcome(models.Model):
    rule = models.ForeignKey(CustomAttributeRule, on_delete=models.CASCADE, related_name="outcomes")
    attribute = models.CharField(max_length=500)
    value = models.TextField(blank=True, default="", help_text="Text or a Jinja template over the host's attributes.")
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.attribute} = {self.value}"


class RewriteRule(Rule):
    """Renames attributes and/or rewrites their values."""

    class Meta(Rule.Meta):
        pass


class RewriteCondition(Condition):
    rule = models.ForeignKey(RewriteRule, on_delete=models.CASCADE, related_name="conditions")


REWRITE_MODES = [
    ("keep", "keep as is"),
    ("string", "fixed string"),
    ("jinja", "Jinja template (variables: the attributes, `name`, `value`)"),
    ("split", "split the old one: 'SEPARATOR:INDEX', e.g. '.:0'"),
]


class RewriteOutcome(models.Model):
    rule = models.ForeignKey(RewriteRule, on_delete=models.CASCADE, related_name="outcomes")
    attribute = models.CharField(max_length=500, help_text="The attribute to rewrite.")
    key_mode = models.CharField(max_length=10, choices=REWRITE_MODES, default="keep")
    new_key = models.CharField(max_length=500, blank=True, default="")
    value_mode = models.CharField(max_length=10, choices=REWRITE_MODES, default="keep")
    new_value = models.TextField(blank=True, default="")
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"rewrite {self.attribute}"


class FilterRule(Rule):
    """Whitelists the attributes exports see, or ignores hosts."""

    class Meta(Rule.Meta):
        pass


class FilterCondition(Condition):
    rule = models.ForeignKey(FilterRule, on_delete=models.CASCADE, related_name="conditions")


FILTER_ACTIONS = [
    ("whitelist_attribute", "whitelist attribute (key, or prefix*)"),
    ("whitelist_attribute_value", "whitelist attribute when its value is one of the comma-separated values"),
    ("ignore_host", "ignore the host"),
]


class FilterOutcome(models.Model):
    rule = models.ForeignKey(FilterRule, on_delete=models.CASCADE, related_name="outcomes")
    action = models.CharField(max_length=40, choices=FILTER_ACTIONS, default="whitelist_attribute")
    attribute = models.CharField(max_length=500, blank=True, default="")
    value = models.TextField(blank=True, default="")
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.attribute}"


class RulesState(models.Model):
    """A single row whose counter moves on every rule change; attribute caches remember the value they saw."""

    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "rules state"

    def __str__(self) -> str:
        return f"rules version {self.version}"

    @classmethod
    def current_version(cls) -> int:
        """The counter attribute caches are compared with (0 before the first rule change)."""
        return cls.objects.filter(pk=1).values_list("version", flat=True).first() or 0


# --- cronjobs ------------------------------------------------------------------------------------------------


class CronjobRun(models.Model):
    """One run of a registered cronjob: when, whether it worked, what it printed, and why it failed."""

    RUNNING, SUCCESS, FAILED, SKIPPED = "running", "success", "failed", "skipped"
    STATUSES = [(RUNNING, "running"), (SUCCESS, "success"), (FAILED, "failed"), (SKIPPED, "skipped (overlap)")]

    job = models.CharField(max_length=200, db_index=True)
    account = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=STATUSES, default=RUNNING, db_index=True)
    started = models.DateTimeField(default=timezone.now, db_index=True)
    ended = models.DateTimeField(null=True, blank=True)
    log = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started", "-id"]

    def __str__(self) -> str:
        return f"{self.job} {self.started:%Y-%m-%d %H:%M:%S} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        """How long the run took (None while it runs)."""
        return (self.ended - self.started).total_seconds() if self.ended else None

    @property
    def success(self) -> bool | None:
        if self.status in (self.RUNNING, self.SKIPPED):
            return None
        return self.status == self.SUCCESS


class CronjobLock(models.Model):
    """A row per running job; its unique name is the lock that keeps two runs from overlapping."""

    job = models.CharField(max_length=200, unique=True)
    holder = models.CharField(max_length=64)
    acquired = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.job


class CronjobSchedule(Schedule):
    """django-q2 schedules that run a registered cronjob (admin: Hosts -> Cronjob schedules)."""

    class Meta:
        proxy = True
        verbose_name = "cronjob schedule"
