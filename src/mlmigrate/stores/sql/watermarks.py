"""A SQL unit's watermark, from one query per table over the whole database (no unit's rows
are read): the mutable rows' update times and states (experiments, runs, logged models,
traces, registered models and versions, and the tags, which carry no time, row by row), and
for the rows MLflow only ever adds (metrics, params, inputs …) their count and largest
timestamp per unit (metric points: their count per run, and the latest point of each key).

The tables outside experiments and
models are watermarked by their row counts.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy

from mlmigrate.global_tables import GLOBAL_UNIT_ID, global_tables
from mlmigrate.tables import EXPERIMENT, GLOBAL, REGISTERED_MODEL

_RUN = "JOIN runs r ON r.run_uuid = x.run_uuid"
_TRACE = "JOIN trace_info t ON t.request_id = x.request_id"

#: (unit kind, tables asked, query whose first column is the unit's id): every table of a unit
#: kind but ``metrics`` (:data:`METRIC_POINTS`) has one (a test checks it)
RULES: list[tuple[str, tuple[str, ...], str]] = [
    (
        EXPERIMENT,
        ("experiments",),
        "SELECT experiment_id, name, lifecycle_stage, last_update_time, artifact_location FROM experiments",
    ),
    (EXPERIMENT, ("experiment_tags",), "SELECT x.experiment_id, x.key, x.value FROM experiment_tags x"),
    (
        EXPERIMENT,
        ("runs",),
        "SELECT experiment_id, run_uuid, name, status, start_time, end_time, lifecycle_stage, "
        "artifact_uri FROM runs",
    ),
    (EXPERIMENT, ("tags", "runs"), f"SELECT r.experiment_id, x.run_uuid, x.key, x.value FROM tags x {_RUN}"),
    (
        EXPERIMENT,
        ("params", "runs"),
        f"SELECT r.experiment_id, COUNT(*) FROM params x {_RUN} GROUP BY r.experiment_id",
    ),
    (
        EXPERIMENT,
        ("latest_metrics", "runs"),
        "SELECT r.experiment_id, COUNT(*), MAX(x.timestamp), SUM(x.step) "
        f"FROM latest_metrics x {_RUN} GROUP BY r.experiment_id",
    ),
    (EXPERIMENT, ("datasets",), "SELECT experiment_id, COUNT(*) FROM datasets GROUP BY experiment_id"),
    (
        EXPERIMENT,
        ("inputs", "runs"),
        "SELECT s.experiment_id, COUNT(*) FROM (SELECT r.experiment_id FROM inputs x JOIN runs r "
        "ON r.run_uuid = x.destination_id UNION ALL SELECT r.experiment_id FROM inputs x JOIN runs r "
        "ON r.run_uuid = x.source_id) s GROUP BY s.experiment_id",
    ),
    (
        EXPERIMENT,
        ("input_tags", "inputs", "runs"),
        "SELECT s.experiment_id, COUNT(*) FROM (SELECT r.experiment_id FROM input_tags y JOIN inputs x "
        "ON x.input_uuid = y.input_uuid JOIN runs r ON r.run_uuid = x.destination_id UNION ALL "
        "SELECT r.experiment_id FROM input_tags y JOIN inputs x ON x.input_uuid = y.input_uuid "
        "JOIN runs r ON r.run_uuid = x.source_id) s GROUP BY s.experiment_id",
    ),
    (
        EXPERIMENT,
        ("logged_models",),
        "SELECT experiment_id, model_id, name, last_updated_timestamp_ms, status, lifecycle_stage "
        "FROM logged_models",
    ),
    (
        EXPERIMENT,
        ("logged_model_params",),
        "SELECT experiment_id, COUNT(*) FROM logged_model_params GROUP BY experiment_id",
    ),
    (
        EXPERIMENT,
        ("logged_model_tags",),
        "SELECT experiment_id, model_id, tag_key, tag_value FROM logged_model_tags",
    ),
    (
        EXPERIMENT,
        ("logged_model_metrics",),
        "SELECT experiment_id, COUNT(*), MAX(metric_timestamp_ms) FROM logged_model_metrics "
        "GROUP BY experiment_id",
    ),
    (
        EXPERIMENT,
        ("trace_info",),
        "SELECT experiment_id, request_id, status, execution_time_ms FROM trace_info",
    ),
    (
        EXPERIMENT,
        ("trace_tags", "trace_info"),
        f"SELECT t.experiment_id, x.key, x.value FROM trace_tags x {_TRACE}",
    ),
    (
        EXPERIMENT,
        ("trace_request_metadata", "trace_info"),
        f"SELECT t.experiment_id, COUNT(*) FROM trace_request_metadata x {_TRACE} GROUP BY t.experiment_id",
    ),
    (
        EXPERIMENT,
        ("assessments", "trace_info"),
        "SELECT t.experiment_id, COUNT(*), MAX(x.last_updated_timestamp) FROM assessments x "
        "JOIN trace_info t ON t.request_id = x.trace_id GROUP BY t.experiment_id",
    ),
    (
        REGISTERED_MODEL,
        ("registered_models",),
        "SELECT name, last_updated_time, description FROM registered_models",
    ),
    (
        REGISTERED_MODEL,
        ("registered_model_tags",),
        "SELECT x.name, x.key, x.value FROM registered_model_tags x",
    ),
    (
        REGISTERED_MODEL,
        ("model_versions",),
        "SELECT name, version, last_updated_time, current_stage, status, description, source, run_id "
        "FROM model_versions",
    ),
    (
        REGISTERED_MODEL,
        ("model_version_tags",),
        "SELECT x.name, x.version, x.key, x.value FROM model_version_tags x",
    ),
    (
        REGISTERED_MODEL,
        ("registered_model_aliases",),
        "SELECT name, alias, version FROM registered_model_aliases",
    ),
]

#: the metric points of each run, counted on MLflow's index of their run (an index-only scan:
#: MLflow only ever adds points, and the latest of each key is asked above)
METRIC_POINTS = "SELECT run_uuid, COUNT(*) FROM metrics GROUP BY run_uuid"
#: tables of a unit kind asked by :data:`METRIC_POINTS` rather than a rule
COUNTED_PER_RUN = frozenset({"metrics"})


def sql_watermarks(connection: sqlalchemy.Connection, present: Iterable[str]) -> dict[str, str]:
    """unit id -> fingerprint of every experiment, registered model and the global tables, from
    the database ``connection`` reaches (``present``: the tables it holds)."""
    tables = set(present)
    parts: dict[str, list[str]] = defaultdict(list)
    for position, (kind, needs, sql) in enumerate(RULES):
        if not set(needs) <= tables:
            continue  # an older schema revision: no such rows
        for row in connection.execute(sqlalchemy.text(sql)):
            parts[f"{kind}:{row[0]}"].append(f"{position}|{'|'.join(map(repr, row[1:]))}")
    if {"metrics", "runs"} <= tables:
        experiment_of = {
            run_uuid: experiment_id
            for run_uuid, experiment_id in connection.execute(
                sqlalchemy.text("SELECT run_uuid, experiment_id FROM runs")
            )
        }
        for run_uuid, points in connection.execute(sqlalchemy.text(METRIC_POINTS)):
            parts[f"{EXPERIMENT}:{experiment_of.get(run_uuid)}"].append(f"m|{run_uuid}|{points}")
    found = {unit_id: _fingerprint(rows) for unit_id, rows in parts.items()}
    counts = []
    quote = connection.dialect.identifier_preparer.quote
    for table in global_tables():
        if table in tables:
            rows = connection.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {quote(table)}")).scalar()
            counts.append(f"{table}={rows}")
    found[f"{GLOBAL}:{GLOBAL_UNIT_ID}"] = _fingerprint(counts)
    return found


def _fingerprint(rows: list[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for row in sorted(rows):
        digest.update(row.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()
