"""Keep writing to an MLflow store through the real client until a stop file appears.

Usage: python live_writer.py TRACKING_URI STOP_FILE

Round i creates a run in experiment ``live-a`` and then one in ``live-b``, each
logging metric ``m`` at steps 0..4 one call (one transaction) at a time. So at any
single point in time ``live-a`` has as many runs as ``live-b`` or one more, and
every run's ``latest_metrics`` agrees with its ``metrics``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def main() -> None:
    from mlflow import MlflowClient

    uri, stop_file = sys.argv[1], sys.argv[2]
    client = MlflowClient(tracking_uri=uri)
    experiments = [client.create_experiment(name) for name in ("live-a", "live-b")]
    round_number = 0
    while not os.path.exists(stop_file):
        for experiment_id in experiments:
            run = client.create_run(experiment_id, tags={"round": str(round_number)})
            for step in range(5):
                client.log_metric(run.info.run_id, "m", float(step), timestamp=1_000 + step, step=step)
            client.set_terminated(run.info.run_id)
        round_number += 1


if __name__ == "__main__":
    main()
