"""``repair``: a journal that disagrees with its destination is set back to what the destination holds."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import invoke, json_stdout, query, show, sqlite_uri

import mlmigrate
from mlmigrate.engine.repair import repair
from mlmigrate.engine.rollback import rollback
from mlmigrate.exceptions import ConflictError, UsageError
from mlmigrate.stores import open_store
from mlmigrate.stores.base import Unit


def _journal(state: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "journal.sqlite") as connection:
        return connection.execute(sql, params).fetchall()


@pytest.fixture
def copied(tmp_path: Path, minimal_store: Path) -> tuple[str, str, Path]:
    """A finished copy of the minimal store into SQLite, and its state folder."""
    source = str(tmp_path / "src")
    shutil.copytree(minimal_store, source)
    destination = sqlite_uri(tmp_path / "dst.db")
    state = tmp_path / "state"
    report = mlmigrate.copy(source, destination, state_dir=state)
    assert report.status == "done"
    return source, destination, state


def _an_experiment_unit(state: Path) -> str:
    rows = _journal(state, "SELECT unit_id FROM units WHERE kind = 'experiment' AND source_id != '0'")
    return str(rows[0][0])


def test_a_failed_unit_the_destination_holds_whole_is_adopted(copied: tuple[str, str, Path]) -> None:
    """Two copies at once left one unit *failed* in a migration marked *done*: copy then said
    nothing to do and rollback refused for ever. Repair finds the unit whole and marks it done."""
    source, destination, state = copied
    unit = _an_experiment_unit(state)
    _journal(state, "UPDATE units SET state = 'failed', error = 'clash' WHERE unit_id = ?", (unit,))
    with pytest.raises(ConflictError):
        rollback(destination_uri=destination, state_dir=state)

    result = repair(source, destination, state_dir=state)

    assert result.adopted == [unit] and result.to_copy == [] and result.ok, result.as_dict()
    assert _journal(state, "SELECT state FROM units WHERE unit_id = ?", (unit,)) == [("done",)]
    assert rollback(destination_uri=destination, state_dir=state).verify.ok
    assert query(destination, "SELECT count(*) FROM runs") == [(0,)]


def test_a_done_unit_the_destination_lost_is_copied_again(copied: tuple[str, str, Path]) -> None:
    """Rows removed by hand behind the journal's back: repair marks the unit pending and the
    migration interrupted, and the next copy writes it and verifies equal."""
    source, destination, state = copied
    runs = query(destination, "SELECT count(*) FROM runs")[0][0]
    assert runs > 0
    unit = _an_experiment_unit(state)
    kind, dest_id, label = _journal(
        state, "SELECT kind, dest_id, label FROM units WHERE unit_id = ?", (unit,)
    )[0]
    store = open_store(destination)
    try:
        store.delete_unit(Unit(str(kind), str(dest_id), str(label)))  # behind the journal's back
    finally:
        store.close()
    assert mlmigrate.copy(source, destination, state_dir=state).status == "up-to-date"  # the journal's word

    result = repair(source, destination, state_dir=state)

    assert result.to_copy == [unit] and result.state == "interrupted", result.as_dict()
    again = mlmigrate.copy(source, destination, state_dir=state)
    assert again.status == "done", again.as_dict()
    assert query(destination, "SELECT count(*) FROM runs") == [(runs,)]
    assert mlmigrate.verify(source, destination, state_dir=state).ok


def test_a_unit_held_otherwise_is_reported_and_left(copied: tuple[str, str, Path]) -> None:
    """A value changed in the destination: repair names the unit and changes nothing."""
    source, destination, state = copied
    with sqlite3.connect(destination.removeprefix("sqlite:///")) as connection:
        connection.execute(
            "UPDATE params SET value = 'tampered' WHERE rowid = (SELECT min(rowid) FROM params)"
        )
    before = _journal(state, "SELECT unit_id, state FROM units ORDER BY unit_id")

    result = repair(source, destination, state_dir=state)

    assert not result.ok and len(result.differing) == 1, result.as_dict()
    assert _journal(state, "SELECT unit_id, state FROM units ORDER BY unit_id") == before
    assert result.state == "done"


def test_repair_without_a_migration_is_refused(tmp_path: Path, minimal_store: Path) -> None:
    with pytest.raises(UsageError, match="no migration"):
        repair(str(minimal_store), sqlite_uri(tmp_path / "none.db"), state_dir=tmp_path / "state")


def test_the_repair_command_adopts_a_whole_unit_and_exits_3_on_one_held_otherwise(
    copied: tuple[str, str, Path],
) -> None:
    source, destination, state = copied
    unit = _an_experiment_unit(state)
    _journal(state, "UPDATE units SET state = 'failed', error = 'clash' WHERE unit_id = ?", (unit,))

    adopted = invoke("repair", source, destination, "--state-dir", str(state), "--json")

    assert adopted.returncode == 0, show(adopted)
    data = json_stdout(adopted)
    assert data["adopted_units"] == [unit] and data["ok"] is True
    assert f"repaired migration {data['migration_id']}: 1 unit(s) found whole" in adopted.stderr, show(
        adopted
    )
    with sqlite3.connect(destination.removeprefix("sqlite:///")) as connection:
        connection.execute(
            "UPDATE params SET value = 'tampered' WHERE rowid = (SELECT min(rowid) FROM params)"
        )

    differing = invoke("repair", source, destination, "--state-dir", str(state))

    assert differing.returncode == 3, show(differing)
    assert "1 held otherwise" in differing.stderr and "held otherwise:" in differing.stderr, show(differing)
    missing = invoke("repair", source, sqlite_uri(Path(state) / "none.db"), "--state-dir", str(state))
    assert missing.returncode == 2 and "no migration" in missing.stderr, show(missing)
