"""Writing one unit to a tracking server through its REST API, so that writing it again (a
re-run, a resume after a kill) adds nothing.

An experiment is found by the id the migration planned for it (``mlmigrate.experiment_id``),
a run by its source id (``mlmigrate.run_id``): what a killed copy created is reused. A run is
complete once its ``mlmigrate.row`` tag is set (written last); an incomplete one gets only the
params, tags and metric points it lacks. A registered model is deleted and written again
whole, its versions numbered as in the source (a gap or a deleted version is created and
deleted again, so the next number is the source's).
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.rest import keys
from mlmigrate.stores.rest.client import RestClient, ServerAnswerError, wire_number
from mlmigrate.stores.rest.logged_models import DELETED_MODELS, LoggedModelWriter, deleted_ids
from mlmigrate.stores.rest.reading import (
    find_experiment,
    find_registered_model,
    histories,
    runs_of,
    source_run_id,
)
from mlmigrate.stores.rest.traces import write_traces

#: ``runs/log-batch`` limits: entries of each kind, and in all, per call
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTRIES = 1000, 100, 100, 1000
#: runs written at once
RUN_WORKERS = 4
#: the source of a placeholder version, created and deleted to keep version numbers
PLACEHOLDER_SOURCE = "mlmigrate:/not-settable-over-rest"
#: a prompt version's source: the server takes only MLflow's own placeholders there
PROMPT_SOURCE = "prompt-template"
PROMPT_SOURCES = frozenset({"prompt-template", "dummy-source"})
#: columns of a run the API cannot set, kept in its ``mlmigrate.row`` tag
RUN_KEPT = (
    "source_type",
    "source_name",
    "entry_point_name",
    "source_version",
    "artifact_uri",
    "deleted_time",
)


def gather(batches: BatchStream) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """The unit's rows by table, and their counts."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for table, batch in batches:
        rows[table] += pa.Table.from_batches([batch]).to_pylist()
        counts[table] += batch.num_rows
    return rows, dict(counts)


def _point(row: dict[str, Any]) -> tuple[str, float | str, int, int]:
    value = math.nan if row.get("is_nan") else float(row["value"])
    return (row["key"], wire_number(value), int(row["timestamp"] or 0), int(row["step"] or 0))


def _server_point(point: dict[str, Any]) -> tuple[str, float | str, int, int]:
    from mlmigrate.stores.rest.client import number

    return (
        point["key"],
        wire_number(number(point["value"])),
        int(point.get("timestamp", 0)),
        int(point.get("step", 0)),
    )


