"""Every ordered pair of MLflow SQL stores (SQLite, PostgreSQL, MySQL/MariaDB): the edge store,
first copied into the source kind, is copied again into the destination kind and read back
through the real MlflowClient with 0 differences (beyond each destination's documented mapping)."""

from __future__ import annotations

import contextlib
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri
from contract.kinds import tolerances
from mlflow_compare import compare_stores, normalize_uri

import mlmigrate

KINDS = ("sqlite", "postgresql", "mysql")


@pytest.fixture(scope="module")
def new_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """Make an empty database of a kind (module scope: the servers are shared)."""
    made: list[tuple[Any, str]] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return sqlite_uri(tmp_path_factory.mktemp("pairs") / "store.db")
        handle = request.getfixturevalue(
            "postgres_server_handle" if kind == "postgresql" else "mariadb_server_handle"
        )
        url = handle.create_database()
        made.append((handle, url))
        return url

    yield make
    for handle, url in made:
        handle.drop_database(url)


@pytest.fixture(scope="module")
def sources(
    edge_store: Path, new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The edge store copied once into a database of each kind (the pair sources)."""
    found = {}
    state = tmp_path_factory.mktemp("sources-state")  # module scope: no per-test state dir yet
    for kind in KINDS:
        uri = new_database(kind)
        report = mlmigrate.copy(str(edge_store), uri, read_in_processes=False, state_dir=state)
        assert report.status == "done", report.as_dict()
        found[kind] = uri
    return found


@pytest.mark.parametrize("destination_kind", KINDS)
@pytest.mark.parametrize("source_kind", KINDS)
def test_sql_pair_round_trips_through_mlflow(
    source_kind: str, destination_kind: str, sources: dict[str, str], new_database: Callable[[str], str]
) -> None:
    source = sources[source_kind]
    destination = new_database(destination_kind)

    report = mlmigrate.copy(source, destination).as_dict()

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    assert report["rows_written"] > 1000
    differences = compare_stores(source, destination, tolerate=tolerances(destination))
    assert differences == []


@contextlib.contextmanager
def _mlflow_server(backend_uri: str, workdir: Path) -> Iterator[str]:
    """A real ``mlflow server`` on ``backend_uri`` as a child process; yields its URL."""
    from servers import free_port, serve_process

    port, log = free_port(), workdir / "mlflow-server.log"
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", normalize_uri(backend_uri),
        "--default-artifact-root", (workdir / "artifacts").as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip

    def healthy() -> bool:
        urllib.request.urlopen(f"{url}/health", timeout=2).close()
        return True

    with serve_process(command, ready=healthy, what="mlflow server", log=log, timeout=120, cwd=workdir):
        yield url


def _runs_and_histories(client: Any, experiment_ids: list[str]) -> dict[str, Any]:
    runs = client.search_runs(experiment_ids, run_view_type=3, max_results=1000)
    found = {}
    for run in runs:
        histories = {
            key: sorted(
                (m.step, m.timestamp, repr(m.value)) for m in client.get_metric_history(run.info.run_id, key)
            )
            for key in run.data.metrics
        }
        found[run.info.run_id] = (
            run.info.to_proto().SerializeToString(deterministic=True),
            run.data.params,
            run.data.tags,
            {key: repr(value) for key, value in run.data.metrics.items()},  # NaN != NaN
            histories,
        )
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_mlflow_server_on_a_copied_database_answers_the_same_over_rest(
    kind: str, sources: dict[str, str], tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    database = sources[kind]
    direct = MlflowClient(tracking_uri=normalize_uri(database))
    experiment_ids = [e.experiment_id for e in direct.search_experiments(view_type=3)]
    expected = _runs_and_histories(direct, experiment_ids)
    assert len(expected) >= 5 and any(histories for *_, histories in expected.values())

    with _mlflow_server(database, tmp_path) as url:
        served = _runs_and_histories(MlflowClient(tracking_uri=url), experiment_ids)

    differing = [
        (run_id, part, served[run_id][part], want[part])
        for run_id, want in expected.items()
        for part in range(len(want))
        if served.get(run_id, (None,) * len(want))[part] != want[part]
    ]
    assert differing == []
