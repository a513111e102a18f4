"""MongoDB faults: Cosmos DB throttling (error 16500) is retried without duplicates, and a copy
SIGKILLed mid-way resumes to an exact, duplicate-free copy."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pymongo
import pytest
from cli_helpers import invoke, show
from contract.kinds import tolerances
from mlflow_compare import compare_stores
from test_resume import COUNTED_TABLES, _copy_and_kill_after, _journal_rows, generated, journal  # noqa: F401
from throttling_proxy import Throttle, throttling_proxy

import mlmigrate
from mlmigrate.exceptions import TransientStoreError
from mlmigrate.stores.mongodb.retry import RetryPolicy, WriteStats, write_in_batches

#: canonical table -> (collection, query) counting the same thing in MongoDB
MONGO_COUNTS = {
    "experiments": ("experiments", {}),
    "runs": ("runs", {}),
    "metrics": ("run_metrics", {"mlmigrate.history": {"$ne": False}}),
    "model_versions": ("model_versions", {}),
}


def _database(uri: str) -> Any:
    return pymongo.MongoClient(uri).get_default_database()


def test_throttled_inserts_are_retried_after_the_hint_in_smaller_batches(secantus_server: Any) -> None:
    throttle = Throttle(whole=2, partial=2, retry_after_ms=15)
    documents = [{"n": n} for n in range(40)]
    with throttling_proxy(secantus_server.port, throttle) as port:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/throttled?directConnection=true")
        collection = client.get_default_database()["points"]
        stats = WriteStats()
        slept: list[float] = []
        write_in_batches(
            lambda part: collection.insert_many(part, ordered=False),
            documents,
            batch_size=16,
            policy=RetryPolicy(),
            stats=stats,
            sleep=slept.append,
            stored=lambda document: collection.find_one({"_id": document["_id"]}) is not None,
        )
        stored = sorted(d["n"] for d in collection.find({}, {"_id": 0}))
        client.close()

    assert throttle.injected == ["whole", "whole", "partial", "partial"]
    assert stored == list(range(40)), "every document once: none lost, none doubled"
    assert slept == [0.015] * 4, "the server's RetryAfterMs is honoured"
    assert stats.retries == 4 and stats.batch_size == 1  # halved after each throttle


def test_throttling_that_never_ends_is_a_transient_error(secantus_server: Any) -> None:
    throttle = Throttle(whole=100)
    with throttling_proxy(secantus_server.port, throttle) as port:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/throttled2?directConnection=true")
        collection = client.get_default_database()["points"]
        with pytest.raises(TransientStoreError, match="16500"):
            write_in_batches(
                lambda part: collection.insert_many(part, ordered=False),
                [{"n": 1}],
                batch_size=10,
                policy=RetryPolicy(attempts=3),
                sleep=lambda _: None,
            )
        client.close()


def test_a_copy_through_a_throttling_server_is_exact(minimal_store: Path, secantus_server: Any) -> None:
    throttle = Throttle(whole=3, partial=3, retry_after_ms=5)
    with throttling_proxy(secantus_server.port, throttle) as port:
        destination = f"mongodb://127.0.0.1:{port}/throttled_copy?directConnection=true"
        report = mlmigrate.copy(str(minimal_store), destination, batch_size=4).as_dict()
        assert len(throttle.injected) == 6
        assert report["status"] == "done", report
        assert report["verify"]["ok"], report["verify"]
        assert compare_stores(minimal_store.as_uri(), destination, tolerate=tolerances(destination)) == []


def test_sigkilled_copy_into_mongodb_resumes_without_duplicates(
    generated: tuple[Path, dict[str, int]],  # noqa: F811
    secantus_server: Any,
    tmp_path: Path,
    journal: Path,  # noqa: F811
) -> None:
    source, counts = generated
    destination = secantus_server.uri()

    done = _copy_and_kill_after(
        [str(source), destination, "-q", "--batch-size", "50"], journal, 5, tmp_path / "log", signal.SIGKILL
    )
    assert 5 <= done < 17, "the kill must land mid-copy"

    resumed = invoke("copy", str(source), destination)  # verifies every unit at the end
    assert resumed.returncode == 0, show(resumed)
    assert "resuming migration" in resumed.stderr, show(resumed)
    assert "verify: equal" in resumed.stderr, show(resumed)
    assert dict(_journal_rows(journal, "SELECT state, count(*) FROM units GROUP BY state")) == {"done": 17}

    database = _database(destination)
    for table, (collection, query) in MONGO_COUNTS.items():
        assert database[collection].count_documents(query) == counts[table], table
    points = list(
        database["run_metrics"].find({}, {"_id": 0, "run_id": 1, "k": 1, "timestamp": 1, "step": 1, "v": 1})
    )
    assert len({tuple(sorted(p.items())) for p in points}) == len(points), "a metric point was doubled"
    assert set(COUNTED_TABLES) >= set(MONGO_COUNTS)


def test_a_copy_that_stays_throttled_fails_with_errors_per_table_then_resumes(
    minimal_store: Path, secantus_server: Any
) -> None:
    from mlmigrate.exceptions import MigrationError

    throttle = Throttle(whole=10_000, retry_after_ms=1)
    with throttling_proxy(secantus_server.port, throttle) as port:
        destination = f"mongodb://127.0.0.1:{port}/stays_throttled?directConnection=true"
        with pytest.raises(MigrationError, match="throttl") as failed:
            mlmigrate.copy(str(minimal_store), destination, workers=1, retry_window=1)
        report = failed.value.report
        assert report is not None and report["failed_units"], report
        errors = {name: stats["errors"] for name, stats in report["tables"].items() if stats["errors"]}
        assert errors.get("experiments", 0) >= 1, report["tables"]
        assert all(stats["written"] == 0 for stats in report["tables"].values())

        throttle.whole = 0  # the rate limit is lifted: the same command resumes
        resumed = mlmigrate.copy(str(minimal_store), destination).as_dict()
        assert resumed["status"] == "done" and resumed["verify"]["ok"], resumed
        assert all(stats["errors"] == 0 for stats in resumed["tables"].values())
        assert compare_stores(minimal_store.as_uri(), destination, tolerate=tolerances(destination)) == []
