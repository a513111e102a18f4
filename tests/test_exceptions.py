"""The error classes: each carries its CLI exit code and crosses a process boundary whole."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import pytest

from mlmigrate import exceptions
from mlmigrate.exceptions import (
    ConflictError,
    Interrupted,
    JournalError,
    MigrationError,
    SchemaError,
    SourceFormatError,
    StoreError,
    TransientStoreError,
    UsageError,
    VerificationError,
)


def _errors() -> list[MigrationError]:
    """One of each class, with every attribute set."""
    made: list[MigrationError] = [
        MigrationError("plain"),
        UsageError("bad option --x"),
        StoreError("cannot open"),
        SourceFormatError("not a number", path="/m/1/meta.yaml", line=7),
        SchemaError("unknown revision"),
        TransientStoreError("connection dropped"),
        ConflictError("2 clashes", ["experiment 'a'", "model 'b'"]),
        VerificationError("differs"),
        JournalError("locked"),
        Interrupted("interrupted; migration m1 can be resumed"),
    ]
    for error in made:
        error.migration_id = "m1"
        error.report = {"status": "failed", "tables": {"runs": {"read": 2}}}
    return made


def _state(error: MigrationError) -> dict[str, Any]:
    return {"type": type(error), "text": str(error), "args": error.args, **vars(error)}


def test_every_class_has_its_exit_code() -> None:
    codes = {type(error).__name__: error.exit_code for error in _errors()}

    assert codes == {
        "MigrationError": 1,
        "UsageError": 2,
        "StoreError": 1,
        "SourceFormatError": 1,
        "SchemaError": 1,
        "TransientStoreError": 1,
        "ConflictError": 1,
        "VerificationError": 3,
        "JournalError": 1,
        "Interrupted": 130,
    }
    assert sorted(codes) == sorted(exceptions.__all__)


@pytest.mark.parametrize("error", _errors(), ids=lambda error: type(error).__name__)
def test_pickle_round_trip_keeps_the_class_message_and_attributes(error: MigrationError) -> None:
    again = pickle.loads(pickle.dumps(error))

    assert _state(again) == _state(error)


def test_the_attributes_of_the_formatting_classes_survive() -> None:
    clash = pickle.loads(pickle.dumps(ConflictError("1 clash", ["experiment 'a'"])))
    bad = pickle.loads(pickle.dumps(SourceFormatError("bad", path="f.yaml", line=3)))

    assert clash.clashes == ["experiment 'a'"] and str(clash) == "1 clash\n  - experiment 'a'"
    assert (bad.path, bad.line, str(bad)) == ("f.yaml", 3, "f.yaml:3: bad")


def _raise(index: int) -> None:
    raise _errors()[index]


def test_errors_cross_a_real_process_boundary() -> None:
    """Raised in a spawned worker process, re-raised here by the pool: same class and attributes."""
    expected = _errors()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_raise, index) for index in range(len(expected))]
        received = [future.exception() for future in futures]

    for error, got in zip(expected, received, strict=True):
        assert isinstance(got, MigrationError)
        assert _state(got) == _state(error)
