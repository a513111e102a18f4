"""SQL database families as objects behind one :class:`Dialect` protocol."""

from __future__ import annotations

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.kinds import scheme_of
from mlmigrate.stores.sql.dialects.base import Bulk, Dialect
from mlmigrate.stores.sql.dialects.mysql import MysqlDialect
from mlmigrate.stores.sql.dialects.postgresql import PostgresDialect
from mlmigrate.stores.sql.dialects.sqlite import SqliteDialect
from mlmigrate.uris import mask

__all__ = ["DIALECTS", "Bulk", "Dialect", "dialect_for"]

#: each URI family's dialect; a new SQL family is one class and one entry here
DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SqliteDialect,
    "postgresql": PostgresDialect,
    "mysql": MysqlDialect,
}


def dialect_for(uri: str) -> Dialect:
    """The dialect of a SQL store URI."""
    family = scheme_of(uri)
    try:
        return DIALECTS[family]()
    except KeyError:  # pragma: no cover - the store registry routes only these here
        raise StoreError(
            f"unsupported SQL store {mask(uri)}; the SQL families are {', '.join(sorted(DIALECTS))}"
        ) from None
