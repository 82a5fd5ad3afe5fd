"""Import plugins: CSV, JSON file, JSON over HTTP and YAML groups, plus CSV/JSON inventorize variants.

Written against `syncerapi.v1` only (accounts, the Plugin base class, cronjobs and CLI commands); the
rows go through the bulk service `syncerapi.v1.importing.import_rows`. Each run reads and validates the whole
source first, imports it in one transaction and writes one LogEntry with its counts (or with the error,
and then nothing was imported). `--dry-run` computes the counts and writes nothing, not even a log.

Account fields (custom fields override nothing on the command line; options win):
`address` (file path or URL), `delimiter`, `hostname_field`, `encoding`, `data_key`, `labels_key`,
`group_label`, `auth_type` (basic, digest, token, none), `delete_stale`, `delete_limit`, `inventorize_key`,
`rewrite_hostname` and `import_filter` (see hosts.import_hosts), `request_headers` and `proxy` (Plugin.inner_request).
"""

from __future__ import annotations

import sys
from typing import Any

from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from hosts.plugins.sources import (
    Row,
    SourceError,
    fetch_json_rows,
    read_csv,
    read_json_file,
    read_yaml_groups,
)
from syncerapi.v1 import AccountField, redact_url, register_cronjob
from syncerapi.v1.core import Plugin, cli
from syncerapi.v1.importing import ImportRowsError, apply_account_rules, import_rows


class ImportPlugin(Plugin):
    """Reads a source into rows and hands them to the bulk import; subclasses implement `read`."""

    kind = "import"
    label = "hosts"

    def __init__(
        self,
        account: str | dict[str, Any],
        *,
        dry_run: bool = False,
        force_delete: bool = False,
        progress: bool = False,
        **options: Any,
    ):
        super().__init__(account)
        self.name = f"{self.label} {self.kind}: {self.config.get('name')}"
        self.dry_run = dry_run
        self.force_delete = force_delete
        self.progress = progress
        self.options = {key: value for key, value in options.items() if value not in (None, "")}

    def option(self, key: str, default: Any = None) -> Any:
        """A command-line option, else the account's field of the same name, else the default."""
        if key in self.options:
            return self.options[key]
        value = self.config.get(key)
        return default if value in (None, "") else value

    def address(self) -> str:
        address = self.option("address")
        if not address:
            raise SourceError(f"account {self.config.get('name')!r} has no address and none was given")
        return str(address)

    def read(self) -> list[Row]:
        raise NotImplementedError

    def connect_timeout(self) -> int:
        """Whole seconds to wait for a source server: the account's request_timeout, else 30."""
        try:
            return max(1, int(float(self.config.get("request_timeout") or 30)))
        except (TypeError, ValueError):
            return 30

    def inventory_key(self) -> str | None:
        return None

    def run(self) -> Any:
        """Read, import, log. A SourceError/ImportRowsError is logged as an error and raised again."""
        try:
            rows = self.read()
            self.log_details.append(("source", redact_url(self.address())))
            self.log_details.append(("rows", len(rows)))
            rows, filtered = apply_account_rules(rows, self.config)
            if filtered:
                self.log_details.append(("filtered", filtered))
            with _progress_bar(self.progress, len(rows), self.name) as bar:
                result = import_rows(
                    self.config,
                    rows,
                    inventory_key=self.inventory_key(),
                    dry_run=self.dry_run,
                    force_delete=self.force_delete,
                    progress=bar.update if bar is not None else None,
                )
        except (SourceError, ImportRowsError) as exc:
            self.log_details.append(("error", str(exc)))
            self._finish()
            raise
        self.log_details.extend(result.details())
        self._finish()
        return result

    def _finish(self) -> None:
        if self.dry_run:
            self.discard()
        else:
            self.close()


