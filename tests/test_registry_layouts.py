"""Registries between their own layouts: registry.json ↔ SQLite (the app's DDL) ↔ PostgreSQL ↔
MariaDB through the engine: byte-identical JSON after the round trip, the app's own read query
on the result, explicit ids with the id generators advanced, a re-run that adds nothing,
rollback, a SIGKILL resume, orphans rejected where foreign keys are enforced, and ``--into``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_helpers import invoke, show
from kill_helpers import copy_killed_after_first_commit
from registry_fixtures import clean_registry, quirky_registry

from mlmigrate.stores.registry.layout import SQLITE_DDL

#: the application's own read query (``SQLiteMetadataBackend.load_metadata``)
APP_QUERY = (
    "SELECT m.name, mv.version, mv.description, mv.storage_path, mv.file_size_bytes, mv.created_at, mv.id "
    "FROM mr_models m JOIN mr_model_versions mv ON m.id = mv.model_id "
    "ORDER BY m.name, CAST(mv.version AS INTEGER)"
)


@pytest.fixture(scope="session")
def app_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean registry (3 models × 3 versions, every tag type, unicode), built once."""
    root = tmp_path_factory.mktemp("layouts") / "models"
    clean_registry(root)
    return root


def _copy(source: str, destination: str, *more: str) -> dict:
    copied = invoke("copy", source, destination, "--json", *more)
    assert copied.returncode == 0, show(copied)
    report = json.loads(copied.stdout)
    assert report["status"] == "up-to-date" or report["verify"]["ok"], report["verify"]
    return report


def _server(url: str) -> sa.Engine:
    driver = "postgresql+psycopg" if url.startswith("postgresql") else "mysql+pymysql"
    return sa.create_engine(driver + "://" + url.split("://", 1)[1], poolclass=sa.pool.NullPool)


def test_json_sqlite_postgresql_mariadb_json_is_byte_identical(
    app_registry: Path, tmp_path: Path, postgres_db: str, mysql_db: str
) -> None:
    models = f"?models={app_registry}"
    database = tmp_path / "registry.db"
    _copy(str(app_registry / "registry.json"), f"sqlite:///{database}")
    with sqlite3.connect(database) as db:
        ddl = db.execute(
            "SELECT group_concat(sql, ';') FROM sqlite_master WHERE name NOT LIKE 'mlmigrate%'"
        ).fetchone()[0]
        assert (
            "CREATE TABLE mr_model_tags" in ddl
            and db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        )
        db.executescript(SQLITE_DDL)  # the app's start-up runs its migration again: nothing changes
        rows = db.execute(APP_QUERY).fetchall()
    document = json.loads((app_registry / "registry.json").read_text())
    expected = sorted(
        (name, e["version"], e["description"], e["storage_path"], e["file_size"], e["created_at"])
        for name, entries in document.items()
        for e in entries
    )
    assert sorted(r[:6] for r in rows) == expected
    _copy(f"sqlite:///{database}{models}", postgres_db)
    _copy(postgres_db, mysql_db)
    back = tmp_path / "back" / "registry.json"
    _copy(mysql_db, str(back))
    assert back.read_bytes() == (app_registry / "registry.json").read_bytes()
    for url in (postgres_db, mysql_db):  # ids kept, generators advanced: the app inserts without ids
        with _server(url).begin() as connection:
            top = connection.execute(sa.text("SELECT MAX(id) FROM mr_models")).scalar()
            connection.execute(
                sa.text("INSERT INTO mr_models (name, created_at, updated_at) VALUES ('new', 'x', 'x')")
            )
            assert (
                connection.execute(sa.text("SELECT id FROM mr_models WHERE name = 'new'")).scalar() == top + 1
            )
    assert invoke("verify", str(app_registry / "registry.json"), f"sqlite:///{database}").returncode == 0


