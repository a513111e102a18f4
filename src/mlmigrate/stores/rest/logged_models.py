"""Logged models over REST: read with ``logged-models/search``, written with the logged-models
endpoints (create with params and tags, finalize for the status, delete).

The server assigns a logged model's id, times and artifact location, and a metric reaches a
logged model only through a run's ``log-batch``, which would add the point to the run's own
history too. So each model mlmigrate writes carries ``mlmigrate.model_id`` (the source's id)
and ``mlmigrate.row`` (the values the API cannot set and the model's metric points) among its
tags; mlmigrate's reader puts them back. A search leaves deleted models out: the server ids of
the deleted ones mlmigrate wrote are kept in the experiment's ``mlmigrate.deleted_models`` tag.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.rest import keys
from mlmigrate.stores.rest.client import RestClient, ServerAnswerError, number

#: the experiment tag listing the server ids of the deleted logged models mlmigrate wrote
DELETED_MODELS = "mlmigrate.deleted_models"
#: the canonical tables of logged models, parents first
TABLES = ("logged_models", "logged_model_params", "logged_model_tags", "logged_model_metrics")
#: the logged model tag naming the source's model id
MODEL_KEY = "mlmigrate.model_id"
#: ``LoggedModelStatus`` of MLflow's protos, by name and number
STATUS_NUMBERS = {
    "LOGGED_MODEL_STATUS_UNSPECIFIED": 0,
    "LOGGED_MODEL_PENDING": 1,
    "LOGGED_MODEL_READY": 2,
    "LOGGED_MODEL_UPLOAD_FAILED": 3,
}
#: columns of a logged model the API cannot set, kept in its ``mlmigrate.row`` tag
MODEL_KEPT = (
    "artifact_location",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "status_message",
    "source_run_id",
)
#: models per ``logged-models/search`` page
MODEL_PAGE = 100
#: the longest tag value the server takes
MAX_TAG_VALUE = 8000


def _status(value: Any) -> int:
    return STATUS_NUMBERS.get(str(value), 0) if not isinstance(value, int) else value


def server_models(client: RestClient, server_experiment_id: str, deleted: list[str]) -> list[dict[str, Any]]:
    """The experiment's logged models: the active ones a search finds, and the deleted ones
    whose server ids are in ``deleted``."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        body: dict[str, Any] = {"experiment_ids": [server_experiment_id], "max_results": MODEL_PAGE}
        if token:
            body["page_token"] = token
        try:
            answer = client.post("logged-models/search", body)
        except StoreError as exc:
            raise StoreError(
                f"{client.display_uri}: the server cannot list the logged models of experiment "
                f"{server_experiment_id} ({exc}); MLflow's server on SQLite fails so for a logged model "
                "with a NaN metric (its database holds NULL): copy from the server's database instead, "
                "or leave the experiment out (--on-error skip)"
            ) from exc
        found += answer.get("models", [])
        token = answer.get("next_page_token")
        if not token:
            break
    for model_id in deleted:
        answer = client.call(
            "GET", f"logged-models/{model_id}", params={"allow_deleted": "true"}, missing_ok=True
        )
        if answer and "model" in answer:
            found.append(answer["model"])
    return found


def deleted_ids(experiment_tags: dict[str, str]) -> list[str]:
    """The server ids in an experiment's ``mlmigrate.deleted_models`` tag."""
    try:
        found = json.loads(experiment_tags.get(DELETED_MODELS) or "[]")
    except ValueError:
        return []
    return [str(model_id) for model_id in found] if isinstance(found, list) else []


def source_model_id(model: dict[str, Any]) -> str:
    """The model's id in the source it was copied from (its tag), else its own."""
    info = model.get("info", {})
    return keys.tag_map(info.get("tags")).get(MODEL_KEY) or str(info["model_id"])


