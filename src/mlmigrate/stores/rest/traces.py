"""Traces over REST: written with MLflow 3's ``POST /api/3.0/mlflow/traces`` (a trace keeps its
id, request time, duration, state, previews, tags and metadata), read back with
``/api/3.0/mlflow/traces/search``.

The server adds a ``mlflow.artifactLocation`` tag and metadata of its own, and derives token
and cost columns from the metadata; a trace's assessments are kept exactly only in mlmigrate's
tag. So each trace mlmigrate writes carries ``mlmigrate.row``: its canonical row, the source's
``mlflow.artifactLocation``, the metadata keys the source had, and its assessment rows.
Traces a server holds that mlmigrate did not write are not read (docs/rest.md).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.rest import keys
from mlmigrate.stores.rest.client import RestClient

#: the canonical tables of traces, parents first
TABLES = ("trace_info", "trace_tags", "trace_request_metadata", "assessments")
#: the tag the server sets itself on every trace it starts
ARTIFACT_TAG = "mlflow.artifactLocation"
#: the tag the server takes a trace's name from (its ``trace_name`` column)
NAME_TAG = "mlflow.traceName"
#: metadata the server turns into columns of its own and drops (MLflow's
#: ``PROMOTED_TRACE_METADATA_KEYS``): kept in the tag
PROMOTED = frozenset({"mlflow.trace.session", "mlflow.trace.tokenUsage", "mlflow.trace.cost"})
#: traces per search page
TRACE_PAGE = 500
#: the longest tag value the server takes
MAX_TAG_VALUE = 8000


def _location(server_experiment_id: str) -> dict[str, Any]:
    return {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": server_experiment_id}}


def _time(milliseconds: int | None) -> str:
    moment = datetime.datetime.fromtimestamp((milliseconds or 0) / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(milliseconds or 0) % 1000:03d}Z"


def write_traces(
    client: RestClient, server_experiment_id: str, rows: dict[str, list[dict[str, Any]]]
) -> None:
    """Start each of the unit's traces on the server (a trace it holds already takes the
    tags and metadata again, adding nothing)."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for table in TABLES[1:]:
        for row in rows.get(table, []):
            owner = row["trace_id"] if table == "assessments" else row["request_id"]
            grouped[owner][table].append(row)
    for trace in rows.get("trace_info", []):
        trace_id = trace["request_id"]
        parts = grouped[trace_id]
        tags = {row["key"]: row["value"] for row in parts["trace_tags"]}
        metadata = {row["key"]: row["value"] for row in parts["trace_request_metadata"]}
        name_tag = tags.pop(NAME_TAG, None)
        kept = keys.encode(
            {
                "name_tag": name_tag,
                "trace": {k: v for k, v in trace.items() if k != "experiment_id"},
                "artifact_location": tags.pop(ARTIFACT_TAG, None),
                "metadata_keys": sorted(metadata),
                "metadata": {k: v for k, v in metadata.items() if k in PROMOTED},
                "assessments": [
                    {k: v for k, v in a.items() if k != "experiment_id"} for a in parts["assessments"]
                ],
            }
        )
        if len(kept) > MAX_TAG_VALUE:
            raise StoreError(
                f"{client.display_uri}: trace {trace_id}: its row and assessments take {len(kept):,} "
                f"characters, more than a tag holds ({MAX_TAG_VALUE:,})"
            )
        info: dict[str, Any] = {
            "trace_id": trace_id,
            "trace_location": _location(server_experiment_id),
            "request_time": _time(trace.get("timestamp_ms")),
            "execution_duration": f"{(trace.get('execution_time_ms') or 0) / 1000:.3f}s",
            "state": trace.get("status") or "STATE_UNSPECIFIED",
            "trace_metadata": metadata,
            # the server takes the name from this tag (and holds it as its column only)
            "tags": tags
            | {keys.ROW: kept}
            | ({NAME_TAG: trace["trace_name"]} if trace.get("trace_name") else {}),
        }
        for name in ("request_preview", "response_preview", "client_request_id"):
            if trace.get(name) is not None:
                info[name] = trace[name]
        client.post("/api/3.0/mlflow/traces", {"trace": {"trace_info": info}})


def read_traces(
    client: RestClient, server_experiment_id: str, experiment_id: int
) -> dict[str, list[dict[str, Any]]]:
    """The canonical rows of the traces mlmigrate wrote into the experiment."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    token = None
    while True:
        body: dict[str, Any] = {"locations": [_location(server_experiment_id)], "max_results": TRACE_PAGE}
        if token:
            body["page_token"] = token
        answer = client.post("/api/3.0/mlflow/traces/search", body)
        for info in answer.get("traces", []):
            _add(found, info, experiment_id)
        token = answer.get("next_page_token")
        if not token:
            return found


def _add(found: dict[str, list[dict[str, Any]]], info: dict[str, Any], experiment_id: int) -> None:
    tags = dict(info.get("tags") or {})
    kept = keys.decode(tags)
    if "trace" not in kept:
        return  # not written by mlmigrate
    trace_id = kept["trace"]["request_id"]
    found["trace_info"].append(dict(kept["trace"], experiment_id=experiment_id))
    tags = {k: v for k, v in tags.items() if not keys.is_bookkeeping(k) and k not in (ARTIFACT_TAG, NAME_TAG)}
    for key, name in ((ARTIFACT_TAG, "artifact_location"), (NAME_TAG, "name_tag")):
        if kept.get(name) is not None:
            tags[key] = kept[name]
    for key, value in sorted(tags.items()):
        found["trace_tags"].append({"key": key, "value": value, "request_id": trace_id})
    metadata = (info.get("trace_metadata") or {}) | kept.get("metadata", {})
    for key in kept.get("metadata_keys", []):
        found["trace_request_metadata"].append(
            {"key": key, "value": metadata.get(key, ""), "request_id": trace_id}
        )
    for row in kept.get("assessments", []):
        found["assessments"].append(dict(row, experiment_id=experiment_id))