def test_a_rerun_adds_nothing_a_change_is_caught_and_rollback_removes_it(
    app_registry: Path, tmp_path: Path
) -> None:
    database = tmp_path / "registry.db"
    source = str(app_registry / "registry.json")
    _copy(source, f"sqlite:///{database}")
    assert _copy(source, f"sqlite:///{database}")["rows_written"] == 0
    with sqlite3.connect(database) as db:
        db.execute("UPDATE mr_model_tags SET tag_value = 'edited' WHERE id = 1")
    assert invoke("verify", source, f"sqlite:///{database}").returncode == 3
    with sqlite3.connect(database) as db:
        db.execute("UPDATE mr_model_tags SET tag_value = '0.3' WHERE id = 1")
    undone = invoke("rollback", "--last", f"sqlite:///{database}")
    assert undone.returncode == 0, show(undone)
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM mr_models").fetchone()[0] == 0
        assert db.execute("SELECT version FROM schema_migrations").fetchall() == [("001",)]


def test_a_killed_copy_into_json_resumes_to_the_same_bytes(app_registry: Path, tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    _copy(str(app_registry / "registry.json"), f"sqlite:///{database}")
    back = tmp_path / "back.json"
    copy_killed_after_first_commit(f"sqlite:///{database}", str(back), "--batch-size", "2")
    assert list(json.loads(back.read_text())) == ["binary_classifier", "linear_predictor"]  # one group
    _copy(f"sqlite:///{database}", str(back))
    assert back.read_bytes() == (app_registry / "registry.json").read_bytes()


def test_orphan_tags_are_rejected_where_foreign_keys_hold(tmp_path: Path, postgres_db: str) -> None:
    root = tmp_path / "models"
    quirky_registry(root)
    report = _copy(f"sqlite:///{root / 'registry.db'}", postgres_db)
    assert (
        sorted(f["code"] for f in report["source_findings"] if f["code"] == "orphan_tag")
        == ["orphan_tag"] * 3
    )
    with _server(postgres_db).connect() as connection:
        tags = connection.execute(sa.text("SELECT id FROM mr_model_tags ORDER BY id")).scalars().all()
    assert tags == [1, 2, 5, 6, 7, 8, 9, 11]  # ids kept; 3, 4 and 10 were orphans
    again = invoke("copy", f"sqlite:///{root / 'registry.db'}", postgres_db, "--json")
    assert json.loads(again.stdout)["rows_written"] == 0


def test_into_refuses_an_unknown_family_naming_the_known_ones(app_registry: Path, tmp_path: Path) -> None:
    """(``--into mlflow`` itself: tests/test_registry_into_mlflow.py.)"""
    refused = invoke(
        "copy", str(app_registry / "registry.json"), f"sqlite:///{tmp_path / 'x.db'}", "--into", "nonsense"
    )
    assert refused.returncode == 2 and "registry" in refused.stderr and "mlflow" in refused.stderr
    assert not (tmp_path / "x.db").exists()


def test_the_html_report_lists_what_was_found(tmp_path: Path) -> None:
    root = tmp_path / "models"
    quirky_registry(root)
    page = tmp_path / "report.html"
    _copy(str(root / "registry.json"), f"sqlite:///{tmp_path / 'out.db'}", "--report", str(page))
    html = page.read_text()
    for code in ("missing_file", "unlisted_file", "size_mismatch"):
        assert code in html


def test_plan_with_a_destination_lists_the_models_it_holds(app_registry: Path, tmp_path: Path) -> None:
    source = str(app_registry / "registry.json")
    _copy(source, f"sqlite:///{tmp_path / 'registry.db'}")
    planned = invoke("plan", source, f"sqlite:///{tmp_path / 'registry.db'}", "--json")
    assert planned.returncode == 0, show(planned)
    clashes = json.loads(planned.stdout)["clashes"]
    assert len(clashes) == 3 and "binary_classifier" in clashes[0]


def test_a_reader_told_to_read_committed_sees_each_rewrite_of_the_file(tmp_path: Path) -> None:
    """The verifier's process opens a registry.json once and reads each unit as it commits: it
    once kept its first reading, so a model written after it read back as missing (a flaky
    verify mismatch of the contract suite)."""
    from mlmigrate.stores import open_store

    root = tmp_path / "models"
    clean_registry(root)
    registry = root / "registry.json"
    reader, writer = open_store(str(registry)), open_store(str(registry))
    reader.read_committed()
    units = reader.units()
    first, last = units[0], units[-1]
    assert dict(reader.read_unit(last))  # read once: the contents are now held

    writer.delete_unit(last)

    assert dict(reader.read_unit(last)) == {}
    assert dict(reader.read_unit(first))
