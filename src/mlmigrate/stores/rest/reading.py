"""Reading a tracking server's experiments and registered models into the canonical tables.

Runs come from paged ``runs/search`` (their params, tags, latest metrics and dataset inputs
with them); metric histories from the bulk endpoint (one call per metric key and 100 runs),
paged ``metrics/get-history`` where a history may be longer than one bulk answer holds or
the server has no bulk endpoint. History calls run concurrently.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.rest import keys, logged_models, traces
from mlmigrate.stores.rest.client import RestClient, number
from mlmigrate.tables import TABLES, batch_from_columns

#: runs per ``runs/search`` page (MLflow's limit is 50,000)
RUN_PAGE = 5000
#: points one bulk history answer holds at most, and runs one call may name
BULK_POINTS, BULK_RUNS = 25000, 100
#: concurrent history calls
HISTORY_WORKERS = 8
#: registered models and model versions per page
MODEL_PAGE, VERSION_PAGE = 1000, 10000
#: the workspace of every row read over REST (the server's default one)
WORKSPACE = "default"


def pages(client: RestClient, method: str, endpoint: str, body: dict[str, Any], field: str) -> list[Any]:
    """Every item of a paged search: ``field`` of each answer, following ``next_page_token``."""
    found: list[Any] = []
    token = None
    while True:
        request = dict(body, **({"page_token": token} if token else {}))
        answer = client.get(endpoint, request) if method == "GET" else client.post(endpoint, request)
        found += answer.get(field, [])
        token = answer.get("next_page_token")
        if not token:
            return found


def experiments(client: RestClient) -> list[dict[str, Any]]:
    """Every experiment of the server, deleted ones too."""
    body = {"max_results": 1000, "view_type": "ALL"}
    return pages(client, "POST", "experiments/search", body, "experiments")


def planned_id(experiment: dict[str, Any]) -> str:
    """The id a migration gave the experiment (its tag), else the server's id."""
    return keys.tag_map(experiment.get("tags")).get(keys.EXPERIMENT_KEY) or str(experiment["experiment_id"])


def find_experiment(client: RestClient, experiment_id: str) -> dict[str, Any] | None:
    """The experiment a migration planned as ``experiment_id``, else the server's of that id."""
    body = {
        "max_results": 10,
        "view_type": "ALL",
        "filter": f"tags.`{keys.EXPERIMENT_KEY}` = '{experiment_id}'",
    }
    tagged = client.post("experiments/search", body).get("experiments", [])
    if tagged:
        return dict(tagged[0])
    answer = client.call("GET", "experiments/get", params={"experiment_id": experiment_id}, missing_ok=True)
    if not answer or "experiment" not in answer:
        return None
    found = dict(answer["experiment"])
    return found if planned_id(found) == experiment_id else None


def runs_of(client: RestClient, server_experiment_id: str) -> list[dict[str, Any]]:
    """Every run of an experiment, deleted ones too."""
    body = {"experiment_ids": [server_experiment_id], "run_view_type": "ALL", "max_results": RUN_PAGE}
    return pages(client, "POST", "runs/search", body, "runs")


def source_run_id(run: dict[str, Any]) -> str:
    """The run's id in the source it was copied from (its tag), else its own."""
    tags = keys.tag_map(run.get("data", {}).get("tags"))
    return tags.get(keys.RUN_KEY) or run["info"]["run_id"]


