"""What is specific to MLflow tracking servers over REST (the contract suite covers the rest):
a server read into a database keeps the server's ids and times as MlflowClient sees them, a
flaky proxy (429s, dropped connections) is retried through to an exact copy, and refusals
(401, a login page, an unreachable host) say what is wrong with the password masked."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke, json_stdout, show, sqlite_uri
from contract.kinds import KINDS, tolerances
from mlflow_compare import compare_stores
from rest_proxy import Behaviour, misbehaving_proxy
from servers import free_port

import mlmigrate
from mlmigrate.stores.rest.store import HELD

FILESTORE = next(kind for kind in KINDS if kind.name == "filestore")
REST = next(kind for kind in KINDS if kind.name == "rest")
#: what MlflowClient reads that the REST store does not read yet (docs/rest.md): logged models
#: (and the runs' model inputs and outputs, which MLflow shows only with their model) and traces
NOT_READ = ("trace ", "model_inputs", "model_outputs")
#: MlflowClient over REST shows a logged model's NULL field as '' (protobuf's JSON leaves it out);
#: mlmigrate reads it as the NULL the server's database holds
REST_RENDERING = "source '' != destination None"


@pytest.fixture
def served_edge(mlflow_rest_server: Any, edge_store: Path, tmp_path: Path) -> str:
    """The session server holding the edge store, written into its database directly (the
    server's own ids and times, no mlmigrate tags)."""
    url = mlflow_rest_server.reset()
    report = mlmigrate.copy(str(edge_store), sqlite_uri(mlflow_rest_server.database), state_dir=tmp_path)
    assert report.as_dict()["verify"]["ok"]
    # MLflow's server answers logged-models/search with a 500 for a NaN logged-model metric its
    # SQLite holds as NULL (an MLflow bug, named by mlmigrate's error): not served
    with contextlib.closing(mlflow_rest_server.connect()) as connection, connection:
        connection.execute("DELETE FROM logged_model_metrics WHERE metric_value IS NULL")
    return str(url)


def test_a_server_read_into_a_database_keeps_its_ids_and_times(
    served_edge: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = sqlite_uri(tmp_path / "from-server.db")
    # no retries of MLflow's client for minutes should its server answer with a 500
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    report = mlmigrate.copy(served_edge, database, state_dir=tmp_path / "state").as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report
    differences = compare_stores(served_edge, database, tolerate=tolerances(database))
    assert [d for d in differences if not any(word in d for word in (*NOT_READ, REST_RENDERING))] == []
    assert report["tables"]["logged_models"]["written"] >= 4, report["tables"]
    assert report["rows_written"] > 1000


def _run_ids(mlruns: Path) -> list[str]:
    return [meta.parent.name for meta in mlruns.glob("*/*/meta.yaml") if len(meta.parent.name) == 32]


def test_a_flaky_proxy_is_retried_to_an_exact_copy(
    mlflow_rest_server: Any, minimal_store: Path, tmp_path: Path
) -> None:
    url = mlflow_rest_server.reset()
    flaky = Behaviour(every=4, answer=429)

    with misbehaving_proxy(url, flaky) as proxy:
        first = invoke("copy", str(minimal_store), proxy, "--json", "--state-dir", str(tmp_path))
        flaky.drop, flaky.every = True, 5  # now dropped connections
        again = invoke("verify", str(minimal_store), proxy, "--state-dir", str(tmp_path))

    assert first.returncode == 0 and json_stdout(first)["verify"]["ok"], show(first)
    assert again.returncode == 0, show(again)
    assert flaky.answered >= 5
    assert REST.counts(url) == FILESTORE.counts(str(minimal_store))
    # the ids the server gave the runs, beside the journal, one per source run
    assigned = json.loads(Path(json_stdout(first)["assigned_ids_file"]).read_text())
    assert len(assigned["runs"]) == 2 and set(assigned["runs"]) == set(_run_ids(minimal_store))


@pytest.mark.parametrize(
    ("behaviour", "said"),
    [
        (Behaviour(always=401), "MLFLOW_TRACKING_TOKEN"),
        (Behaviour(always=403), "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
        (Behaviour(always=200, html=True), "a login page?"),
    ],
    ids=["401", "403", "html-login-page"],
)
def test_a_refusing_server_is_named_with_the_password_masked(
    mlflow_rest_server: Any, behaviour: Behaviour, said: str
) -> None:
    with misbehaving_proxy(mlflow_rest_server.url, behaviour) as proxy:
        secret = proxy.replace("http://", "http://alice:s3cret-pw@")
        result = invoke("plan", secret)

    assert result.returncode == 1, show(result)
    assert said in result.stderr and "alice:***@" in result.stderr, show(result)
    assert "s3cret-pw" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_server_is_named() -> None:
    result = invoke("plan", f"http://bob:hunter22@127.0.0.1:{free_port()}")

    assert result.returncode == 1 and "cannot be reached" in result.stderr, show(result)
    assert "hunter22" not in result.stderr


def test_the_capabilities_declare_what_the_api_cannot_hold() -> None:
    from mlmigrate.stores import open_store

    store = open_store("http://127.0.0.1:9")
    capabilities = store.capabilities
    assert not capabilities.holds_infinity and not capabilities.merge and not capabilities.rollback
    assert capabilities.tables == HELD and {"runs", "logged_models", "trace_info", "assessments"} <= HELD


def test_the_latest_points_the_servers_rule_would_not_pick_are_kept() -> None:
    from mlmigrate.stores.rest.writing import unlike_the_servers

    def point(key: str, value: float, step: int, *, nan: bool = False) -> dict[str, Any]:
        return {"key": key, "value": value, "timestamp": 7, "step": step, "is_nan": nan}

    points = [
        point("tie", 0.0, 2, nan=True),
        point("tie", 1.0, 2),
        point("plain", 1.0, 1),
        point("plain", 3.0, 2),
    ]
    latest = [point("tie", 0.0, 2, nan=True), point("plain", 3.0, 2)]

    # the server picks 1.0 over the NaN (NaN as 0); the plain history's latest is its own pick
    assert unlike_the_servers(latest, points) == [point("tie", 0.0, 2, nan=True)]
