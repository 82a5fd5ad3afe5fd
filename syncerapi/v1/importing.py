"""syncerapi.v1.importing: the bulk host import that import plugins feed, and the normalisation it applies.

    from syncerapi.v1.importing import import_rows, ImportRowsError, ImportResult
    from syncerapi.v1.importing import Normaliser, NormalisedRows, normalize_hostname

`import_rows(account, rows)` imports (hostname, labels) rows in one transaction; a reader that normalises
its rows as it reads them (`Normaliser`, returning `NormalisedRows`) spares the import a second pass.
`apply_account_rules(rows, config)` applies the account's `import_filter` and `rewrite_hostname` to rows
(what the built-in importers do before `import_rows`); `record_wanted(config, hostname, attributes)` asks
the filter about one record and `import_hostnames(hostname, config, attributes)` gives the names it stands for.
"""

from hosts.import_hosts import apply_account_rules, import_hostnames, record_wanted
from hosts.normalize import NormalisedRows, Normaliser, normalize_hostname
from hosts.services import ImportResult, ImportRowsError, import_rows

__all__ = [
    "ImportResult",
    "ImportRowsError",
    "NormalisedRows",
    "Normaliser",
    "apply_account_rules",
    "import_hostnames",
    "import_rows",
    "normalize_hostname",
    "record_wanted",
]