class ExperimentWriter:
    """Writes one experiment unit."""

    def __init__(self, client: RestClient, planned_id: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.client = client
        self.planned_id = planned_id
        self.rows = rows
        self.run_ids: dict[str, str] = {}  # source run id -> server run id
        # two runs logging one new dataset at once race on the server's unique key
        self._inputs_lock = threading.Lock()

    def write(self) -> None:
        """Create or find the experiment, write its runs, then set what may only be set last."""
        (experiment,) = self.rows["experiments"]
        server = self._experiment(experiment)
        server_id = str(server["experiment_id"])
        if server.get("lifecycle_stage") == "deleted":
            self.client.post("experiments/restore", {"experiment_id": server_id})
        present = {source_run_id(run): run for run in runs_of(self.client, server_id)}
        by_run: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for table in ("params", "tags", "metrics", "latest_metrics"):
            for row in self.rows.get(table, []):
                by_run[row["run_uuid"]][table].append(row)
        inputs = self._inputs()
        runs = self.rows.get("runs", [])

        def write_run(run: dict[str, Any]) -> None:
            self._run(server_id, run, present.get(run["run_uuid"]), by_run[run["run_uuid"]], inputs)

        if runs:
            with ThreadPoolExecutor(min(RUN_WORKERS, len(runs))) as pool:
                list(pool.map(write_run, runs))
        if self.rows.get("logged_models"):
            held = keys.tag_map(server.get("tags"))
            models = LoggedModelWriter(client=self.client, server_experiment_id=server_id, held_tags=held)
            deleted = models.write(self.rows, self.run_ids.get)
            if sorted(deleted) != sorted(deleted_ids(held)):
                self.client.post(
                    "experiments/set-experiment-tag",
                    {"experiment_id": server_id, "key": DELETED_MODELS, "value": json.dumps(sorted(deleted))},
                )
        if self.rows.get("trace_info"):
            write_traces(self.client, server_id, self.rows)
        if experiment.get("lifecycle_stage") == "deleted":
            self.client.post("experiments/delete", {"experiment_id": server_id})

    def _experiment(self, experiment: dict[str, Any]) -> dict[str, Any]:
        client = self.client
        used = {row["source_id"] for row in self.rows.get("inputs", []) if row["source_type"] == "DATASET"}
        kept = {
            "experiment": {
                name: experiment.get(name)
                for name in ("creation_time", "last_update_time", "artifact_location", "workspace")
            },
            "datasets": [
                {k: v for k, v in row.items() if k != "experiment_id"}
                for row in self.rows.get("datasets", [])
                if row["dataset_uuid"] not in used
            ],
        }
        tags = {row["key"]: row["value"] for row in self.rows.get("experiment_tags", [])}
        tags |= {keys.EXPERIMENT_KEY: self.planned_id, keys.ROW: keys.encode(kept)}
        found = find_experiment(client, self.planned_id)
        if found is None:
            answer = client.call(
                "GET",
                "experiments/get-by-name",
                params={"experiment_name": experiment["name"]},
                missing_ok=True,
            )
            if answer and not runs_of_any(client, str(answer["experiment"]["experiment_id"])):
                found = dict(answer["experiment"])  # an empty one of that name (MLflow's Default): replaced
        if found is None:
            body: dict[str, Any] = {
                "name": experiment["name"],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            }
            if experiment.get("artifact_location"):
                body["artifact_location"] = experiment["artifact_location"]
            created = client.post("experiments/create", body)
            return {"experiment_id": created["experiment_id"], "lifecycle_stage": "active"}
        server_id = str(found["experiment_id"])
        if found["name"] != experiment["name"]:
            client.post("experiments/update", {"experiment_id": server_id, "new_name": experiment["name"]})
        held = keys.tag_map(found.get("tags"))
        for key, value in tags.items():
            if held.get(key) != value:
                client.post(
                    "experiments/set-experiment-tag", {"experiment_id": server_id, "key": key, "value": value}
                )
        for key in held.keys() - tags.keys() - {DELETED_MODELS}:
            client.post("experiments/delete-experiment-tag", {"experiment_id": server_id, "key": key})
        return found

    def _inputs(self) -> dict[str, dict[str, Any]]:
        """Per source run: its dataset inputs (as ``log-inputs`` takes them) and the rows the API
        cannot express."""
        datasets = {row["dataset_uuid"]: row for row in self.rows.get("datasets", [])}
        tags: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows.get("input_tags", []):
            tags[row["input_uuid"]].append(row)
        found: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"datasets": [], "kept": [], "other": [], "other_tags": []}
        )
        for row in self.rows.get("inputs", []):
            dataset = datasets.get(row["source_id"]) if row["source_type"] == "DATASET" else None
            if dataset is not None and row["destination_type"] == "RUN":
                entry = found[row["destination_id"]]
                entry["datasets"].append(
                    {
                        "tags": [{"key": t["name"], "value": t["value"]} for t in tags[row["input_uuid"]]],
                        "dataset": {
                            "name": dataset["name"],
                            "digest": dataset["digest"],
                            "source_type": dataset["dataset_source_type"],
                            "source": dataset["dataset_source"],
                            **({"schema": dataset["dataset_schema"]} if dataset["dataset_schema"] else {}),
                            **({"profile": dataset["dataset_profile"]} if dataset["dataset_profile"] else {}),
                        },
                    }
                )
                entry["kept"].append(
                    [
                        dataset["name"],
                        dataset["digest"],
                        row["input_uuid"],
                        dataset["dataset_uuid"],
                        row["step"],
                    ]
                )
            else:  # model inputs and outputs: the logged models are not on the server
                owner = row["destination_id"] if row["destination_type"] == "RUN" else row["source_id"]
                found[owner]["other"].append(row)
                found[owner]["other_tags"] += tags[row["input_uuid"]]
        return found

    def _run(
        self,
        experiment_id: str,
        run: dict[str, Any],
        server: dict[str, Any] | None,
        rows: dict[str, list[dict[str, Any]]],
        inputs: dict[str, dict[str, Any]],
    ) -> None:
        client = self.client
        run_id = run["run_uuid"]
        entry = inputs.get(run_id, {"datasets": [], "kept": [], "other": [], "other_tags": []})
        kept = {
            "run": {name: run.get(name) for name in RUN_KEPT},
            "latest": unlike_the_servers(rows["latest_metrics"], rows["metrics"]),
            "inputs": entry["kept"],
            "other_inputs": entry["other"],
            "other_input_tags": entry["other_tags"],
        }
        params = [{"key": r["key"], "value": r["value"]} for r in rows["params"]]
        tags = [{"key": r["key"], "value": r["value"]} for r in rows["tags"]]
        points = Counter(_point(r) for r in rows["metrics"])
        if server is not None:
            server_id = server["info"]["run_id"]
            held_tags = keys.tag_map(server.get("data", {}).get("tags"))
            if keys.ROW in held_tags:  # complete: only its lifecycle may be left to set
                if (
                    run.get("lifecycle_stage") == "deleted"
                    and server["info"].get("lifecycle_stage") != "deleted"
                ):
                    client.post("runs/delete", {"run_id": server_id})
                self.run_ids[run_id] = server_id
                return
            if server["info"].get("lifecycle_stage") == "deleted":
                client.post("runs/restore", {"run_id": server_id})
            held_params = {p["key"] for p in server.get("data", {}).get("params", [])}
            params = [p for p in params if p["key"] not in held_params]
            wanted = {m["key"]: [server_id] for m in server.get("data", {}).get("metrics", [])}
            for _key, found in histories(client, wanted).items():
                points.subtract(Counter(_server_point(p) for p in found))
            points = +points
        else:
            body = {
                "experiment_id": experiment_id,
                "user_id": run.get("user_id") or "",
                "run_name": run.get("name") or "",
                "start_time": run.get("start_time") or 0,
                "tags": [{"key": keys.RUN_KEY, "value": run_id}],
            }
            server_id = client.post("runs/create", body)["run"]["info"]["run_id"]
        metrics = [
            {"key": key, "value": value, "timestamp": timestamp, "step": step}
            for (key, value, timestamp, step), times in sorted(
                points.items(), key=lambda item: (item[0][0], item[0][3], item[0][2])
            )
            for _ in range(times)
        ]
        update: dict[str, Any] = {"run_id": server_id, "status": run.get("status") or "FINISHED"}
        if run.get("end_time") is not None:
            update["end_time"] = run["end_time"]
        if server is not None and run.get("name"):
            update["run_name"] = run["name"]
        client.post("runs/update", update)
        if entry["datasets"]:
            with self._inputs_lock:
                client.post("runs/log-inputs", {"run_id": server_id, "datasets": entry["datasets"]})
        done = {"key": keys.ROW, "value": keys.encode(kept)}  # in the last call: the run is complete
        log_batch(client, server_id, metrics=metrics, params=params, tags=tags, last=done)
        if run.get("lifecycle_stage") == "deleted":
            client.post("runs/delete", {"run_id": server_id})
        self.run_ids[run_id] = server_id


