"""PostgreSQL → MongoDB with the shape of a real MLflow server, next to a raw ``insert_many``.

    .venv/bin/python benchmarks/mongodb_benchmark.py [--batch-size 1000] [--json-out FILE]

Starts a private PostgreSQL 15 and a SecantusDB (MongoDB wire protocol, WiredTiger) on
free loopback ports (the test suite's fixtures), loads this shape straight into MLflow's
PostgreSQL schema (mlmigrate's own bulk writer, untimed): 284 experiments, 6,018 runs,
57,350 metric points (6 keys per run), 71,003 params, 34,816 tags, 212 registered models,
1,169 versions, 4,756 traces and 20,472 trace metadata rows; about 232k rows with the
latest-metric rows. Then it times:

* ``mlmigrate.copy(postgresql, mongodb)`` with verification (the default) and without;
* ``raw insert_many``: the same documents (read back from the copy) inserted, unordered,
  into a fresh database that has the same indexes; the fastest pymongo can put them there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SHAPE = {
    "experiments": 284,
    "runs": 6018,
    "metrics": 57_350,
    "params": 71_003,
    "tags": 34_816,
    "registered_models": 212,
    "model_versions": 1169,
    "trace_info": 4756,
    "trace_request_metadata": 20_472,
}
METRIC_KEYS = 6
T0 = 1_700_000_000_000


def spread(total: int, parts: int, index: int) -> int:
    """The share of item ``index`` when ``total`` is spread evenly over ``parts``."""
    return total // parts + (1 if index < total % parts else 0)


def experiment_stream(index: int, first_run: int) -> tuple[list[tuple[str, Any]], int]:
    """The canonical batches of generated experiment ``index`` and how many runs it has."""
    from mlmigrate.tables import batch_from_columns

    exp_id = index + 1
    runs = spread(SHAPE["runs"], SHAPE["experiments"], index)
    run_ids = [f"{exp_id:08x}{r:024x}" for r in range(runs)]
    batches: list[tuple[str, Any]] = [
        (
            "experiments",
            batch_from_columns(
                "experiments",
                {
                    "experiment_id": [exp_id],
                    "name": [f"experiment-{exp_id:04d}"],
                    "artifact_location": [f"s3://bucket/mlflow/{exp_id}"],
                    "lifecycle_stage": ["active"],
                    "creation_time": [T0 + exp_id],
                    "last_update_time": [T0 + exp_id],
                    "workspace": ["default"],
                },
            ),
        )
    ]
    run_numbers = range(first_run, first_run + runs)
    batches.append(
        (
            "runs",
            batch_from_columns(
                "runs",
                {
                    "run_uuid": run_ids,
                    "name": [f"run-{n}" for n in run_numbers],
                    "source_type": ["UNKNOWN"] * runs,
                    "source_name": [""] * runs,
                    "entry_point_name": [""] * runs,
                    "user_id": ["alice"] * runs,
                    "status": ["FINISHED"] * runs,
                    "start_time": [T0 + n * 1000 for n in run_numbers],
                    "end_time": [T0 + n * 1000 + 500 for n in run_numbers],
                    "source_version": [""] * runs,
                    "lifecycle_stage": ["active"] * runs,
                    "artifact_uri": [f"s3://bucket/mlflow/{exp_id}/{r}/artifacts" for r in run_ids],
                    "experiment_id": [exp_id] * runs,
                },
            ),
        )
    )
    for table, key_prefix in (("params", "param"), ("tags", "tag")):
        rows: dict[str, list[Any]] = {"key": [], "value": [], "run_uuid": []}
        for offset, (number, run_id) in enumerate(zip(run_numbers, run_ids, strict=True)):
            count = spread(SHAPE[table], SHAPE["runs"], first_run + offset)
            rows["key"] += [f"{key_prefix}_{i}" for i in range(count)]
            rows["value"] += [f"value {number} {i}" for i in range(count)]
            rows["run_uuid"] += [run_id] * count
        batches.append((table, batch_from_columns(table, rows)))
    metrics: dict[str, list[Any]] = {
        n: [] for n in ("key", "value", "timestamp", "run_uuid", "step", "is_nan")
    }
    latest: dict[str, list[Any]] = {
        n: [] for n in ("key", "value", "timestamp", "step", "is_nan", "run_uuid")
    }
    for offset, run_id in enumerate(run_ids):
        points = spread(SHAPE["metrics"], SHAPE["runs"], first_run + offset)
        last: dict[str, tuple[float, int, int]] = {}
        for point in range(points):
            key = f"metric_{point % METRIC_KEYS}"
            step = point // METRIC_KEYS
            value = 1.0 / (1 + point)
            metrics["key"].append(key)
            metrics["value"].append(value)
            metrics["timestamp"].append(T0 + point)
            metrics["run_uuid"].append(run_id)
            metrics["step"].append(step)
            metrics["is_nan"].append(False)
            last[key] = (value, T0 + point, step)
        for key, (value, timestamp, step) in last.items():
            for name, item in zip(
                ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
                (key, value, timestamp, step, False, run_id),
                strict=True,
            ):
                latest[name].append(item)
    batches.append(("metrics", batch_from_columns("metrics", metrics)))
    batches.append(("latest_metrics", batch_from_columns("latest_metrics", latest)))
    traces = spread(SHAPE["trace_info"], SHAPE["experiments"], index)
    first_trace = sum(spread(SHAPE["trace_info"], SHAPE["experiments"], i) for i in range(index))
    trace_ids = [f"tr-{exp_id:08x}{t:024x}" for t in range(traces)]
    batches.append(
        (
            "trace_info",
            batch_from_columns(
                "trace_info",
                {
                    "request_id": trace_ids,
                    "experiment_id": [exp_id] * traces,
                    "timestamp_ms": [T0 + t for t in range(traces)],
                    "execution_time_ms": [120] * traces,
                    "status": ["OK"] * traces,
                    "request_preview": ['{"question": "why?"}'] * traces,
                    "response_preview": ['{"answer": "because"}'] * traces,
                },
            ),
        )
    )
    metadata: dict[str, list[Any]] = {"key": [], "value": [], "request_id": []}
    for offset, trace_id in enumerate(trace_ids):
        count = spread(SHAPE["trace_request_metadata"], SHAPE["trace_info"], first_trace + offset)
        metadata["key"] += [f"meta.{i}" for i in range(count)]
        metadata["value"] += [f"v{i}" for i in range(count)]
        metadata["request_id"] += [trace_id] * count
    batches.append(("trace_request_metadata", batch_from_columns("trace_request_metadata", metadata)))
    return batches, runs


def model_stream(index: int, run_ids: list[str]) -> list[tuple[str, Any]]:
    """The canonical batches of generated registered model ``index``."""
    from mlmigrate.tables import batch_from_columns

    name = f"model-{index:04d}"
    versions = spread(SHAPE["model_versions"], SHAPE["registered_models"], index)
    return [
        (
            "registered_models",
            batch_from_columns(
                "registered_models",
                {"name": [name], "creation_time": [T0], "last_updated_time": [T0], "workspace": ["default"]},
            ),
        ),
        (
            "model_versions",
            batch_from_columns(
                "model_versions",
                {
                    "name": [name] * versions,
                    "version": list(range(1, versions + 1)),
                    "creation_time": [T0 + v for v in range(versions)],
                    "last_updated_time": [T0 + v for v in range(versions)],
                    "current_stage": ["None"] * versions,
                    "source": [f"models:/m-{index}-{v}" for v in range(versions)],
                    "run_id": [run_ids[(index * 7 + v) % len(run_ids)] for v in range(versions)],
                    "status": ["READY"] * versions,
                    "workspace": ["default"] * versions,
                },
            ),
        ),
    ]


def load_postgres(url: str) -> int:
    """Write the shape into MLflow's schema on ``url``; return the number of rows."""
    from mlmigrate.stores import open_store
    from mlmigrate.stores.base import Unit

    store = open_store(url)
    total = 0
    run_ids: list[str] = []
    try:
        store.prepare()
        first_run = 0
        for index in range(SHAPE["experiments"]):
            batches, runs = experiment_stream(index, first_run)
            first_run += runs
            run_ids += dict(batches)["runs"].column("run_uuid").to_pylist()
            written = store.write_unit(Unit("experiment", str(index + 1)), str(index + 1), iter(batches))
            total += sum(written.values())
        for index in range(SHAPE["registered_models"]):
            name = f"model-{index:04d}"
            written = store.write_unit(
                Unit("registered_model", name), name, iter(model_stream(index, run_ids))
            )
            total += sum(written.values())
        store.finish()
    finally:
        store.close()
    return total


