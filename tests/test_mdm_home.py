"""MDM homes (seed 003): every dataset to another backend, YAML repointed, rollback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml
from cli_helpers import invoke, json_stdout, show
from mdm_homes import make_home


def test_every_dataset_moves_to_duckdb_with_its_yaml_and_back_by_rollback(tmp_path: Path) -> None:
    home = make_home(tmp_path / ".mdm")
    state = ["--state-dir", str(tmp_path / "state")]
    before = {p.name: p.read_text() for p in (home / "config" / "datasets").glob("*.yaml")}
    planned = invoke("plan", f"mdm://{home}")
    assert planned.returncode == 0 and "titanic_like/train" in planned.stdout, show(planned)
    copied = invoke(
        "copy", f"mdm://{home}", f"mdm://{home}?backend=duckdb", *state, "--on-error", "skip", "--json"
    )
    assert copied.returncode == 4, show(copied)  # the dataset whose database is missing is left out
    report = json_stdout(copied)
    assert [u["unit"] for u in report["skipped_units"]] == ["table:gone/*"]
    assert "nowhere.sqlite" in report["skipped_units"][0]["error"]
    assert report["verify"]["ok"], report["verify"]
    titanic = yaml.safe_load((home / "config/datasets/titanic_like.yaml").read_text())
    assert titanic["database"]["backend"] == "duckdb"
    assert titanic["database"]["path"].endswith("datasets/titanic_like/titanic_like.duckdb")
    assert list(titanic)[:4] == ["name", "display_name", "description", "database"]  # key order kept
    info = json.loads((home / "datasets/titanic_like/dataset_info.json").read_text())
    assert info["database"]["backend"] == "duckdb"
    import duckdb

    moved = duckdb.connect(titanic["database"]["path"], read_only=True)
    try:
        assert moved.execute("SELECT count(*) FROM train").fetchone() == (4,)  # the WAL's row too
        names = {r[0] for r in moved.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        moved.close()
    assert {"_metadata", "_columns", "_statistics", "sample_submission_features"} <= names
    old = yaml.safe_load((home / "config/datasets/old_one.yaml").read_text())
    assert old["database"]["backend"] == "duckdb"  # found as old_one.db (no path in its YAML)
    # one dataset did not move: the home's default backend stays
    assert yaml.safe_load((home / "mdm.yaml").read_text())["database"]["default_backend"] == "sqlite"
    assert sqlite3.connect(home / "datasets/titanic_like/titanic_like.sqlite").execute(
        "SELECT count(*) FROM train"
    ).fetchone() == (4,)  # the source database is untouched
    rolled = invoke("rollback", "--last", f"mdm://{home}?backend=duckdb", *state)
    assert rolled.returncode == 0, show(rolled)
    assert {p.name: p.read_text() for p in (home / "config" / "datasets").glob("*.yaml")} == before


def test_default_backend_switches_when_every_dataset_moved_and_passwords_stay_masked(
    tmp_path: Path, postgres_server: dict[str, object]
) -> None:
    home = make_home(tmp_path / ".mdm")
    (home / "config/datasets/gone.yaml").unlink()
    server = str(postgres_server["url"]).rsplit("/", 1)[0].replace("postgres@", "postgres:pw-s3cret@")
    state = ["--state-dir", str(tmp_path / "state")]
    copied = invoke("copy", f"mdm://{home}", f"mdm://{home}?backend=postgresql&pg={server}", *state, "--json")
    assert copied.returncode == 0, show(copied)
    assert "pw-s3cret" not in copied.stdout + copied.stderr
    titanic = yaml.safe_load((home / "config/datasets/titanic_like.yaml").read_text())
    assert (
        titanic["database"]["database"] == "mdm_titanic_like"
        and titanic["database"]["backend"] == "postgresql"
    )
    assert yaml.safe_load((home / "mdm.yaml").read_text())["database"]["default_backend"] == "postgresql"
    status = invoke("status", *state)
    assert status.returncode == 0 and "pw-s3cret" not in status.stdout + status.stderr, show(status)


def test_the_yaml_is_repointed_only_once_verify_passes(tmp_path: Path) -> None:
    import mlmigrate
    from mlmigrate.events import Event

    home = make_home(tmp_path / ".mdm")
    (home / "config/datasets/gone.yaml").unlink()
    moved = home / "datasets/quack/quack.sqlite"  # the DuckDB dataset's new database
    state = tmp_path / "state"

    def tamper(event: Event) -> None:  # someone changes the new database before verify reads it
        if event.kind == "verify_started":
            with sqlite3.connect(moved) as connection:
                connection.execute("DELETE FROM train WHERE id = 3")

    report = mlmigrate.copy(f"mdm://{home}", f"mdm://{home}?backend=sqlite", state_dir=state, listener=tamper)
    assert report.status == "verify-mismatch", report.as_dict()
    quack = yaml.safe_load((home / "config/datasets/quack.yaml").read_text())
    assert quack["database"]["backend"] == "duckdb"  # MDM still reads the verified source
    info = json.loads((home / "datasets/quack/dataset_info.json").read_text())
    assert info["database"]["backend"] == "duckdb"
    with sqlite3.connect(moved) as connection:  # put the row back; the re-run verifies, then repoints
        connection.execute("INSERT INTO train VALUES (3, 'Zoë', 71.2833, NULL, '1912-04-10 14:30:00', NULL)")
    again = mlmigrate.copy(f"mdm://{home}", f"mdm://{home}?backend=sqlite", state_dir=state)
    assert again.status == "done" and again.as_dict()["verify"]["ok"], again.as_dict()
    quack = yaml.safe_load((home / "config/datasets/quack.yaml").read_text())
    assert quack["database"]["backend"] == "sqlite" and quack["database"]["path"] == str(moved.resolve())
    assert yaml.safe_load((home / "mdm.yaml").read_text())["database"]["default_backend"] == "sqlite"
