"""Write a FileStore with an older MLflow: run by that MLflow's own interpreter (a venv of its
own, see ``old_mlflow.py``), never imported by the suite. Uses only client calls that MLflow
1.28 and 2.9.2 both have, and the registry where the release has a file-based one (2.x).

Usage: ``python old_mlflow_writer.py MLRUNS``. Prints the MLflow version it wrote with.
"""

from __future__ import annotations

import math
import sys

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

T0 = 1_600_000_000_000


def main(mlruns: str) -> None:
    """Write the store at ``mlruns``."""
    uri = "file://" + mlruns
    client = MlflowClient(tracking_uri=uri)
    kept = client.create_experiment("old-kept")
    client.set_experiment_tag(kept, "team", "old")
    finished = client.create_run(kept, start_time=T0, tags={"mlflow.runName": "finished"}).info.run_id
    client.log_batch(
        finished,
        metrics=[Metric("loss", 0.5, T0 + 1, 0), Metric("loss", 0.25, T0 + 2, 1)],
        params=[Param("lr", "0.1"), Param("unicode", "naïve café 🚀")],
        tags=[RunTag("multi", "line one\nline two")],
    )
    for value, offset, step in ((math.nan, 5, 2), (1.0, 5, 2), (-1.0, 3, 2), (math.inf, 1, -1)):
        client.log_metric(finished, "ties", value, timestamp=T0 + offset, step=step)
    for step in (5, 1, 3):  # logged out of step order: the file keeps this order
        client.log_metric(finished, "unordered", float(step), timestamp=T0 + 10 - step, step=step)
    client.log_metric(finished, "min_step", 2.0, timestamp=T0, step=-(2**63))
    client.set_terminated(finished, "FINISHED", end_time=T0 + 100)
    failed = client.create_run(kept, start_time=T0 + 10, tags={"mlflow.parentRunId": finished}).info.run_id
    client.log_param(failed, "lr", "0.01")
    client.set_terminated(failed, "FAILED", end_time=T0 + 110)
    deleted_run = client.create_run(kept, start_time=T0 + 20).info.run_id
    client.log_metric(deleted_run, "loss", 9.0, timestamp=T0, step=0)
    client.delete_run(deleted_run)

    doomed = client.create_experiment("old-deleted")
    doomed_run = client.create_run(doomed, start_time=T0 + 30).info.run_id
    client.log_param(doomed_run, "p", "v")
    client.set_terminated(doomed_run, "FINISHED", end_time=T0 + 130)
    client.delete_experiment(doomed)  # 1.x: the folder moves to .trash, meta.yaml stays "active"

    if int(mlflow.__version__.split(".")[0]) >= 2:  # 1.x has no file-based model registry
        registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
        registry.create_registered_model("old-model", tags={"owner": "old"}, description="from the past")
        for run_id in (finished, failed):
            registry.create_model_version("old-model", f"{uri}/{kept}/{run_id}/artifacts/model", run_id)
        registry.set_registered_model_alias("old-model", "champion", "1")
        registry.transition_model_version_stage("old-model", "2", "Staging")
    print(mlflow.__version__)


if __name__ == "__main__":
    main(sys.argv[1])
