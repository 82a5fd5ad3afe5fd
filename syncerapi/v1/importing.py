"""syncerapi.v1.importing: the bulk host import that import plugins feed, and the normalisation it applies.

    from syncerapi.v1.importing import import_rows, ImportRowsError, ImportResult
    from syncerapi.v1.importing import Normaliser, NormalisedRows, normalize_hostname

`import_rows(account, rows)` imports (hostname, labels) rows in one transaction; a reader that normalises
its rows as it reads them (`Normaliser`, returning `NormalisedRows`) spares the import a second pass.
"""

from hosts.normalize import NormalisedRows, Normaliser, normalize_hostname
from hosts.services import ImportResult, ImportRowsError, import_rows

__all__ = ["ImportResult", "ImportRowsError", "NormalisedRows", "Normaliser", "import_rows", "normalize_hostname"]
