"""Damaged sources and bad URIs: a clear error naming the file (and line), nothing half-written,
``--on-error skip`` copies the rest, and passwords never leak."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import count, invoke, json_stdout, query, show, sqlite_uri, squash

from mlmigrate.cli.summaries import PARTIAL_EXIT_CODE

Damage = Callable[[Path], tuple[Path, "int | None"]]


def _experiment_dir(mlruns: Path, name: str = "minimal") -> Path:
    for meta in mlruns.glob("*/meta.yaml"):
        if f"\nname: {name}\n" in "\n" + meta.read_text(encoding="utf-8"):
            return meta.parent
    raise AssertionError(f"no experiment {name!r} in {mlruns}")


def _run_dir(mlruns: Path, run_name: str = "run-0") -> Path:
    for meta in _experiment_dir(mlruns).glob("*/meta.yaml"):
        if f"run_name: {run_name}\n" in meta.read_text(encoding="utf-8"):
            return meta.parent
    raise AssertionError(f"no run {run_name!r} in {mlruns}")


def corrupt_experiment_meta(mlruns: Path) -> tuple[Path, int | None]:
    path = _experiment_dir(mlruns) / "meta.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    return path, None


def truncated_experiment_meta(mlruns: Path) -> tuple[Path, int | None]:
    path = _experiment_dir(mlruns) / "meta.yaml"
    path.write_bytes(b"")
    return path, None


def experiment_meta_is_a_directory(mlruns: Path) -> tuple[Path, int | None]:
    """Unreadable (tests run as root, so chmod 000 would not stop a read)."""
    path = _experiment_dir(mlruns) / "meta.yaml"
    path.unlink()
    path.mkdir()
    return path, None


def metric_value_not_a_number(mlruns: Path) -> tuple[Path, int | None]:
    path = _run_dir(mlruns) / "metrics" / "loss"
    path.write_text("123 notanumber 0\n", encoding="utf-8")
    return path, 1


def metric_line_with_four_fields(mlruns: Path) -> tuple[Path, int | None]:
    path = _run_dir(mlruns) / "metrics" / "loss"
    path.write_text("1700000000000 1.0 0\n1700000000001 0.5 1 extra\n", encoding="utf-8")
    return path, 2


def run_without_meta(mlruns: Path) -> tuple[Path, int | None]:
    run = _run_dir(mlruns)
    (run / "meta.yaml").unlink()
    return run, None


def run_meta_invalid_utf8(mlruns: Path) -> tuple[Path, int | None]:
    path = _run_dir(mlruns) / "meta.yaml"
    path.write_bytes(path.read_bytes().replace(b"run-0", b"run-\xff\xfe"))
    return path, None


def param_invalid_utf8(mlruns: Path) -> tuple[Path, int | None]:
    path = _run_dir(mlruns) / "params" / "lr"
    path.write_bytes(b"0.0\xff1")
    return path, None


DAMAGES: list[Damage] = [
    corrupt_experiment_meta,
    truncated_experiment_meta,
    experiment_meta_is_a_directory,
    metric_value_not_a_number,
    metric_line_with_four_fields,
    run_without_meta,
    run_meta_invalid_utf8,
    param_invalid_utf8,
]


def _damaged_copy(minimal_store: Path, tmp_path: Path, damage: Damage) -> tuple[Path, Path, int | None]:
    mlruns = tmp_path / "damaged" / "mlruns"
    shutil.copytree(minimal_store, mlruns)
    run_ids = [p.parent.name for p in _experiment_dir(mlruns).glob("*/meta.yaml")]
    assert len(run_ids) == 2
    path, line = damage(mlruns)
    return mlruns, path, line


def _runs_of_minimal(destination: str) -> list[tuple[str]]:
    return query(
        destination,
        "SELECT r.run_uuid FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
        "WHERE e.name = 'minimal'",
    )


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.replace("_", "-"))
def test_damaged_source_fails_naming_the_file_and_writes_nothing_of_it(
    minimal_store: Path, tmp_path: Path, damage: Damage
) -> None:
    mlruns, path, line = _damaged_copy(minimal_store, tmp_path, damage)
    destination = sqlite_uri(tmp_path / "dst.db")

    result = invoke("copy", str(mlruns), destination, "-q")

    assert result.returncode == 1, show(result)
    # rich hard-wraps long lines on a non-terminal stderr; compare without whitespace
    location = f"{path}:{line}:" if line is not None else str(path)
    assert squash(location) in squash(result.stderr), show(result)
    assert "Traceback" not in result.stderr, show(result)
    assert query(destination, "SELECT count(*) FROM experiments WHERE name = 'minimal'") == [(0,)]
    assert count(destination, "runs") == 0
    assert count(destination, "params") == 0
    assert count(destination, "metrics") == 0


@pytest.mark.parametrize(
    "damage", [corrupt_experiment_meta, truncated_experiment_meta], ids=lambda d: d.__name__.replace("_", "-")
)
def test_on_error_skip_copies_everything_else_and_reports_the_unit(
    minimal_store: Path, tmp_path: Path, damage: Damage
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=minimal_store.as_uri())
    healthy = client.create_experiment("healthy")
    run = client.create_run(healthy)
    client.log_param(run.info.run_id, "p", "v")
    mlruns, path, _ = _damaged_copy(minimal_store, tmp_path, damage)
    destination = sqlite_uri(tmp_path / "dst.db")

    result = invoke("copy", str(mlruns), destination, "--on-error", "skip", "--json", "-q")

    assert result.returncode == PARTIAL_EXIT_CODE, show(result)  # finished, but not everything
    report = json_stdout(result)
    assert report["status"] == "partial"
    assert report["verify"]["ok"], report["verify"]
    minimal_dir = _experiment_dir(minimal_store)
    [skipped] = report["skipped_units"]
    assert minimal_dir.name in skipped["unit"]
    assert str(path) in skipped["error"]
    assert report["units"]["skipped"] == 1 and report["units"]["failed"] == 0
    # everything else arrived: Default, the healthy experiment and its run, the registered model
    names = {row[0] for row in query(destination, "SELECT name FROM experiments")}
    assert names == {"Default", "healthy"}
    assert query(destination, "SELECT run_uuid FROM runs") == [(run.info.run_id,)]
    assert query(destination, "SELECT key, value FROM params") == [("p", "v")]
    assert query(destination, "SELECT name FROM registered_models") == [("minimal-model",)]
    assert _runs_of_minimal(destination) == []
    # and the journal shows the skipped unit with its error
    status = invoke("status", report["migration_id"], "--json")
    assert status.returncode == 0, show(status)
    states = {u["unit_id"]: (u["state"], u["error"]) for u in json_stdout(status)}
    assert states[skipped["unit"]][0] == "skipped"
    assert str(path) in states[skipped["unit"]][1]


RUN_DAMAGES: list[Damage] = [
    metric_value_not_a_number,
    metric_line_with_four_fields,
    run_without_meta,
    run_meta_invalid_utf8,
    param_invalid_utf8,
]


@pytest.mark.parametrize("damage", RUN_DAMAGES, ids=lambda d: d.__name__.replace("_", "-"))
def test_on_error_skip_leaves_out_only_the_malformed_run_and_names_it_in_the_rejects_file(
    minimal_store: Path, tmp_path: Path, damage: Damage
) -> None:
    """A bad file of one run dropped its whole experiment, the other run with it; now the
    experiment and its healthy run arrive, and the run left out is in the report and in a
    rejects file naming the file (and line), like pgloader's."""
    mlruns, path, line = _damaged_copy(minimal_store, tmp_path, damage)
    bad_run = _run_dir(minimal_store).name
    [good_run] = [
        p.parent.name for p in _experiment_dir(mlruns).glob("*/meta.yaml") if p.parent.name != bad_run
    ]
    destination = sqlite_uri(tmp_path / "dst.db")

    result = invoke("copy", str(mlruns), destination, "--on-error", "skip", "--json", "-q")

    assert result.returncode == PARTIAL_EXIT_CODE, show(result)
    report = json_stdout(result)
    assert report["status"] == "partial", show(result)
    assert report["skipped_units"] == [] and report["units"]["runs_rejected"] == 1
    [rejected] = report["rejected_runs"]
    assert rejected["run"] == bad_run
    location = f"{path}:{line}:" if line is not None else str(path)
    assert location in rejected["error"]
    assert _runs_of_minimal(destination) == [(good_run,)]
    assert query(destination, "SELECT count(*) FROM runs WHERE run_uuid = :r", {"r": bad_run}) == [(0,)]
    [line_of_file] = Path(report["rejects_file"]).read_text(encoding="utf-8").splitlines()
    assert json.loads(line_of_file)["run"] == bad_run and location in json.loads(line_of_file)["error"]
    assert report["verify"]["ok"], report["verify"]
    verified = invoke("verify", str(mlruns), destination)
    assert verified.returncode == 0, show(verified)
    again = invoke("copy", str(mlruns), destination, "--on-error", "skip", "--json", "-q")
    assert json_stdout(again)["rejected_runs"] == [rejected], show(again)  # still left out, and said
    assert json_stdout(again)["status"] == "partial", show(again)
    assert _runs_of_minimal(destination) == [(good_run,)]


