"""A FileStore whose metric histories only keep their meaning in file order, written by the real
MLflow 3.17 client.

``make_history_store(root)`` writes ``root/"mlruns"`` with one experiment, ``history``:

* run ``ordered`` with histories logged out of step and timestamp order (MLflow's FileStore
  returns them in the order they were logged), points at ``step = -2**63`` and ``2**63 - 1``,
  and ties at one step and timestamp whose latest value MLflow's FileStore picks by file order:
  NaN logged before 1.0 (latest NaN), 1.0 before NaN (1.0), -1.0 before NaN (-1.0);
* runs ``a`` and ``b`` with params, tags and metrics that ``search_runs`` filters and orders by;
* a logged model with an unordered history (with and without a dataset);
* two prompts linked to the experiment by the client (``_mlflow_experiment_ids``), one not.

:data:`SEARCHES` are the ``search_runs`` filter strings and orderings the comparison runs on
both sides.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any

from edge_store import T0, mlflow_pointed_at

MIN_STEP, MAX_STEP = -(2**63), 2**63 - 1

#: ``(filter_string, order_by)`` that ``search_runs`` runs on both sides
SEARCHES: tuple[tuple[str, list[str]], ...] = (
    ("", ["metrics.score DESC"]),
    ("params.lr = '0.1'", []),
    ("metrics.score > 0.4", ["params.lr ASC"]),
    ("tags.team = 'b'", ["start_time DESC"]),
    ("attributes.run_name LIKE 'run-%'", ["attributes.run_name DESC"]),
    ("metrics.tie_nan_first > 0", []),  # NaN is latest: no run has it above 0
    ("metrics.tie_number_first = 1.0", []),
)

#: (value, timestamp offset, step) of each history of run ``ordered``, in the order logged
HISTORIES: dict[str, list[tuple[float, int, int]]] = {
    "unordered": [(5.0, 9, 5), (1.0, 1, 1), (3.0, 5, 3), (0.5, 0, 1), (4.0, 9, 4)],
    "tie_nan_first": [(math.nan, 2, 2), (1.0, 2, 2), (0.0, 1, 1)],
    "tie_number_first": [(1.0, 2, 2), (math.nan, 2, 2)],
    "tie_negative": [(-1.0, 2, 2), (math.nan, 2, 2)],
    "extreme_steps": [(3.0, 1, 0), (2.0, 0, MIN_STEP), (4.0, 5, MIN_STEP), (7.0, 3, MAX_STEP)],
}


def make_history_store(root: Path) -> Path:
    """Write the store under ``root/"mlruns"`` and return that folder."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    mlruns = root / "mlruns"
    uri = str(mlruns)
    with mlflow_pointed_at(uri):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.create_experiment("history")
        ordered = client.create_run(experiment, start_time=T0, run_name="ordered").info.run_id
        for key, points in HISTORIES.items():
            for value, offset, step in points:  # one call per point: the file keeps this order
                client.log_batch(ordered, metrics=[Metric(key, value, T0 + offset, step)])
        client.set_terminated(ordered, end_time=T0 + 100)
        for name, lr, score, team, offset in (("run-a", "0.1", 0.5, "a", 1), ("run-b", "0.01", 0.3, "b", 2)):
            run = client.create_run(experiment, start_time=T0 + offset, run_name=name).info.run_id
            client.log_param(run, "lr", lr)
            client.set_tag(run, "team", team)
            client.log_metric(run, "score", score, timestamp=T0, step=0)
            client.log_metric(run, "tie_number_first", 1.0, timestamp=T0, step=0)
            client.set_terminated(run, end_time=T0 + 200)
        _logged_model(client, experiment, ordered)
        # the client links prompts on a thread of its own, which sees the environment and not the
        # tracking URI set above (it would open a default ./mlflow.db otherwise)
        saved = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = uri
        try:
            _prompts(client, experiment)
        finally:
            if saved is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = saved
    return mlruns


def _logged_model(client: Any, experiment: str, run_id: str) -> None:
    model = client.create_logged_model(experiment_id=experiment, name="history-model", source_run_id=run_id)
    for value, offset, step, dataset in (
        (2.0, 5, 3, None),
        (math.nan, 1, 1, None),
        (1.0, 0, 1, None),
        (0.5, 0, MIN_STEP, None),
        (0.7, 3, 2, ("eval", "d1")),
        (math.nan, 2, 2, ("eval", "d1")),
    ):  # no two at one step, timestamp and run: MLflow's SQL key for them leaves the value out
        names = {"dataset_name": dataset[0], "dataset_digest": dataset[1]} if dataset else {}
        client.log_metric(
            run_id, "model_loss", value, timestamp=T0 + offset, step=step, model_id=model.model_id, **names
        )
    client.finalize_logged_model(model.model_id, "READY")


def _prompts(client: Any, experiment: str) -> None:
    for name in ("linked", "also-linked", "unlinked"):
        version = client.register_prompt(name=name, template=f"{name} {{{{who}}}}")
        _linked()  # register_prompt links to the active experiment (Default) on a thread too
        if name != "unlinked":
            client._link_prompt_to_experiment(version, experiment)
            _linked()


def _linked() -> None:
    """Wait for the threads the client links prompts to experiments on (one left running would
    open a default ./mlflow.db later, running MLflow's migrations beside the test's)."""
    for thread in threading.enumerate():
        if thread.name.startswith("link_prompt_to_experiment_thread"):
            thread.join()
