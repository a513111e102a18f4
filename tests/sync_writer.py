"""Keep changing an MLflow store through the real client until a stop file appears, the way a
busy tracking server does during a cutover's copy and catch-up passes.

Usage: python sync_writer.py TRACKING_URI STOP_FILE READY_FILE GO_FILE

Every round adds a run to ``sync-a`` (metrics at three steps, a param, a tag) and one more
point to a run that stays RUNNING until the end. Once each, in rounds 1 to 5: a model version
of ``sync-model`` from a run; a run deleted; experiment ``sync-b`` renamed; registered model
``sync-old`` renamed once GO_FILE appears (the test makes it once a pass copied the model, so
that it leaves the destination under its old name); a tag of the first run
rewritten in place with a value of the same length. READY_FILE appears once all of them
happened.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def main() -> None:
    from mlflow import MlflowClient

    uri, stop_file, ready_file, go_file = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    first = client.create_experiment("sync-a")
    second = client.create_experiment("sync-b")
    client.create_registered_model("sync-model")
    client.create_registered_model("sync-old")
    long_run = client.create_run(second, run_name="long").info.run_id
    runs: list[str] = []
    round_number = 0
    while not os.path.exists(stop_file):
        run = client.create_run(first, tags={"round": f"{round_number:04d}"}).info.run_id
        runs.append(run)
        client.log_param(run, "p", str(round_number))
        for step in range(3):
            client.log_metric(run, "m", float(step * round_number), timestamp=1_000 + step, step=step)
        client.set_terminated(run)
        client.log_metric(
            long_run, "progress", float(round_number), timestamp=2_000 + round_number, step=round_number
        )
        if round_number == 1:
            client.create_model_version("sync-model", f"runs:/{runs[0]}/model", run_id=runs[0])
        elif round_number == 2:
            client.delete_run(runs[1])
        elif round_number == 3:
            client.rename_experiment(second, "sync-b-renamed")
        elif round_number == 4:
            while not os.path.exists(go_file) and not os.path.exists(stop_file):
                time.sleep(0.1)
            client.rename_registered_model("sync-old", "sync-new")
        elif round_number == 5:
            client.set_tag(runs[0], "round", "9999")
            with open(ready_file, "w") as ready:
                ready.write(str(round_number))
        round_number += 1
        time.sleep(0.05 if round_number <= 5 else 0.5)  # then a trickle: the passes stay small
    client.set_terminated(long_run)


if __name__ == "__main__":
    main()