def model_rows(
    model: dict[str, Any], experiment_id: int, run_ids: Callable[[str], str], deleted: bool
) -> dict[str, list[dict[str, Any]]]:
    """One server model as rows of the canonical logged-model tables; ``run_ids`` maps the
    server's run ids to the source's."""
    info, data = model.get("info", {}), model.get("data", {})
    tags = keys.tag_map(info.get("tags"))
    kept = keys.decode(tags)
    model_id = source_model_id(model)
    source_run = info.get("source_run_id") or None
    row = {
        "model_id": model_id,
        "experiment_id": experiment_id,
        "name": info.get("name"),
        "artifact_location": info.get("artifact_uri"),
        "creation_timestamp_ms": _int(info.get("creation_timestamp_ms")),
        "last_updated_timestamp_ms": _int(info.get("last_updated_timestamp_ms")),
        "status": _status(info.get("status")),
        "lifecycle_stage": "deleted" if deleted else "active",
        "model_type": info.get("model_type") or None,
        "source_run_id": run_ids(source_run) if source_run else None,
        "status_message": info.get("status_message") or None,
    } | kept.get("model", {})
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows["logged_models"].append(row)
    for param in data.get("params", []):
        rows["logged_model_params"].append(
            {
                "model_id": model_id,
                "experiment_id": experiment_id,
                "param_key": param["key"],
                "param_value": param.get("value", ""),
            }
        )
    for key, value in sorted(tags.items()):
        if not keys.is_bookkeeping(key):
            rows["logged_model_tags"].append(
                {"model_id": model_id, "experiment_id": experiment_id, "tag_key": key, "tag_value": value}
            )
    if "metrics" in kept:
        rows["logged_model_metrics"] += [
            dict(m, model_id=model_id, experiment_id=experiment_id)
            for m in restore_metric_values(kept["metrics"])
        ]
    else:
        for metric in data.get("metrics", []):
            run = metric.get("run_id") or None
            rows["logged_model_metrics"].append(
                {
                    "model_id": model_id,
                    "metric_name": metric["key"],
                    "metric_timestamp_ms": _int(metric.get("timestamp")) or 0,
                    "metric_step": _int(metric.get("step")) or 0,
                    "metric_value": number(metric.get("value", 0.0)),
                    "experiment_id": experiment_id,
                    "run_id": run_ids(run) if run else None,
                    "dataset_uuid": None,
                    "dataset_name": metric.get("dataset_name") or None,
                    "dataset_digest": metric.get("dataset_digest") or None,
                }
            )
    return rows


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _wire(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _unwire(value: Any) -> Any:
    return number(value) if value in ("NaN", "Infinity", "-Infinity") else value


class LoggedModelWriter:
    """Writes an experiment's logged models after its runs (a model names its source run)."""

    def __init__(self, client: RestClient, server_experiment_id: str, held_tags: dict[str, str]) -> None:
        self.client = client
        self.experiment_id = server_experiment_id
        self.held = {
            source_model_id(model): model
            for model in server_models(client, server_experiment_id, deleted_ids(held_tags))
        }

    def write(self, rows: dict[str, list[dict[str, Any]]], run_ids: Callable[[str], str | None]) -> list[str]:
        """Create (or find) each model with its params and tags, set its status, delete the
        deleted ones; the server ids of those deleted."""
        params: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows.get("logged_model_params", []):
            params[row["model_id"]].append({"key": row["param_key"], "value": row["param_value"]})
        tags: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows.get("logged_model_tags", []):
            tags[row["model_id"]].append({"key": row["tag_key"], "value": row["tag_value"]})
        metrics: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows.get("logged_model_metrics", []):
            metrics[row["model_id"]].append(
                {k: _wire(v) for k, v in row.items() if k not in ("model_id", "experiment_id")}
            )
        deleted: list[str] = []
        for model in rows.get("logged_models", []):
            model_id = model["model_id"]
            kept = {
                "model": {name: model.get(name) for name in MODEL_KEPT},
                "metrics": metrics[model_id],
            }
            row_tag = keys.encode(kept)
            if len(row_tag) > MAX_TAG_VALUE:
                raise StoreError(
                    f"{self.client.display_uri}: logged model {model_id}: its metric points and the "
                    f"values the API cannot set take {len(row_tag):,} characters, more than a tag holds "
                    f"({MAX_TAG_VALUE:,})"
                )
            server = self.held.get(model_id)
            if server is None:
                source_run = run_ids(model["source_run_id"]) if model.get("source_run_id") else None
                body: dict[str, Any] = {
                    "experiment_id": self.experiment_id,
                    "params": params[model_id],
                    "tags": [
                        *tags[model_id],
                        {"key": MODEL_KEY, "value": model_id},
                        {"key": keys.ROW, "value": row_tag},
                    ],
                }
                for name, value in (("name", model.get("name")), ("model_type", model.get("model_type"))):
                    if value:
                        body[name] = value
                if source_run:
                    body["source_run_id"] = source_run
                server = self.client.post("logged-models", body)["model"]
            server_id = str(server["info"]["model_id"])
            status = _status(model.get("status"))
            if status != _status(server["info"].get("status")) and status:
                self.client.call(
                    "PATCH", f"logged-models/{server_id}", body={"model_id": server_id, "status": status}
                )
            if model.get("lifecycle_stage") == "deleted":
                try:
                    self.client.call("DELETE", f"logged-models/{server_id}")
                except ServerAnswerError as exc:
                    if exc.status != 404:
                        raise
                deleted.append(server_id)
        return deleted


def restore_metric_values(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metric rows of a ``mlmigrate.row`` tag with their NaN and infinities as floats."""
    return [{k: _unwire(v) if k == "metric_value" else v for k, v in row.items()} for row in rows]
