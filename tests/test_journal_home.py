"""The journal's home does not depend on the working folder: by default it lives in the
user's data directory, so a copy re-run from anywhere finds its migration."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import query, run_cli, show, sqlite_uri


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ``MLMIGRATE_STATE_DIR``: the default journal, in this test's own data directory."""
    monkeypatch.delenv("MLMIGRATE_STATE_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    return tmp_path / "data-home" / "mlmigrate"


def test_a_copy_re_run_from_another_folder_finds_its_migration(
    tmp_path: Path, minimal_store: Path, user_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From another folder the second run found no journal, started a new migration and
    failed on the clash with what the first had written."""
    destination = sqlite_uri(tmp_path / "dst.db")
    first, second = tmp_path / "here", tmp_path / "elsewhere"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    copied = run_cli("copy", str(minimal_store), destination, "-q")
    assert copied.returncode == 0, show(copied)

    monkeypatch.chdir(second)
    again = run_cli("copy", str(minimal_store), destination, "--json")

    assert again.returncode == 0, show(again)
    assert '"up-to-date"' in again.stdout
    assert user_data.is_dir() and any(user_data.iterdir())
    assert not any(Path(folder, ".mlmigrate").exists() for folder in (first, second))


def test_the_library_leaves_the_callers_folder_alone(
    tmp_path: Path, minimal_store: Path, user_data: Path
) -> None:
    import mlmigrate

    mlmigrate.copy(str(minimal_store), sqlite_uri(tmp_path / "dst.db"))

    assert not Path(os.getcwd(), ".mlmigrate").exists()
    assert user_data.is_dir()


def test_a_destination_deleted_after_a_finished_copy_is_copied_again_not_up_to_date(
    minimal_store: Path, tmp_path: Path
) -> None:
    """The journal said the pair was done; the SQLite file was deleted since. The re-run said
    "up-to-date" and wrote nothing, leaving the user with an empty destination."""
    destination_file = tmp_path / "dst.db"
    destination = sqlite_uri(destination_file)
    assert run_cli("copy", str(minimal_store), destination, "-q").returncode == 0
    destination_file.unlink()

    again = run_cli("copy", str(minimal_store), destination, "--json")

    assert again.returncode == 0, show(again)
    report = json.loads(again.stdout)
    assert report["status"] == "done" and report["verify"]["ok"], show(again)
    assert any("holds nothing of migration" in note for note in report["notes"]), report["notes"]
    assert query(destination, "SELECT COUNT(*) FROM runs")[0][0] > 0