class _progress_bar:
    """A tqdm bar on stderr for long runs from a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, total: int, description: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=description, unit="host", file=sys.stderr, disable=None, leave=False)

    def __enter__(self):
        return self.bar

    def __exit__(self, *exc_info: Any) -> None:
        if self.bar is not None:
            self.bar.close()


class CsvImport(ImportPlugin):
    label = "CSV"
    source = "csv_import"

    def read(self) -> list[Row]:
        return read_csv(
            self.address(),
            delimiter=str(self.option("delimiter", ",")),
            hostname_column=str(self.option("hostname_field", "host")),
            encoding=str(self.option("encoding", "utf-8")),
            # host rows: normalised while read, not again by the import (unless a rewrite needs the raw names)
            normalise=self.inventory_key() is None and not self.config.get("rewrite_hostname"),
        )


class JsonImport(ImportPlugin):
    label = "JSON"
    source = "json_import"

    def read(self) -> list[Row]:
        return read_json_file(
            self.address(),
            hostname_key=str(self.option("hostname_field", "hostname")),
            data_key=self.option("data_key"),
            labels_key=self.option("labels_key"),
            encoding=str(self.option("encoding", "utf-8")),
        )


class YamlImport(ImportPlugin):
    label = "YAML"
    source = "yaml_import"

    def read(self) -> list[Row]:
        return read_yaml_groups(
            self.address(),
            group_label=str(self.option("group_label", "group")),
            encoding=str(self.option("encoding", "utf-8")),
        )


class HttpImport(ImportPlugin):
    """JSON over HTTP through `inner_request` (retries, the account's timeout and TLS setting)."""

    label = "HTTP"
    source = "http_import"
    account_type = "http"
    account_fields = (
        AccountField("auth_type", help="basic, digest, token or none (the password is the token)"),
        AccountField("token_header", help="header that carries the token (default Authorization)"),
        AccountField("token_prefix", help="text before the token (default Bearer for Authorization)"),
        AccountField("hostname_field"),
        AccountField("data_key"),
        AccountField("labels_key"),
    )

    def credentials(self) -> tuple[Any, dict[str, str]]:
        """(requests auth, headers) for the account's auth_type: basic, digest, token or none."""
        username = self.config.get("username") or ""
        password = self.config.get("password") or ""
        auth_type = str(self.option("auth_type", "basic" if username else "none")).lower()
        if auth_type == "basic":
            return HTTPBasicAuth(username, password), {}
        if auth_type == "digest":
            return HTTPDigestAuth(username, password), {}
        if auth_type == "token":
            if not password:
                raise SourceError(f"account {self.config.get('name')!r}: auth_type token needs the token as password")
            header = str(self.option("token_header", "Authorization"))
            prefix = str(self.option("token_prefix", "Bearer" if header.lower() == "authorization" else ""))
            return None, {header: f"{prefix} {password}".strip()}
        if auth_type == "none":
            return None, {}
        raise SourceError(
            f"account {self.config.get('name')!r}: unknown auth_type {auth_type!r} (basic, digest, token, none)"
        )

    def read(self) -> list[Row]:
        auth, headers = self.credentials()
        return fetch_json_rows(
            self.inner_request,
            self.address(),
            auth=auth,
            headers=headers,
            hostname_key=str(self.option("hostname_field", "hostname")),
            data_key=self.option("data_key"),
            labels_key=self.option("labels_key"),
        )


class InventorizeMixin:
    """Rows are inventory data stored under the account's `inventorize_key` (default: the account name)."""

    kind = "inventorize"

    def inventory_key(self) -> str | None:
        return str(self.option("inventorize_key", self.config.get("name")))  # type: ignore[attr-defined]


class CsvInventorize(InventorizeMixin, CsvImport):
    source = "csv_inventorize"


class JsonInventorize(InventorizeMixin, JsonImport):
    source = "json_inventorize"


# --- commands and cronjobs -----------------------------------------------------------------------------------

PLUGINS: dict[str, type[ImportPlugin]] = {
    "import-csv": CsvImport,
    "import-json": JsonImport,
    "import-yaml": YamlImport,
    "import-http": HttpImport,
    "inventorize-csv": CsvInventorize,
    "inventorize-json": JsonInventorize,
}

COMMON_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--account",), {"required": True, "help": "account whose settings are used and who owns the hosts"}),
    (("--dry-run",), {"action": "store_true", "help": "read and count, write nothing"}),
    (("--address",), {"help": "file path or URL (default: the account's address)"}),
    (("--encoding",), {"help": "text encoding of the source (default utf-8)"}),
]
EXTRA_ARGUMENTS: dict[str, list[tuple[tuple[str, ...], dict[str, Any]]]] = {
    "csv": [
        (("--delimiter",), {"help": "field delimiter (default ',')"}),
        (("--hostname-field",), {"help": "column with the hostname (default 'host')"}),
    ],
    "json": [
        (("--hostname-field",), {"help": "key with the hostname (default 'hostname')"}),
        (("--data-key",), {"help": "dotted path to the hosts inside the document, e.g. result.hosts"}),
        (("--labels-key",), {"help": "take the labels from this key of each item (e.g. attributes)"}),
    ],
    "yaml": [(("--group-label",), {"help": "label that receives the host's group names (default 'group')"})],
    "http": [
        (("--hostname-field",), {"help": "key with the hostname (default 'hostname')"}),
        (("--data-key",), {"help": "dotted path to the hosts inside the document, e.g. result.hosts"}),
        (("--labels-key",), {"help": "take the labels from this key of each item"}),
        (("--auth-type",), {"choices": ["basic", "digest", "token", "none"], "help": "how to authenticate"}),
    ],
}
IMPORT_ONLY = [
    (("--force-delete",), {"action": "store_true", "help": "delete stale hosts even beyond the account's limit"})
]
INVENTORIZE_ONLY = [(("--inventorize-key",), {"help": "inventory section (default: the account name)"})]


