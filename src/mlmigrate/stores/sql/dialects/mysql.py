"""MySQL and MariaDB: PyMySQL, ``LOAD DATA LOCAL INFILE``, connectorx for big committed reads."""

from __future__ import annotations

from typing import Any

import sqlalchemy

from mlmigrate.stores.base import Capabilities, Snapshot
from mlmigrate.stores.sql.deferred_keys import DeferredKeys
from mlmigrate.stores.sql.dialects.base import INT32_MAX, Bulk, server_engine
from mlmigrate.stores.sql.key_collation import KeyCollations
from mlmigrate.stores.sql.mysql_bulk import MysqlBulk, mysql_connection


class MysqlDialect:
    """A MySQL or MariaDB database."""

    family = "mysql"
    capabilities = Capabilities(
        max_experiment_id=INT32_MAX,
        writers=2,
        holds_infinity=False,
        snapshot=Snapshot.LOCAL,
        enforces_lengths=True,
        kind="a MySQL database",
        deferred_keys=True,
    )

    def engine(self, uri: str) -> sqlalchemy.Engine:
        """PyMySQL (unless the URI names another driver), reusing its default TLS context."""
        scheme, rest = uri.split("://", 1)
        engine = server_engine(sqlalchemy.make_url(uri if "+" in scheme else "mysql+pymysql://" + rest))

        def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            return mysql_connection(*cargs, **cparams)

        sqlalchemy.event.listen(engine, "do_connect", connect)
        return engine

    def bulk(self, uri: str) -> Bulk:
        """``LOAD DATA LOCAL INFILE`` writes and PyMySQL / connectorx reads."""
        return MysqlBulk(uri)

    def exists(self, uri: str) -> bool:
        """A server database: there, or the connection says otherwise."""
        return True

    def make_room(self, uri: str) -> None:
        """Nothing: the database is the server's."""

    def create_schema(self, engine: sqlalchemy.Engine) -> str:
        """Replay the recorded DDL of MLflow's migrations (run them the first time)."""
        from mlmigrate.stores.sql.mysql_schema import create_mysql_schema

        return create_mysql_schema(engine)

    def write_problem(
        self, uri: str, engine: sqlalchemy.Engine, *, holds_mlflow: bool, display_uri: str
    ) -> str | None:
        """None: MySQL grants are not inspected; a missing right shows on the first write."""
        return None

    def advance_experiment_ids(self, connection: sqlalchemy.Connection) -> None:
        """Set the experiments' AUTO_INCREMENT past the largest id."""
        largest = connection.execute(sqlalchemy.text("SELECT MAX(experiment_id) FROM experiments"))
        following = int(largest.scalar() or 0) + 1
        connection.execute(sqlalchemy.text(f"ALTER TABLE experiments AUTO_INCREMENT = {following}"))

    def bind_ids(self, ids: list[str]) -> tuple[str, Any]:
        """The ids as a list of string literals. Not JSON: MySQL has no ``json_each``, and a
        ``JSON_TABLE`` column's collation may differ from the compared column's (error 1267),
        where a literal takes the column's. Nothing is bound."""
        import pymysql.converters

        return ", ".join("'" + pymysql.converters.escape_string(str(i)) + "'" for i in ids), None

    def key_collations(self, engine: sqlalchemy.Engine) -> KeyCollations | None:
        """Each key column's collation, which may ignore case, accents and trailing spaces."""
        return KeyCollations(engine)

    def snapshot_engine(self, token: str) -> sqlalchemy.Engine | None:
        """None: MySQL snapshots are not shared."""
        return None

    def deferred_keys(self) -> DeferredKeys:
        """The secondary indexes and foreign keys, built at the end (InnoDB's primary keys stay)."""
        from mlmigrate.stores.sql.mysql_keys import MysqlKeys

        return MysqlKeys()
