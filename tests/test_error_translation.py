"""Native driver errors are translated once per driver family: mlmigrate's error types, the
driver's error as ``__cause__``, passwords masked."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlmigrate.exceptions import ConflictError, StoreError, TransientStoreError, UsageError
from mlmigrate.stores import open_store


def test_an_unreachable_postgresql_server_is_transient_with_the_password_masked() -> None:
    store = open_store("postgresql://app:s3cret@127.0.0.1:1/mlflow?connect_timeout=2")
    try:
        with pytest.raises(TransientStoreError) as raised:
            store.is_empty()
    finally:
        store.close()
    message = str(raised.value)
    assert "s3cret" not in message and "app:***@127.0.0.1:1/mlflow" in message
    assert message.startswith("connecting on postgresql://")
    assert type(raised.value.__cause__).__name__ == "OperationalError"


def test_a_duplicate_key_from_sqlite_is_a_conflict_naming_the_unit(tmp_path: Path) -> None:
    from mlmigrate.stores.sql.errors import SqlErrors

    connection = sqlite3.connect(tmp_path / "t.db")
    connection.execute("CREATE TABLE t (k PRIMARY KEY)")
    connection.execute("INSERT INTO t VALUES (1)")
    errors = SqlErrors("sqlite:///t.db")
    clash = errors.around("writing", duplicate=lambda exc: ConflictError("unit 7", [str(exc)]))
    with pytest.raises(ConflictError, match="unit 7") as raised, clash:
        connection.execute("INSERT INTO t VALUES (1)")
    assert isinstance(raised.value.__cause__, sqlite3.IntegrityError)
    missing = r"^reading on sqlite:///t.db: no such table: missing$"
    with pytest.raises(StoreError, match=missing), errors.around("reading"):
        connection.execute("SELECT * FROM missing")
    connection.close()


def test_mlmigrates_own_errors_pass_unchanged() -> None:
    from mlmigrate.stores.sql.errors import SqlErrors

    given = UsageError("bad option")
    with pytest.raises(UsageError) as raised, SqlErrors("sqlite:///x.db").around("writing"):
        raise given
    assert raised.value is given


def test_an_unreachable_mongodb_server_is_transient_with_the_password_masked() -> None:
    store = open_store("mongodb://app:s3cret@127.0.0.1:1/mlflow?serverSelectionTimeoutMS=200")
    try:
        with pytest.raises(TransientStoreError) as raised:
            store.is_empty()
    finally:
        store.close()
    assert "s3cret" not in str(raised.value) and "app:***@" in str(raised.value)
    assert type(raised.value.__cause__).__name__ == "ServerSelectionTimeoutError"


def test_a_mongodb_duplicate_key_is_a_conflict() -> None:
    from pymongo.errors import DuplicateKeyError

    from mlmigrate.stores.mongodb.errors import MongoErrors

    error = MongoErrors("mongodb://h/db").translate(
        DuplicateKeyError("E11000 duplicate key", 11000), "writing"
    )
    assert isinstance(error, ConflictError) and "same unique key" in str(error)


def test_a_missing_local_object_names_it_and_keeps_the_cause(tmp_path: Path) -> None:
    from mlmigrate.artifacts.backends import Backends
    from mlmigrate.artifacts.locations import parse

    missing = tmp_path / "nothing-here"
    backend = Backends().get(parse(missing.as_uri()))
    with pytest.raises(StoreError, match="cannot read file:///.*nothing-here: FileNotFoundError") as raised:
        backend.read_all(str(missing).lstrip("/"))
    assert isinstance(raised.value.__cause__, FileNotFoundError)
    assert not isinstance(raised.value, TransientStoreError)


def test_a_translated_generator_still_closes_cleanly() -> None:
    """A consumer that stops early closes the generator: GeneratorExit is not translated."""
    from mlmigrate.artifacts.errors import OBJECT_STORE_ERRORS

    closed: list[bool] = []

    def chunks() -> Iterator[int]:
        try:
            with OBJECT_STORE_ERRORS.around("cannot read"):
                yield 1
                yield 2
        finally:
            closed.append(True)

    stream = chunks()
    assert next(stream) == 1
    stream.close()
    assert closed == [True]
