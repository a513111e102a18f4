"""Shared fixtures: isolated MLflow environment, a private PostgreSQL, and the edge-case store."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # lets test modules import servers, edge_store, mlflow_compare
    sys.path.insert(0, str(TESTS_DIR))

# MLflow 3.17 refuses the FileStore without this; set before any mlflow import in a test module.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

from servers import PostgresServer, session_server, start_postgres  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_mlflow_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Run every test in its own cwd (MLflow drops ``./mlflow.db`` there) and state dir."""
    workdir = tmp_path_factory.mktemp("cwd")
    state_dir = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLMIGRATE_STATE_DIR", str(state_dir))
    # the SQLite schema template is cached per user; keep the suite's copy out of ~/.cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(workdir)
    yield workdir


@pytest.fixture(scope="session")
def postgres_server_handle() -> Iterator[PostgresServer]:
    """The running :class:`servers.PostgresServer`; skipped locally, fatal in CI, if it fails."""
    yield from session_server(start_postgres, "PostgreSQL")


@pytest.fixture(scope="session")
def postgres_server(postgres_server_handle: PostgresServer) -> dict[str, object]:
    """``{"url": "postgresql://postgres@127.0.0.1:PORT/postgres", "port": PORT}``."""
    return {"url": postgres_server_handle.url, "port": postgres_server_handle.port}


@pytest.fixture
def postgres_db(postgres_server_handle: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty database on the session server, dropped afterwards."""
    url = postgres_server_handle.create_database()
    yield url
    try:
        postgres_server_handle.drop_database(url)
    except Exception as exc:  # best effort: a leftover database dies with the server anyway
        print(f"could not drop {url}: {exc!r}", file=sys.stderr)


@pytest.fixture(scope="session")
def edge_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The edge-case FileStore (``.../mlruns``), built once per session. Treat as read-only."""
    from edge_store import make_edge_store

    root = tmp_path_factory.mktemp("edge-store")
    previous_cwd = Path.cwd()
    os.chdir(root)  # MLflow may create ./mlflow.db; keep it out of the repo
    try:
        return make_edge_store(root)
    finally:
        os.chdir(previous_cwd)


@pytest.fixture(scope="session")
def minimal_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small FileStore, built with ``MlflowClient`` once per session. Never written to:
    tests get copies (:func:`minimal_store`, :func:`other_minimal_store`)."""
    from edge_store import make_minimal_store

    return make_minimal_store(tmp_path_factory.mktemp("minimal-master"))


@pytest.fixture(scope="session")
def other_minimal_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second small FileStore: the same experiment and model names, other run ids."""
    from edge_store import make_minimal_store

    return make_minimal_store(tmp_path_factory.mktemp("other-minimal-master"))


@pytest.fixture
def minimal_store(minimal_master: Path, tmp_path: Path) -> Path:
    """A small FileStore (1 experiment, 2 runs, 1 registered model) private to the test: a
    file copy of the session's, relocated (``tmp_path/"minimal"/"mlruns"``)."""
    from edge_store import copy_store

    return copy_store(minimal_master, tmp_path / "minimal")


@pytest.fixture
def other_minimal_store(other_minimal_master: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`other_minimal_master` (``tmp_path/"other"/"mlruns"``)."""
    from edge_store import copy_store

    return copy_store(other_minimal_master, tmp_path / "other")


@pytest.fixture(scope="session")
def mariadb_server_handle() -> Iterator[Any]:
    """The running :class:`servers_mysql.MariaDbServer`; skipped locally, fatal in CI, if it fails."""
    from servers_mysql import start_mariadb

    yield from session_server(start_mariadb, "MariaDB")


@pytest.fixture
def mysql_db(mariadb_server_handle: Any) -> Iterator[str]:
    """URL (``mysql://root@127.0.0.1:PORT/name``) of a fresh, empty utf8mb4 database, dropped afterwards."""
    url = mariadb_server_handle.create_database()
    yield url
    try:
        mariadb_server_handle.drop_database(url)
    except Exception as exc:  # best effort
        print(f"could not drop {url}: {exc!r}", file=sys.stderr)


def _mongo_server(kind: str) -> Iterator[object]:
    from servers_mongo import start_mongo

    yield from session_server(lambda: start_mongo(kind), f"{kind} (MongoDB wire protocol)")


@pytest.fixture(scope="session")
def secantus_server() -> Iterator[object]:
    """A running SecantusDB (:class:`servers_mongo.MongoServer`); ``.uri()`` names a fresh database."""
    yield from _mongo_server("secantus")


@pytest.fixture(scope="session")
def nx_server() -> Iterator[object]:
    """A running nx-27017 (:class:`servers_mongo.MongoServer`)."""
    yield from _mongo_server("nx")


@pytest.fixture(scope="session")
def mlflow_rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A running ``mlflow server`` on SQLite (:class:`servers_rest.MlflowServer`), shared by the session."""
    from servers import session_server
    from servers_rest import start_mlflow_server

    folder = tmp_path_factory.mktemp("mlflow-server")
    yield from session_server(lambda: start_mlflow_server(folder), "mlflow server")


from artifact_fixtures import artifact_store, azure_server, gcs_server, s3_server  # noqa: E402,F401
from small_disk import small_disk  # noqa: E402,F401
from tree_data import tree_bucket  # noqa: E402,F401