def test_error_names_the_file_path_verbatim_on_non_terminal_stderr(
    minimal_store: Path, tmp_path: Path
) -> None:
    mlruns, path, line = _damaged_copy(minimal_store, tmp_path, metric_value_not_a_number)
    assert len(f"{path}:{line}:") > 80  # tmp paths are long; that is the point

    result = invoke("copy", str(mlruns), sqlite_uri(tmp_path / "dst.db"), "-q")

    assert result.returncode == 1, show(result)
    assert f"{path}:{line}:" in result.stderr, show(result)


@pytest.mark.parametrize("position", ["source", "destination"])
def test_unknown_uri_scheme_is_a_usage_error(minimal_store: Path, tmp_path: Path, position: str) -> None:
    good = str(minimal_store) if position == "destination" else sqlite_uri(tmp_path / "dst.db")
    args = ("foo://x", good) if position == "source" else (good, "foo://x")

    result = invoke("copy", *args)

    assert result.returncode == 2, show(result)
    message = squash(result.stderr)
    assert "'foo'" in message, show(result)
    for scheme in ("file://", "sqlite:///", "postgresql://"):
        assert scheme in message, show(result)


def test_missing_source_folder_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-mlruns"

    result = invoke("copy", str(missing), sqlite_uri(tmp_path / "dst.db"))

    assert result.returncode == 2, show(result)
    assert squash(str(missing)) in squash(result.stderr), show(result)
    assert not (tmp_path / "dst.db").exists()