def raw_insert_many(mongo: Any, source_db: str, target_db: str) -> tuple[float, int]:
    """Insert every document of ``source_db`` into an empty ``target_db`` with the same
    indexes, unordered, timed; return (seconds, documents)."""
    from mlmigrate.stores.mongodb.layout import INDEXES

    documents = {
        name: list(mongo[source_db][name].find()) for name in mongo[source_db].list_collection_names()
    }
    target = mongo[target_db]
    for collection, indexes in INDEXES.items():
        for name, keys, unique in indexes:
            target[collection].create_index(keys, name=name, unique=unique)
    started = time.perf_counter()
    for name, docs in documents.items():
        if docs:
            target[name].insert_many(docs, ordered=False)
    return time.perf_counter() - started, sum(len(d) for d in documents.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=1000, help="documents per insert")
    parser.add_argument("--json-out", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import pymongo
    from servers import start_postgres
    from servers_mongo import start_mongo

    import mlmigrate

    results: dict[str, Any] = {"shape": SHAPE, "batch_size": args.batch_size}
    with start_postgres() as postgres, start_mongo("secantus") as secantus:
        pg_url = postgres.create_database()
        started = time.perf_counter()
        results["rows"] = load_postgres(pg_url)
        results["load_postgres_seconds"] = round(time.perf_counter() - started, 2)
        state = Path(tempfile.mkdtemp(prefix="mm-bench-state-"))
        for label, verify in (("mlmigrate_copy", True), ("mlmigrate_copy_no_verify", False)):
            database = f"bench_{label}"
            started = time.perf_counter()
            report = mlmigrate.copy(
                pg_url, secantus.uri(database), state_dir=state, verify=verify, batch_size=args.batch_size
            ).as_dict()
            seconds = time.perf_counter() - started
            assert report["status"] == "done", report
            results[label] = {
                "seconds": round(seconds, 2),
                "rows": report["rows_written"],
                "rows_per_second": round(report["rows_written"] / seconds),
                "verified": bool(report["verify"] and report["verify"]["ok"]),
            }
        client = pymongo.MongoClient(secantus.uri("admin"))
        seconds, documents = raw_insert_many(client, "bench_mlmigrate_copy", "bench_raw")
        client.close()
        results["raw_insert_many"] = {
            "seconds": round(seconds, 2),
            "documents": documents,
            "rows_per_second": round(results["rows"] / seconds),
        }
    for label in ("mlmigrate_copy", "mlmigrate_copy_no_verify"):
        results[label]["ratio_to_raw_insert_many"] = round(results[label]["seconds"] / seconds, 2)
    print(
        f"{results['rows']:,} rows ({documents:,} documents), batch size {args.batch_size}\n"
        f"  mlmigrate copy (verified):   {results['mlmigrate_copy']['seconds']:6.2f} s "
        f"{results['mlmigrate_copy']['rows_per_second']:>9,} rows/s  "
        f"{results['mlmigrate_copy']['ratio_to_raw_insert_many']}x raw\n"
        f"  mlmigrate copy (no verify):  {results['mlmigrate_copy_no_verify']['seconds']:6.2f} s "
        f"{results['mlmigrate_copy_no_verify']['rows_per_second']:>9,} rows/s  "
        f"{results['mlmigrate_copy_no_verify']['ratio_to_raw_insert_many']}x raw\n"
        f"  raw insert_many:             {seconds:6.2f} s "
        f"{results['raw_insert_many']['rows_per_second']:>9,} rows/s",
        file=sys.stderr,
    )
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
