"""Account fields declared by plugins: which custom fields an account type uses and which hold secrets.

A plugin declares its fields once, at import time (no database access):

    from syncerapi.v1 import AccountField, declare_account_fields

    declare_account_fields("cmdb", AccountField("api_token", secret=True), AccountField("site"))

or as `account_type` and `account_fields` attributes of its `Plugin` subclass. A custom field that a
plugin declares secret is stored encrypted and never shown, whatever the admin's checkbox says; the
admin may mark any other field secret too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AccountField:
    """One custom field of an account type: its name, whether its value is a secret, and a help text."""

    name: str
    secret: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an account field needs a name")


_declared: dict[str, dict[str, AccountField]] = {}


def declare_account_fields(account_type: str, *fields: AccountField | str) -> None:
    """Declare the custom fields of accounts of `account_type` (a plain name is a non-secret field).

    Declaring a field again merges: once any plugin calls it secret, it stays secret.
    """
    if not isinstance(account_type, str) or not account_type.strip():
        raise ValueError("declare_account_fields needs the account type its fields belong to")
    known = _declared.setdefault(account_type.strip(), {})
    for field in fields:
        item = AccountField(field) if isinstance(field, str) else field
        if not isinstance(item, AccountField):
            raise TypeError(f"expected an AccountField or a field name, got {type(field).__name__}")
        previous = known.get(item.name)
        if previous is not None and previous.secret and not item.secret:
            item = AccountField(item.name, True, item.help or previous.help)
        known[item.name] = item


def declared_fields(account_type: str) -> dict[str, AccountField]:
    """The fields declared for an account type, by name (empty for an unknown type)."""
    return dict(_declared.get((account_type or "").strip(), {}))


def declared_secret(account_type: str, name: str) -> bool:
    field = _declared.get((account_type or "").strip(), {}).get(name)
    return bool(field and field.secret)


def declared_secret_names() -> dict[str, set[str]]:
    """{account type: names of its secret fields}, for converting stored rows after a plugin was installed."""
    return {kind: {n for n, f in fields.items() if f.secret} for kind, fields in _declared.items()}
