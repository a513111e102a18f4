"""Fixtures of the artifact tests: object store servers and a FileStore with real artifacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import session_server
from servers_artifacts import AzureServer, S3Server, start_azurite, start_gcs, start_moto


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server (``endpoint``, ``env()``, ``client()``)."""
    yield from session_server(start_moto, "moto S3 server")


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[str]:
    """The GCS emulator's endpoint (set ``STORAGE_EMULATOR_HOST`` to it)."""
    yield from session_server(start_gcs, "GCS emulator")


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzureServer]:
    """Azurite (``endpoint``, ``connection_string``)."""
    yield from session_server(start_azurite, "Azurite")


@pytest.fixture(scope="session")
def artifact_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A FileStore with run, logged-model, model-version and trace artifacts (read-only)."""
    from artifact_store import make_artifact_store

    root = tmp_path_factory.mktemp("artifact-store")
    previous = Path.cwd()
    os.chdir(root)
    try:
        return make_artifact_store(root)
    finally:
        os.chdir(previous)
