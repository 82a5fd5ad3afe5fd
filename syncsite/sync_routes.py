"""Routes for Syncsite's own data, so a second site can replicate this one (site wiring; mounted under /sync/).

Only imported when `SYNCTOOL_API_TOKEN` is set (by `syncsite.urls.sync_urlpatterns()`, and by
`SyncsiteConfig.ready()` so every process records changes): without a token nothing is served or recorded.
It lives in the site, not in synctools, because it names the site's apps and kernel fields; synctools itself
knows only Django.
Every model of the hosts and tracker apps is served except site-local state (locks, job runs,
per-user classes that point at users, which are not replicated); encrypted fields (account
passwords, secret custom fields) and account addresses are never sent: the receiving site keeps its own.
Both apps change rows in bulk, which sends no signals: their changes are read from the change log that database
triggers write (`syncsite.changes`), leaving out what this site pulled from elsewhere (a pulled change is never
offered back as this site's own).
"""

from typing import Any

from django.apps import apps
from django.db import models

from syncsite import changes
from syncsite.fields import EncryptedTextField
from synctools.errors import CursorExpired, InvalidCursor
from synctools.routing import Route


class LogChanges:
    """synctools' `ChangeSource` over the trigger-written change log (the tracker's change feed reads it too)."""

    tracks = False  # the triggers record every write; no signal receivers

    def parse(self, value: str) -> changes.Cursor:
        if value.isdigit():  # a cursor handed out before the log existed: only a full pull is complete
            raise CursorExpired("This cursor is from before the change log: a full pull is needed.")
        try:
            cursor = changes.parse(value)
        except changes.InvalidCursor as exc:
            raise InvalidCursor(str(exc)) from None
        self._check(cursor)
        return cursor

    def current(self, using: str) -> changes.Cursor:
        return changes.current(using)

    def changed(
        self, model: type[models.Model], since: changes.Cursor, upto: Any, using: str
    ) -> dict[str, list | None]:
        self._check(since, using)  # pruned while the reply was on its way: the reply breaks off, the pull fails
        return changes.changed(model._meta.label_lower, since, upto, local_only=True, using=using)

    @staticmethod
    def _check(cursor: changes.Cursor, using: str = "default") -> None:
        if changes.expired(cursor, using):
            raise CursorExpired()


# Fields that may carry credentials without being encrypted: an account's address can be
# `https://user:password@host/?token=...`.
CREDENTIAL_FIELDS = {"hosts": ["hosts.Account.address"]}


def secret_fields(label: str) -> list[str]:
    """Fields never sent: every encrypted field of the app, and the plain ones that may hold credentials."""
    encrypted = [
        f"{model._meta.label}.{field.name}"
        for model in apps.get_app_config(label).get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
    return [*encrypted, *CREDENTIAL_FIELDS.get(label, [])]


LOCAL_ONLY = {
    "hosts": ["hosts.CronjobLock", "hosts.CronjobRun"],
    "tracker": ["tracker.TrackerProfile"],
}

# Every entry keeps its pk: stock clients (`loaddata`) match these rows by id, as they always did, and rows that
# point at a host by id (HostSeen) stay readable; Syncsite's own client matches by natural key instead.
route = Route(natural_primary_keys=False)
for _label in ("hosts", "tracker"):
    route.app(_label, _label, exclude=LOCAL_ONLY[_label], omit_fields=secret_fields(_label), changes=LogChanges())
