"""The SQL family's error translator: SQLAlchemy, psycopg, PyMySQL and sqlite3 errors.

Drivers are told apart by their DB-API class names, not imported: psycopg's
``AdminShutdown``, for one, is an ``OperationalError`` only through its base classes,
and a store must not import a driver it does not use.
"""

from __future__ import annotations

from mlmigrate.exceptions import MigrationError, RefusedError, StoreError, TransientStoreError
from mlmigrate.translation import Translator, first_line

#: DB-API classes of a lost connection or a busy database: retrying may help
_TRANSIENT = frozenset({"OperationalError", "InterfaceError"})
#: DB-API (and psycopg) classes of a duplicate key or constraint violation
_INTEGRITY = frozenset({"IntegrityError", "UniqueViolation"})
#: DB-API classes of a value the database cannot hold (out of range, too long, NULL in NOT NULL)
_REFUSED = frozenset({"DataError"})


def _class_names(exc: BaseException) -> set[str]:
    names = {cls.__name__ for cls in type(exc).__mro__}
    original = getattr(exc, "orig", None)  # SQLAlchemy's wrapper of the driver's error
    if isinstance(original, BaseException):
        names |= {cls.__name__ for cls in type(original).__mro__}
    return names


class SqlErrors(Translator):
    """Native SQL errors on one database as :class:`StoreError` or :class:`TransientStoreError`."""

    def __init__(self, display_uri: str):
        self.display_uri = display_uri

    def translate(self, exc: Exception, doing: str) -> MigrationError:
        """A transient error for a lost connection or busy database, else a store error; the
        message names what was being done, the masked URI and the driver's first line."""
        text = f"{doing} on {self.display_uri}: {first_line(exc, limit=2000)}"
        if _class_names(exc) & _TRANSIENT:
            return TransientStoreError(text)
        if _class_names(exc) & _REFUSED:  # the unit's rows, not the store: --on-error skip leaves it out
            return RefusedError(text)
        return StoreError(text)

    def is_duplicate(self, exc: Exception) -> bool:
        """A duplicate key from any driver, or a MySQL load that skipped a duplicate row."""
        from mlmigrate.stores.sql.mysql_bulk import LoadError

        if isinstance(exc, LoadError):
            return exc.duplicate
        return bool(_class_names(exc) & _INTEGRITY) or "UNIQUE constraint failed" in str(exc)
