"""A small MLflow FileStore with real artifacts, written by the real MLflow 3.17 client.

``make_artifact_store(root)`` writes ``root/"mlruns"`` with one experiment holding:

* a run with logged artifacts (a text file, a nested folder, an empty file, a binary blob);
* a pyfunc model logged with ``mlflow.pyfunc.log_model`` (a tiny ``python_model``), registered
  as version 1 of ``artifact-model``;
* a trace (its span data is stored as trace artifacts).

It returns the facts a test checks against (run id, model URI, trace id).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from edge_store import _mlflow_uri as mlflow_at

MODEL_NAME = "artifact-model"


def _python_model(n: int) -> Any:
    import mlflow.pyfunc

    class AddN(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def __init__(self, n: int):
            self.n = n

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input + self.n

    return AddN(n)


def make_artifact_store(root: Path) -> dict[str, Any]:
    """Write ``root/mlruns`` and return its facts (``mlruns``, ``run_id``, ``model_uri``, ``trace_id``)."""
    import mlflow
    from mlflow import MlflowClient

    mlruns = (root / "mlruns").resolve()
    mlruns.mkdir(parents=True, exist_ok=True)
    with mlflow_at(mlruns.as_uri()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        experiment_id = mlflow.create_experiment("artifacts")
        mlflow.set_experiment(experiment_id=experiment_id)
        files = root / "files"
        (files / "nested" / "deeper").mkdir(parents=True, exist_ok=True)
        (files / "hello.txt").write_text("hello artifacts\n")
        (files / "nested" / "data.bin").write_bytes(bytes(range(256)) * 64)
        (files / "nested" / "deeper" / "empty.txt").write_bytes(b"")
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.log_param("p", "1")
            mlflow.log_artifact(str(files / "hello.txt"))
            mlflow.log_artifacts(str(files / "nested"), artifact_path="nested")
            mlflow.log_text("über ünïcode\n", "text/notes.txt")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=_python_model(3),
                registered_model_name=MODEL_NAME,
                pip_requirements=["mlflow"],
            )
        with mlflow.start_span(name="traced") as span:
            span.set_inputs({"x": 1})
            span.set_outputs({"y": 2})
            trace_id = span.trace_id
        mlflow.flush_trace_async_logging()
        MlflowClient().get_trace(trace_id)  # stored, span data included
    return {
        "mlruns": mlruns,
        "experiment_id": experiment_id,
        "run_id": run.info.run_id,
        "model_uri": info.model_uri,
        "model_id": info.model_id,
        "registered_model": MODEL_NAME,
        "trace_id": trace_id,
    }
