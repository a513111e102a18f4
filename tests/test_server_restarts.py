"""A destination server that restarts during a copy: the units it interrupts are retried for
the retry window, and the copy ends complete and verified."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import query
from servers import PostgresServer, start_postgres

import mlmigrate
from mlmigrate.events import Event
from mlmigrate.exceptions import TransientStoreError

DOWNTIME = 5.0  # seconds the server is away: a PostgreSQL restart takes 2–10 s


@pytest.fixture
def private_server() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own: stopping it leaves the suite's server alone."""
    with start_postgres() as server:
        yield server


class RestartAfterFirstUnit:
    """A listener that stops the server once the first unit is done and starts it again
    ``DOWNTIME`` seconds later, while the copy goes on."""

    def __init__(self, server: PostgresServer):
        self.server = server
        self.restarted: threading.Thread | None = None
        self.messages: list[str] = []

    def __call__(self, event: Event) -> None:
        if event.kind == "message":
            self.messages.append(event.data["text"])
        if event.kind != "unit_done" or self.restarted is not None:
            return
        self.server.stop()  # in the writer's thread: the next unit meets the outage
        self.restarted = threading.Timer(DOWNTIME, self.server.start)
        self.restarted.start()


def _copy(
    store: Path, destination: str, state: Path, listener: RestartAfterFirstUnit, **options: object
) -> None:
    try:
        mlmigrate.copy(str(store), destination, state_dir=state, workers=1, listener=listener, **options)
    finally:
        if listener.restarted is not None:
            listener.restarted.join()


def test_a_destination_restart_during_the_copy_is_ridden_out(
    tmp_path: Path, minimal_store: Path, private_server: PostgresServer
) -> None:
    """Units that meet the outage are retried with a doubling back-off for the retry window
    (1 s + 2 s before: a 5 s restart failed the copy), and it ends verified, nothing doubled."""
    destination = private_server.create_database()
    listener = RestartAfterFirstUnit(private_server)

    _copy(minimal_store, destination, tmp_path / "state", listener)

    assert any("retrying in" in text for text in listener.messages), listener.messages
    assert mlmigrate.verify(str(minimal_store), destination, state_dir=tmp_path / "state").ok
    assert query(destination, "SELECT count(*) FROM runs") == [(2,)]


def test_a_retry_window_of_zero_fails_at_the_first_outage(
    tmp_path: Path, minimal_store: Path, private_server: PostgresServer
) -> None:
    """``retry_window=0`` does not retry: the copy stops with the transient error, resumable."""
    destination = private_server.create_database()
    listener = RestartAfterFirstUnit(private_server)

    with pytest.raises(TransientStoreError) as raised:
        _copy(minimal_store, destination, tmp_path / "state", listener, retry_window=0)

    assert raised.value.migration_id
    assert not listener.messages
    mlmigrate.copy(str(minimal_store), destination, state_dir=tmp_path / "state")
    assert mlmigrate.verify(str(minimal_store), destination, state_dir=tmp_path / "state").ok