def histories(client: RestClient, wanted: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Full metric histories: metric key -> its points (with ``run_id``) of the runs in ``wanted[key]``."""
    calls = [
        (key, runs[i : i + BULK_RUNS]) for key, runs in wanted.items() for i in range(0, len(runs), BULK_RUNS)
    ]
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not calls:
        return found
    with ThreadPoolExecutor(min(HISTORY_WORKERS, len(calls))) as pool:
        for key, points in pool.map(lambda call: (call[0], _history(client, *call)), calls):
            found[key] += points
    return found


def _history(client: RestClient, key: str, run_ids: list[str]) -> list[dict[str, Any]]:
    params = [("run_id", run) for run in run_ids] + [("metric_key", key), ("max_results", BULK_POINTS)]
    answer = client.call(
        "GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk", params=params, missing_ok=True
    )
    if answer is not None:
        points = answer.get("metrics", [])
        if len(points) < BULK_POINTS:
            return list(points)
    # no bulk endpoint, or a full answer that may have been cut: page each run's history
    found: list[dict[str, Any]] = []
    for run in run_ids:
        for point in pages(
            client,
            "GET",
            "metrics/get-history",
            {"run_id": run, "metric_key": key, "max_results": BULK_POINTS},
            "metrics",
        ):
            found.append(dict(point, run_id=run))
    return found


class _Columns:
    """Rows of the canonical tables gathered as columns."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[Any]]] = {}

    def add(self, table: str, row: dict[str, Any]) -> None:
        columns = self.tables.setdefault(table, {name: [] for name in TABLES[table].columns})
        for name, values in columns.items():
            values.append(row.get(name))

    def batches(self, order: Iterable[str]) -> BatchStream:
        for table in order:
            columns = self.tables.get(table)
            if columns and columns[TABLES[table].columns[0]]:
                yield table, batch_from_columns(table, columns)


def _metric_row(point: dict[str, Any], run_id: str) -> dict[str, Any]:
    value = number(point.get("value", 0.0))
    nan = math.isnan(value)
    return {
        "key": point["key"],
        "value": 0.0 if nan else value,
        "is_nan": nan,
        "timestamp": int(point.get("timestamp", 0)),
        "step": int(point.get("step", 0)),
        "run_uuid": run_id,
    }


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def read_experiment(
    client: RestClient, experiment: dict[str, Any], *, leave_out: frozenset[str]
) -> BatchStream:
    """The canonical rows of one experiment of the server and everything under it."""
    rows = _Columns()
    experiment_id = int(planned_id(experiment))
    tags = keys.tag_map(experiment.get("tags"))
    kept = keys.decode(tags)
    rows.add(
        "experiments",
        {
            "experiment_id": experiment_id,
            "name": experiment["name"],
            "artifact_location": experiment.get("artifact_location"),
            "lifecycle_stage": experiment.get("lifecycle_stage", "active"),
            "creation_time": _int(experiment.get("creation_time")),
            "last_update_time": _int(experiment.get("last_update_time")),
            "workspace": WORKSPACE,
        }
        | kept.get("experiment", {}),
    )
    for key, value in sorted(tags.items()):
        if not keys.is_bookkeeping(key):
            rows.add("experiment_tags", {"key": key, "value": value, "experiment_id": experiment_id})
    datasets: dict[tuple[str, str], dict[str, Any]] = {}
    for row in kept.get("datasets", []):
        datasets[(row["name"], row["digest"])] = dict(row, experiment_id=experiment_id)
    runs = [
        run
        for run in runs_of(client, str(experiment["experiment_id"]))
        if source_run_id(run) not in leave_out
    ]
    by_server_id = {run["info"]["run_id"]: source_run_id(run) for run in runs}
    wanted: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        _read_run(rows, run, experiment_id, datasets)
        for metric in run.get("data", {}).get("metrics", []):
            wanted[metric["key"]].append(run["info"]["run_id"])
    for _key, points in histories(client, wanted).items():
        for point in points:
            rows.add("metrics", _metric_row(point, by_server_id[point["run_id"]]))
    for row in datasets.values():
        rows.add("datasets", row)
    deleted = logged_models.deleted_ids(tags)
    for model in logged_models.server_models(client, str(experiment["experiment_id"]), deleted):
        is_deleted = str(model.get("info", {}).get("model_id")) in deleted
        found = logged_models.model_rows(model, experiment_id, lambda r: by_server_id.get(r, r), is_deleted)
        for table, table_rows in found.items():
            for row in table_rows:
                rows.add(table, row)
    for table, table_rows in traces.read_traces(
        client, str(experiment["experiment_id"]), experiment_id
    ).items():
        for row in table_rows:
            rows.add(table, row)
    order = ["experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics"]
    yield from rows.batches(
        [*order, "datasets", "inputs", "input_tags", *logged_models.TABLES, *traces.TABLES]
    )


def _read_run(
    rows: _Columns, run: dict[str, Any], experiment_id: int, datasets: dict[tuple[str, str], dict[str, Any]]
) -> None:
    info, data = run["info"], run.get("data", {})
    run_id = source_run_id(run)
    tags = keys.tag_map(data.get("tags"))
    kept = keys.decode(tags)
    rows.add(
        "runs",
        {
            "run_uuid": run_id,
            "name": info.get("run_name"),
            "source_type": "UNKNOWN",
            "source_name": "",
            "entry_point_name": "",
            "user_id": info.get("user_id"),
            "status": info.get("status"),
            "start_time": _int(info.get("start_time")),
            "end_time": _int(info.get("end_time")),
            "source_version": "",
            "lifecycle_stage": info.get("lifecycle_stage", "active"),
            "artifact_uri": info.get("artifact_uri"),
            "experiment_id": experiment_id,
            "deleted_time": None,
        }
        | kept.get("run", {}),
    )
    for param in data.get("params", []):
        rows.add("params", {"key": param["key"], "value": param.get("value", ""), "run_uuid": run_id})
    for key, value in tags.items():
        if not keys.is_bookkeeping(key):
            rows.add("tags", {"key": key, "value": value, "run_uuid": run_id})
    # the source's latest points where the server's own rule picks another (see writing)
    overrides = {row["key"]: dict(row, run_uuid=run_id) for row in kept.get("latest", [])}
    for metric in data.get("metrics", []):
        rows.add("latest_metrics", overrides.get(metric["key"]) or _metric_row(metric, run_id))
    known = {(entry[0], entry[1]): entry for entry in kept.get("inputs", [])}
    for dataset_input in run.get("inputs", {}).get("dataset_inputs", []):
        dataset = dataset_input["dataset"]
        name, digest = dataset["name"], dataset["digest"]
        entry = known.get((name, digest))
        dataset_uuid = (
            entry[3] if entry else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{experiment_id}/{name}/{digest}"))
        )
        input_uuid = entry[2] if entry else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{name}/{digest}"))
        datasets.setdefault(
            (name, digest),
            {
                "dataset_uuid": dataset_uuid,
                "experiment_id": experiment_id,
                "name": name,
                "digest": digest,
                "dataset_source_type": dataset.get("source_type"),
                "dataset_source": dataset.get("source"),
                "dataset_schema": dataset.get("schema"),
                "dataset_profile": dataset.get("profile"),
            },
        )
        rows.add(
            "inputs",
            {
                "input_uuid": input_uuid,
                "source_type": "DATASET",
                "source_id": datasets[(name, digest)]["dataset_uuid"],
                "destination_type": "RUN",
                "destination_id": run_id,
                "step": entry[4] if entry else 0,
            },
        )
        for tag in dataset_input.get("tags", []):
            rows.add(
                "input_tags", {"input_uuid": input_uuid, "name": tag["key"], "value": tag.get("value", "")}
            )
    for model_input in run.get("inputs", {}).get("model_inputs", []):
        model_id = model_input["model_id"]
        input_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/input/{model_id}"))
        rows.add(
            "inputs",
            dict(
                zip(
                    _INPUT_COLUMNS, (input_uuid, "RUN_INPUT", run_id, "MODEL_INPUT", model_id, 0), strict=True
                )
            ),
        )
    for output in run.get("outputs", {}).get("model_outputs", []):
        model_id, step = output["model_id"], int(output.get("step", 0))
        input_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/output/{model_id}"))
        rows.add(
            "inputs",
            dict(
                zip(
                    _INPUT_COLUMNS,
                    (input_uuid, "RUN_OUTPUT", run_id, "MODEL_OUTPUT", model_id, step),
                    strict=True,
                )
            ),
        )
    for row in kept.get("other_inputs", []):
        rows.add("inputs", row)
    for row in kept.get("other_input_tags", []):
        rows.add("input_tags", row)


_INPUT_COLUMNS = ("input_uuid", "source_type", "source_id", "destination_type", "destination_id", "step")


#: the filter that makes a registry search answer with prompts (MLflow leaves them out otherwise)
PROMPTS_FILTER = "tags.`mlflow.prompt.is_prompt` = 'true'"


def registered_models(client: RestClient) -> list[dict[str, Any]]:
    """Every registered model of the server, prompts too (a search leaves them out unless asked)."""
    found: list[dict[str, Any]] = []
    for extra in ({}, {"filter": PROMPTS_FILTER}):
        body = {"max_results": MODEL_PAGE, **extra}
        found += pages(client, "GET", "registered-models/search", body, "registered_models")
    return found


def is_prompt(model: dict[str, Any]) -> bool:
    """Whether a registered model is a prompt (its ``mlflow.prompt.is_prompt`` tag)."""
    return keys.tag_map(model.get("tags")).get("mlflow.prompt.is_prompt", "").lower() == "true"


def find_registered_model(client: RestClient, name: str) -> dict[str, Any] | None:
    """The registered model named ``name``, or None."""
    answer = client.call("GET", "registered-models/get", params={"name": name}, missing_ok=True)
    return None if not answer else dict(answer["registered_model"])


def versions_of(client: RestClient, name: str, *, prompt: bool = False) -> list[dict[str, Any]]:
    """Every (not deleted) version of a registered model (of a prompt: a search leaves its
    versions out unless asked)."""
    quoted = name.replace("'", "\\'")
    wanted = f"name = '{quoted}'" + (f" AND {PROMPTS_FILTER}" if prompt else "")
    body = {"filter": wanted, "max_results": VERSION_PAGE}
    return pages(client, "GET", "model-versions/search", body, "model_versions")


def read_registered_model(client: RestClient, model: dict[str, Any], run_ids: dict[str, str]) -> BatchStream:
    """The canonical rows of one registered model with its versions; ``run_ids`` maps the
    server's run ids to the source's (asked for each version's run)."""
    rows = _Columns()
    name = model["name"]
    tags = keys.tag_map(model.get("tags"))
    kept = keys.decode(tags)
    rows.add(
        "registered_models",
        {
            "name": name,
            "creation_time": _int(model.get("creation_timestamp")),
            "last_updated_time": _int(model.get("last_updated_timestamp")),
            # protobuf's JSON leaves out an empty string: MLflow's client reads it as ""
            "description": model.get("description", ""),
            "workspace": WORKSPACE,
        }
        | kept.get("model", {}),
    )
    for key, value in sorted(tags.items()):
        if not keys.is_bookkeeping(key):
            rows.add(
                "registered_model_tags", {"key": key, "value": value, "name": name, "workspace": WORKSPACE}
            )
    for version in versions_of(client, name, prompt=is_prompt(model)):
        number_ = int(version["version"])
        version_tags = keys.tag_map(version.get("tags"))
        run_id = version.get("run_id") or None
        row = {
            "name": name,
            "version": number_,
            "creation_time": _int(version.get("creation_timestamp")),
            "last_updated_time": _int(version.get("last_updated_timestamp")),
            "description": version.get("description"),
            "user_id": version.get("user_id", ""),
            "current_stage": version.get("current_stage"),
            "source": version.get("source"),
            "run_id": run_ids.get(run_id, run_id) if run_id else None,
            "status": version.get("status"),
            "status_message": version.get("status_message"),
            "run_link": version.get("run_link", ""),
            "storage_location": None,
            "workspace": WORKSPACE,
        }
        rows.add("model_versions", row | keys.decode(version_tags).get("version", {}))
        for key, value in sorted(version_tags.items()):
            if not keys.is_bookkeeping(key):
                rows.add(
                    "model_version_tags",
                    {"key": key, "value": value, "name": name, "version": number_, "workspace": WORKSPACE},
                )
    for row in kept.get("deleted_versions", []):
        rows.add("model_versions", row)
    for row in kept.get("deleted_version_tags", []):
        rows.add("model_version_tags", row)
    for alias in model.get("aliases", []):
        rows.add(
            "registered_model_aliases",
            {"alias": alias["alias"], "version": int(alias["version"]), "name": name, "workspace": WORKSPACE},
        )
    order = ["registered_models", "registered_model_tags", "model_versions", "model_version_tags"]
    yield from rows.batches([*order, "registered_model_aliases"])