def test_bad_on_error_value_is_a_usage_error(minimal_store: Path, tmp_path: Path) -> None:
    result = invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--on-error", "ignore")

    assert result.returncode == 2, show(result)
    assert "skip" in result.stderr and "fail" in result.stderr, show(result)


@pytest.mark.parametrize("command", ["copy", "plan", "verify"])
def test_unreachable_postgresql_password_never_printed(
    minimal_store: Path, command: str, isolated_mlflow_env: Path
) -> None:
    secret = "s3cretPW"
    url = f"postgresql://u:{secret}@127.0.0.1:1/db"

    result = invoke(command, str(minimal_store), url, "--json")

    assert result.returncode not in (0, 3), show(result)
    assert secret not in result.stdout + result.stderr, show(result)
    assert "127.0.0.1" in result.stderr, show(result)  # the error still says where it failed
    # this session's temporary folders (another pytest's may be removed while they are walked)
    for path in isolated_mlflow_env.parent.rglob("journal.sqlite"):
        assert secret.encode() not in path.read_bytes(), path


def test_a_stray_folder_is_reported_not_dropped_and_hidden_folders_are_ignored(
    minimal_store: Path, tmp_path: Path
) -> None:
    mlruns = tmp_path / "stray" / "mlruns"
    shutil.copytree(minimal_store, mlruns)
    (mlruns / "notes").mkdir()
    (mlruns / "notes" / "todo.txt").write_text("not an experiment", encoding="utf-8")
    (mlruns / ".ipynb_checkpoints").mkdir()
    destination = sqlite_uri(tmp_path / "dst.db")

    failed = invoke("copy", str(mlruns), destination, "-q")
    assert failed.returncode == 1, show(failed)
    assert str(mlruns / "notes") in failed.stderr, show(failed)

    skipped = invoke("copy", str(mlruns), destination, "--on-error", "skip", "--json", "-q")
    assert skipped.returncode == PARTIAL_EXIT_CODE, show(skipped)
    report = json_stdout(skipped)
    assert [unit["unit"] for unit in report["skipped_units"]] == ["experiment:notes"]
    assert {row[0] for row in query(destination, "SELECT name FROM experiments")} == {"Default", "minimal"}