def summary(result: Any) -> str:
    text = ", ".join(f"{name} {value}" for name, value in result.details() if name not in ("message", "dry_run"))
    return "\n".join([("dry run: " if result.dry_run else "") + text, *result.messages])


def run_plugin(command: str, account: str, *, dry_run: bool = False, progress: bool = False, **options: Any) -> Any:
    """Run one import plugin for an account (the CLI, the cronjobs and the REST "run now" call this)."""
    force_delete = bool(options.pop("force_delete", False))
    plugin = PLUGINS[command](account, dry_run=dry_run, force_delete=force_delete, progress=progress, **options)
    return plugin.run()


def _make_command(command: str):
    def handler(account: str, dry_run: bool = False, **options: Any) -> str:
        result = run_plugin(command, account, dry_run=dry_run, progress=True, **options)
        if result.errors:
            raise ValueError(f"imported with errors: {summary(result)}")
        return summary(result)

    handler.__name__ = command.replace("-", "_")
    return handler


def _make_cronjob(command: str):
    def job(account: str | None = None) -> str:
        if not account:
            raise ValueError(f"the {command} cronjob needs an account")
        return summary(run_plugin(command, account))

    job.__name__ = f"{command.replace('-', '_')}_job"
    job.__qualname__ = job.__name__
    return job


CRONJOBS: dict[str, Any] = {}


def register_source(
    command: str,
    plugin: type[ImportPlugin],
    arguments: list[tuple[tuple[str, ...], dict[str, Any]]],
) -> None:
    """Make an import plugin a `manage.py syncer COMMAND` subcommand and a cronjob `hosts: COMMAND`.

    `arguments` are the plugin's own options; the common ones (account, dry run, address, encoding) and the
    import/inventorize ones are added here.
    """
    PLUGINS[command] = plugin
    inventorize = command.startswith("inventorize")
    options = [*COMMON_ARGUMENTS, *arguments, *(INVENTORIZE_ONLY if inventorize else IMPORT_ONLY)]
    verb = "Store inventory" if inventorize else "Import hosts"
    cli.add_command(command, _make_command(command), help=f"{verb} from {plugin.label}", arguments=options)
    CRONJOBS[command] = register_cronjob(f"hosts: {command}", _make_cronjob(command))


for _command, _plugin in list(PLUGINS.items()):
    register_source(_command, _plugin, EXTRA_ARGUMENTS[_command.split("-", 1)[1]])
