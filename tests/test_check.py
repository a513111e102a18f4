"""``mlmigrate check``: GO (exit 0) only when connectivity, permissions, schemas, disk and clashes allow."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import CliResult, invoke, json_stdout, show, sqlite_uri


def _checks(result: CliResult) -> dict[str, dict[str, object]]:
    return {item["check"]: item for item in json_stdout(result)["checks"]}


def test_check_says_go_for_a_new_destination_and_writes_nothing(minimal_store: Path, tmp_path: Path) -> None:
    destination = tmp_path / "new.db"

    result = invoke("check", str(minimal_store), sqlite_uri(destination), "--json")

    assert result.returncode == 0, show(result)
    assert "GO" in result.stderr and "NO-GO" not in result.stderr, show(result)
    data = json_stdout(result)
    assert data["go"] is True
    checks = _checks(result)
    for name in (
        "source: connect",
        "source: read",
        "destination: connect",
        "destination: write permission",
        "destination: schema revision",
        "clashes",
    ):
        assert checks[name]["ok"] is True, name
    plan = json_stdout(invoke("plan", str(minimal_store), "--json"))
    assert data["estimate"]["rows"] == plan["total_rows"]  # a small store is sampled whole
    assert data["estimate"]["units"] == 3 and data["estimate"]["seconds"] >= 0
    assert not destination.exists()


def test_check_says_no_go_when_the_destination_already_holds_the_source(
    minimal_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    # copied by a migration this journal does not know: the destination's runs are clashes
    elsewhere = tmp_path / "other-journal"
    assert (
        invoke("copy", str(minimal_store), destination, "-q", "--state-dir", str(elsewhere)).returncode == 0
    )

    result = invoke("check", str(minimal_store), destination, "--json")

    assert result.returncode == 1, show(result)
    assert "NO-GO" in result.stderr and "clashes" in result.stderr, show(result)
    checks = _checks(result)
    assert checks["clashes"]["ok"] is False
    assert "already exists" in str(checks["clashes"]["detail"])
    assert checks["destination: schema revision"]["ok"] is True
    assert "(current)" in str(checks["destination: schema revision"]["detail"])


def test_check_says_no_go_for_an_unreachable_database(minimal_store: Path) -> None:
    result = invoke("check", str(minimal_store), "postgresql://app:hunter2@127.0.0.1:1/mlflow", "--json")

    assert result.returncode == 1, show(result)
    assert _checks(result)["destination: connect"]["ok"] is False
    assert "hunter2" not in result.stdout + result.stderr


def test_check_reports_the_schema_revision_of_postgresql_and_free_space_for_a_backup(
    minimal_store: Path, edge_store: Path, postgres_db: str, tmp_path: Path
) -> None:
    assert invoke("copy", str(edge_store), postgres_db, "-q").returncode == 0

    result = invoke("check", str(minimal_store), postgres_db, "--backup-dest", str(tmp_path / "b"), "--json")

    checks = _checks(result)
    assert checks["destination: write permission"]["ok"] is True
    assert "(current)" in str(checks["destination: schema revision"]["detail"])
    disk = checks["disk space for the backup"]
    assert disk["ok"] is True and "MiB free" in str(disk["detail"])
    assert json_stdout(result)["estimate"]["backup_bytes"] > 0


def test_check_says_no_go_when_the_database_user_may_not_write(minimal_store: Path, postgres_db: str) -> None:
    """A role that may connect but not write MLflow's tables (they belong to another user)."""
    import psycopg

    assert invoke("copy", str(minimal_store), postgres_db, "-q").returncode == 0
    with psycopg.connect(postgres_db, autocommit=True) as connection:
        connection.execute("DROP ROLE IF EXISTS mm_reader")
        connection.execute("CREATE ROLE mm_reader LOGIN PASSWORD 'reader-pw'")
        connection.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO mm_reader")
    reader = postgres_db.replace("postgres@", "mm_reader:reader-pw@")
    try:
        result = invoke("check", str(minimal_store), reader, "--json")
    finally:
        with psycopg.connect(postgres_db, autocommit=True) as connection:
            connection.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mm_reader")
            connection.execute("DROP ROLE mm_reader")

    assert result.returncode == 1, show(result)
    permission = _checks(result)["destination: write permission"]
    assert permission["ok"] is False
    assert "may not insert into and delete from" in str(permission["detail"])
    assert "reader-pw" not in result.stdout + result.stderr


def test_check_after_a_finished_copy_says_go_as_copy_says_up_to_date(
    minimal_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    assert invoke("copy", str(minimal_store), destination, "-q").returncode == 0

    result = invoke("check", str(minimal_store), destination, "--json")

    assert result.returncode == 0, show(result)
    checks = _checks(result)
    assert checks["clashes"]["ok"] is True and "what migration" in str(checks["clashes"]["detail"])
    assert "finished" in str(checks["journal"]["detail"])
    again = invoke("copy", str(minimal_store), destination, "--json")
    assert again.returncode == 0 and json_stdout(again)["status"] == "up-to-date", show(again)