def test_a_value_too_long_for_postgresql_fails_its_unit_clearly(tmp_path: Path, postgres_db: str) -> None:
    """The FileStore takes a 300-character experiment name; MLflow's PostgreSQL column holds 256.
    The copy stops naming the unit, the table and the limit; SQLite takes the name as it is."""
    from mlflow import MlflowClient

    mlruns = tmp_path / "long" / "mlruns"
    name = "n" * 300
    MlflowClient(tracking_uri=mlruns.as_uri()).create_experiment(name)

    result = invoke("copy", str(mlruns), postgres_db, "-q")

    assert result.returncode == 1, show(result)
    message = squash(result.stderr)
    assert "experiments.name" in message and "300" in message and "256" in message, show(result)
    assert "--on-errorskip" in message, show(result)  # squash() drops the spaces
    assert query(postgres_db, "SELECT count(*) FROM experiments WHERE length(name) = 300") == [(0,)]
    into_sqlite = invoke("copy", str(mlruns), sqlite_uri(tmp_path / "dst.db"), "-q")
    assert into_sqlite.returncode == 0, show(into_sqlite)
    assert query(sqlite_uri(tmp_path / "dst.db"), "SELECT name FROM experiments WHERE name = :n", {"n": name})


def test_a_nul_character_for_postgresql_names_the_run_and_key(tmp_path: Path, postgres_db: str) -> None:
    """PostgreSQL's text holds no NUL; a tag value with one is refused while reading, naming the
    table, run and key (it was the driver's 'invalid byte sequence', naming only the unit), and
    --on-error skip leaves its unit out. SQLite keeps the value as it is."""
    from mlflow import MlflowClient

    mlruns = tmp_path / "nul" / "mlruns"
    client = MlflowClient(tracking_uri=mlruns.as_uri())
    experiment = client.create_experiment("nul")
    run = client.create_run(experiment).info.run_id
    client.set_tag(run, "with-nul", "placeholder")
    (mlruns / experiment / run / "tags" / "with-nul").write_text("a\x00b")

    result = invoke("copy", str(mlruns), postgres_db, "-q")

    assert result.returncode == 1, show(result)
    message = squash(result.stderr)
    assert "tags.value" in message and run in message and "with-nul" in message, show(result)
    assert "NUL" in message, show(result)
    skipped = invoke("copy", str(mlruns), postgres_db, "-q", "--on-error", "skip")
    assert squash(f"run {run} left out") in squash(skipped.stderr), show(skipped)
    assert query(postgres_db, "SELECT count(*) FROM runs") == [(0,)]
    into_sqlite = invoke("copy", str(mlruns), sqlite_uri(tmp_path / "dst.db"), "-q")
    assert into_sqlite.returncode == 0, show(into_sqlite)
    kept = query(sqlite_uri(tmp_path / "dst.db"), "SELECT value FROM tags WHERE key = 'with-nul'")
    assert kept == [("a\x00b",)]
