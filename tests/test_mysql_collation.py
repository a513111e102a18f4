"""MySQL/MariaDB key columns under a case- and accent-insensitive collation (a database MLflow
made on a server whose default is ``utf8mb4_unicode_ci``): ``Loss``/``loss``, ``café``/``cafe``,
``k``/``k `` and experiments named ``café`` in NFC and NFD are each one key there. ``plan`` and
``check`` name every one before anything is written, and ``copy --on-error skip`` leaves out
exactly those runs and the later experiment, each with its reason, and copies the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from cli_helpers import engine_for, json_stdout, show
from cli_helpers import run_cli_here as run_cli
from refusal_store import NFC, NFD, make_refusal_store

from mlmigrate.cli.summaries import PARTIAL_EXIT_CODE
from mlmigrate.stores import open_store

COLLATION = "utf8mb4_unicode_ci"
#: the columns given the collation (their tables' own keys and unique names)
COLUMNS = (("params", "key"), ("tags", "key"), ("latest_metrics", "key"), ("experiments", "name"))


@pytest.fixture(scope="module")
def refusal_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return make_refusal_store(tmp_path_factory.mktemp("refusal-store"))


@pytest.fixture
def insensitive_db(mysql_db: str) -> str:
    """An empty MLflow schema whose key columns compare under :data:`COLLATION`."""
    store = open_store(mysql_db)
    try:
        store.prepare()
    finally:
        store.close()
    engine = engine_for(mysql_db)
    try:
        with engine.begin() as connection:
            for table, column in COLUMNS:
                kind, nullable = connection.execute(
                    sqlalchemy.text(
                        "SELECT COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME = :c"
                    ),
                    {"t": table, "c": column},
                ).one()
                null = "NULL" if nullable == "YES" else "NOT NULL"
                connection.execute(
                    sqlalchemy.text(
                        f"ALTER TABLE `{table}` MODIFY `{column}` {kind} "
                        f"CHARACTER SET utf8mb4 COLLATE {COLLATION} {null}"
                    )
                )
    finally:
        engine.dispose()
    return mysql_db


def test_keys_the_collation_merges_are_foreseen_and_left_out_with_their_reason(
    refusal_source: tuple[Path, dict[str, str]], insensitive_db: str
) -> None:
    mlruns, runs = refusal_source
    refused = {runs[name] for name in ("huge-step", "spaces", "case", "accents", "model:huge-step")}

    planned = json_stdout(run_cli("plan", str(mlruns), insensitive_db, "--json"))

    by_run = {entry["run"]: entry["error"] for entry in planned["refusals"] if entry["run"]}
    assert set(by_run) == refused, planned["refusals"]
    assert "'Loss' and 'loss'" in by_run[runs["case"]] and COLLATION in by_run[runs["case"]]
    assert "'cafe' and 'caf\\xe9'" in by_run[runs["accents"]]  # weighed by the server (not ASCII)
    [names] = [entry for entry in planned["refusals"] if entry["run"] is None]
    assert names["label"] in (NFC, NFD) and "one name in the destination" in names["error"], names

    checked = run_cli("check", str(mlruns), insensitive_db, "--json")
    assert checked.returncode == 1 and "'Loss' and 'loss'" in checked.stdout, show(checked)

    copied = run_cli("copy", str(mlruns), insensitive_db, "--on-error", "skip", "--json")

    assert copied.returncode == PARTIAL_EXIT_CODE, show(copied)
    report = json_stdout(copied)
    assert {entry["run"] for entry in report["rejected_runs"]} == refused
    case = next(entry for entry in report["rejected_runs"] if entry["run"] == runs["case"])
    assert "'Loss' and 'loss' are one key" in case["error"]  # not "already holds"
    [skipped] = report["skipped_units"]  # the second café; the run went on to the other units
    assert skipped["unit"] == names["unit"] and report["failed_units"] == []
    assert "whose name its collation takes for the same" in skipped["error"], skipped
    engine = engine_for(insensitive_db)
    try:
        with engine.connect() as connection:
            held = connection.execute(sqlalchemy.text("SELECT run_uuid FROM runs")).scalars().all()
    finally:
        engine.dispose()
    left_out = runs["nfd" if skipped["label"] == NFD else "nfc"]
    assert set(held) == set(runs.values()) - refused - {left_out, runs["model:huge-step"]}


def _one_experiment(root: Path, name: str) -> Path:
    """A FileStore with one experiment named ``name`` holding one run, by the real client."""
    from mlflow.tracking import MlflowClient

    mlruns = root / "mlruns"
    client = MlflowClient(mlruns.as_uri())
    client.set_terminated(client.create_run(client.create_experiment(name)).info.run_id)
    return mlruns


def test_a_name_the_collation_takes_for_one_in_the_destination_is_a_clash_plan_foresees(
    insensitive_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination holds ``Shared Name``; the source brings ``shared name ``: one name
    under the collation. ``plan`` lists the clash with both spellings and ``copy`` stops
    before writing, instead of failing inside the database with "already holds"."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    held = _one_experiment(tmp_path / "first", "Shared Name")
    assert run_cli("copy", str(held), insensitive_db).returncode == 0
    source = _one_experiment(tmp_path / "second", "shared name ")

    planned = json_stdout(run_cli("plan", str(source), insensitive_db, "--json"))

    (clash,) = [c for c in planned["clashes"] if "shared name" in c]
    assert "as 'Shared Name', which it takes for the same name" in clash, planned["clashes"]

    copied = run_cli("copy", str(source), insensitive_db)

    assert copied.returncode == 1 and "--on-conflict" in copied.stderr, show(copied)
    skipped = run_cli("copy", str(source), insensitive_db, "--on-conflict", "skip", "--json")
    assert skipped.returncode == 0, show(skipped)
