"""Every SQL store kind has its dialect, and the dialect is what the store asks."""

from __future__ import annotations

from mlmigrate.stores.kinds import KINDS
from mlmigrate.stores.sql.dialects import DIALECTS, dialect_for


def test_every_sql_store_kind_has_a_dialect_of_its_family() -> None:
    sql_kinds = {kind.name for kind in KINDS if kind.target.endswith(":SqlStore")}
    assert sql_kinds == set(DIALECTS)
    for name, dialect in DIALECTS.items():
        assert dialect.family == name
        assert dialect.capabilities.kind.startswith("a ")


def test_each_uri_spelling_finds_its_dialect() -> None:
    assert dialect_for("postgres://u@h/db").family == "postgresql"
    assert dialect_for("mysql+pymysql://u@h/db").family == "mysql"
    assert dialect_for("sqlite:///x.db").family == "sqlite"