def _server_order(row: dict[str, Any]) -> tuple[int, int, float]:
    # MLflow's SQL store: the latest point is the greatest (step, timestamp, value), NaN as 0
    return (
        int(row["step"] or 0),
        int(row["timestamp"] or 0),
        0.0 if row.get("is_nan") else float(row["value"]),
    )


def unlike_the_servers(latest: list[dict[str, Any]], points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The source's latest metric rows that the server's own rule would not pick from ``points``
    (ties of NaN and numbers, a FileStore's file order), or whose pick depends on the order of
    the points: these are kept in the run's ``mlmigrate.row`` tag."""
    best: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        held = best.get(point["key"])
        if held is None or _server_order(point) > _server_order(held[0]):
            best[point["key"]] = [point]
        elif _server_order(point) == _server_order(held[0]):
            held.append(point)
    kept = []
    for row in latest:
        picks = best.get(row["key"], [])
        same = [p for p in picks if bool(p.get("is_nan")) == bool(row.get("is_nan"))]
        if len(picks) != 1 or len(same) != 1 or _point(same[0]) != _point(row):
            kept.append({name: row.get(name) for name in ("key", "value", "timestamp", "step", "is_nan")})
    return kept


def runs_of_any(client: RestClient, experiment_id: str) -> bool:
    """Whether the experiment holds a run (deleted ones count)."""
    body = {"experiment_ids": [experiment_id], "run_view_type": "ALL", "max_results": 1}
    return bool(client.post("runs/search", body).get("runs"))


def log_batch(
    client: RestClient,
    run_id: str,
    *,
    metrics: list[dict[str, Any]],
    params: list[dict[str, Any]],
    tags: list[dict[str, Any]],
    last: dict[str, Any] | None = None,
) -> None:
    """``runs/log-batch`` calls filled to the API's limits, params and tags first; the tag
    ``last`` goes in the last call (each call is one transaction on the server)."""
    pending = [last] if last is not None else []
    while metrics or params or tags or pending:
        part_params, params = params[:MAX_PARAMS], params[MAX_PARAMS:]
        part_tags, tags = tags[:MAX_TAGS], tags[MAX_TAGS:]
        room = MAX_ENTRIES - len(part_params) - len(part_tags)
        take = min(room, MAX_METRICS)
        part_metrics, metrics = metrics[:take], metrics[take:]
        if (
            not (metrics or params or tags)
            and pending
            and len(part_tags) < MAX_TAGS
            and room > len(part_metrics)
        ):
            part_tags, pending = [*part_tags, *pending], []
        client.post(
            "runs/log-batch",
            {"run_id": run_id, "metrics": part_metrics, "params": part_params, "tags": part_tags},
        )


class ModelWriter:
    """Writes one registered model unit: deleted if there, created again whole."""

    def __init__(
        self, client: RestClient, rows: dict[str, list[dict[str, Any]]], run_ids: Callable[[str], str | None]
    ):
        self.client = client
        self.rows = rows
        self.run_ids = run_ids

    def write(self) -> None:
        """Create the model, its versions in order (gaps kept), their stages, tags and aliases."""
        client = self.client
        (model,) = self.rows["registered_models"]
        name = model["name"]
        versions = {row["version"]: row for row in self.rows.get("model_versions", [])}
        deleted = [row for row in versions.values() if row.get("current_stage") == "Deleted_Internal"]
        kept = {
            "model": {
                n: model.get(n)
                for n in ("creation_time", "last_updated_time", "workspace", "description")
                if n != "description" or model.get(n) is None
            },
            "deleted_versions": deleted,
            "deleted_version_tags": [
                row
                for row in self.rows.get("model_version_tags", [])
                if row["version"] in {version["version"] for version in deleted}
            ],
        }
        if find_registered_model(client, name) is not None:
            client.call("DELETE", "registered-models/delete", body={"name": name})
        tags = [{"key": r["key"], "value": r["value"]} for r in self.rows.get("registered_model_tags", [])]
        tags.append({"key": keys.ROW, "value": keys.encode(kept)})
        body: dict[str, Any] = {"name": name, "tags": tags}
        if model.get("description"):
            body["description"] = model["description"]
        client.post("registered-models/create", body)
        version_tags: dict[int, list[dict[str, str]]] = defaultdict(list)
        for row in self.rows.get("model_version_tags", []):
            version_tags[row["version"]].append({"key": row["key"], "value": row["value"]})
        prompt = any(
            r["key"] == "mlflow.prompt.is_prompt" and str(r["value"]).lower() == "true"
            for r in self.rows.get("registered_model_tags", [])
        )
        placeholder = PROMPT_SOURCE if prompt else PLACEHOLDER_SOURCE
        for number in range(1, max(versions, default=0) + 1):
            wanted = versions.get(number)
            if wanted is None or wanted.get("current_stage") == "Deleted_Internal":
                made = self._create({"name": name, "source": placeholder}, number)
                client.call("DELETE", "model-versions/delete", body={"name": name, "version": made})
                continue
            self._version(name, number, wanted, version_tags[number], placeholder)
        for row in self.rows.get("registered_model_aliases", []):
            client.post(
                "registered-models/alias",
                {"name": name, "alias": row["alias"], "version": str(row["version"])},
            )

    def _create(self, body: dict[str, Any], number: int) -> str:
        made = str(self.client.post("model-versions/create", body)["model_version"]["version"])
        if made != str(number):
            raise StoreError(
                f"{self.client.display_uri}: registered model {body['name']!r} got version {made} "
                f"where the source has {number}"
            )
        return made

    def _version(
        self, name: str, number: int, row: dict[str, Any], tags: list[dict[str, str]], placeholder: str
    ) -> None:
        settable = ("name", "version", "current_stage", "description")
        kept = {"version": {n: v for n, v in row.items() if n not in settable or v is None}}
        body: dict[str, Any] = {
            "name": name,
            "source": row.get("source") or "",
            "tags": [*tags, {"key": keys.ROW, "value": keys.encode(kept)}],
        }
        run_id = self.run_ids(row["run_id"]) if row.get("run_id") else None
        if run_id:
            body["run_id"] = run_id
        if row.get("run_link"):
            body["run_link"] = row["run_link"]
        if row.get("description"):
            body["description"] = row["description"]
        source = str(body["source"])
        local = (
            "://" not in source
            and not source.startswith(("runs:", "models:", "mlflow-artifacts:"))
            and source not in PROMPT_SOURCES
        )
        try:
            if local or source.startswith("file:"):  # refused by the server: not asked
                raise ServerAnswerError(self.client.display_uri, 400, {"message": "local source"})
            self._create(body, number)
        except ServerAnswerError:
            # a source the server refuses (a local path it may not read): kept in the tag only
            body.pop("run_id", None)
            self._create(dict(body, source=placeholder), number)
        stage = row.get("current_stage")
        if stage and stage != "None":
            self.client.post(
                "model-versions/transition-stage",
                {"name": name, "version": str(number), "stage": stage, "archive_existing_versions": False},
            )
