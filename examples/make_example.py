"""Build the bundled example MLflow FileStore in ``examples/mlruns`` with the real mlflow client.

Re-runnable: the old ``examples/mlruns`` is deleted first. Run from anywhere::

    .venv/bin/python examples/make_example.py

The store is written at its final path, so its ``meta.yaml`` files hold absolute
``file:///<repo>/examples/mlruns/...`` URIs, as users' stores do.

What it holds (the counts are printed at the end):

* experiments ``iris-classifier``, ``wine-regression``, ``llm-app`` (+ ``Default``),
  and ``scratch``, deleted, so it sits in ``mlruns/.trash/``;
* 11 runs: params, tags, metric histories with NaN, inf and -inf, a ``/`` in a metric
  key, a multi-line tag, a parent run with three nested runs, a deleted run, a run
  left RUNNING, two dataset inputs, a tiny text artifact in every run;
* one MLflow 3 logged model with params and tags;
* registered model ``iris-classifier`` with two versions, tags, alias ``champion``
  (-> 2) and stage ``Production`` on version 1;
* one trace with two spans, a trace tag and a feedback assessment.

Every run gets an artifact, a param and a metric so that no run directory has an
empty ``metrics/``, ``params/`` or ``artifacts/`` folder: git does not keep empty
folders, and the FileStore refuses a run whose folders are missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
STORE = HERE / "mlruns"
T0 = 1_700_000_000_000  # fixed metric timestamps (ms) keep the histories reproducible


def build(store: Path) -> dict[str, int]:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    os.environ["LOGNAME"] = "alice"  # mlflow.user / user_id come from getpass.getuser()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

    uri = store.as_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)

    def metrics(key: str, values: list[float], *, t0: int = T0) -> list[Metric]:
        return [Metric(key, v, t0 + 1000 * i, i) for i, v in enumerate(values)]

    def finish(run_id: str, *, status: str = "FINISHED", end: int | None = None) -> None:
        client.log_text(run_id, f"notes for run {run_id}\n", "notes.txt")
        client.set_terminated(run_id, status=status, end_time=end)

    # iris-classifier: a sweep with nested runs, a baseline, a deleted run, a dataset input
    iris = client.create_experiment(
        "iris-classifier", tags={"team": "vision", "mlflow.note.content": "Iris demo"}
    )
    iris_ds = Dataset(
        name="iris",
        digest="1c3f0a9e",
        source_type="local",
        source='{"uri": "/data/iris.csv"}',
        schema='{"mlflow_colspec": [{"type": "double", "name": "sepal_length"}]}',
        profile='{"num_rows": 150, "num_elements": 750}',
    )
    parent = client.create_run(iris, run_name="hpo-sweep", start_time=T0)
    client.log_batch(
        parent.info.run_id,
        params=[Param("search", "grid"), Param("n_trials", "3")],
        metrics=metrics("best_accuracy", [0.91, 0.94, 0.95]),
        tags=[RunTag("mlflow.user", "alice"), RunTag("stage", "sweep")],
    )
    child_ids = []
    for i, (depth, lr) in enumerate([(2, "0.1"), (4, "0.05"), (8, "0.01")]):
        child = client.create_run(
            iris,
            run_name=f"trial-{i}",
            start_time=T0 + 10_000 * (i + 1),
            tags={"mlflow.parentRunId": parent.info.run_id, "mlflow.user": "alice"},
        )
        client.log_batch(
            child.info.run_id,
            params=[Param("max_depth", str(depth)), Param("learning_rate", lr)],
            metrics=metrics("accuracy", [0.7 + 0.05 * i + 0.02 * s for s in range(5)])
            + metrics("loss/train", [1.0 / (s + 1 + i) for s in range(5)]),
        )
        client.log_inputs(
            child.info.run_id,
            datasets=[DatasetInput(iris_ds, tags=[InputTag("mlflow.data.context", "training")])],
        )
        finish(child.info.run_id, end=T0 + 10_000 * (i + 1) + 5_000)
        child_ids.append(child.info.run_id)
    finish(parent.info.run_id, end=T0 + 60_000)

    baseline = client.create_run(iris, run_name="baseline", start_time=T0 + 100_000)
    client.log_batch(
        baseline.info.run_id,
        params=[
            Param("model", "logistic_regression"),
            Param("features", "sepal_length,sepal_width,petal_length,petal_width"),
        ],
        metrics=metrics("accuracy", [0.88]),
        tags=[RunTag("description", "first line\nsecond line: with a colon\n")],
    )
    client.log_text(baseline.info.run_id, "placeholder: no real model is logged\n", "model/README.txt")
    finish(baseline.info.run_id, end=T0 + 101_000)

    bad = client.create_run(iris, run_name="bad-run", start_time=T0 + 200_000)
    client.log_batch(bad.info.run_id, params=[Param("oops", "yes")], metrics=metrics("loss", [9.9]))
    finish(bad.info.run_id, status="FAILED", end=T0 + 201_000)
    client.delete_run(bad.info.run_id)

    # wine-regression: NaN, inf and -inf in histories, a run left RUNNING, a second dataset
    wine = client.create_experiment("wine-regression")
    client.set_experiment_tag(wine, "owner", "bob")
    wine_ds = Dataset(
        name="wine-quality",
        digest="77ab01cd",
        source_type="http",
        source='{"url": "https://example.org/winequality-red.csv"}',
        schema=None,
        profile=None,
    )
    nan, inf = float("nan"), float("inf")
    wine_runs = []
    histories = [
        [0.9, 0.7, nan, 0.5, 0.45],
        [1.2, inf, 0.8, 0.6, 0.55],
        [0.8, -inf, 0.4, 0.35, 0.3],
    ]
    for i, history in enumerate(histories):
        run = client.create_run(wine, run_name=f"ridge-{i}", start_time=T0 + 300_000 + i)
        client.log_batch(
            run.info.run_id,
            params=[Param("alpha", str(10.0**-i)), Param("solver", "auto")],
            metrics=metrics("rmse", history, t0=T0 + 300_000) + metrics("r2", [0.1 * i]),
            tags=[RunTag("mlflow.source.type", "LOCAL"), RunTag("mlflow.source.name", "train.py")],
        )
        wine_runs.append(run.info.run_id)
        finish(run.info.run_id, end=T0 + 310_000 + i)
    client.log_inputs(
        wine_runs[0],
        datasets=[DatasetInput(wine_ds, tags=[InputTag("mlflow.data.context", "eval")])],
    )
    running = client.create_run(wine, run_name="still-running", start_time=T0 + 400_000)
    client.log_batch(running.info.run_id, params=[Param("alpha", "0.5")])
    client.log_metric(running.info.run_id, "rmse", 0.77, timestamp=T0 + 400_500, step=0)
    client.log_text(running.info.run_id, "partial\n", "notes.txt")  # left RUNNING on purpose

    # scratch: an experiment with one run, then deleted (moved to .trash)
    scratch = client.create_experiment("scratch", tags={"temporary": "true"})
    tmp = client.create_run(scratch, run_name="tmp", start_time=T0 + 500_000)
    client.log_batch(tmp.info.run_id, params=[Param("x", "1")], metrics=metrics("y", [1.0, 2.0]))
    finish(tmp.info.run_id, end=T0 + 501_000)
    client.delete_experiment(scratch)

    # MLflow 3 logged model (metadata only, no artifacts)
    client.create_logged_model(
        iris,
        name="iris-logreg",
        source_run_id=baseline.info.run_id,
        params={"C": "1.0"},
        tags={"framework": "sklearn"},
        model_type="classifier",
    )

    # registry: two versions, tags, an alias and a stage
    name = "iris-classifier"
    client.create_registered_model(name, tags={"domain": "botany"}, description="Iris classifier")
    client.create_model_version(
        name,
        f"runs:/{baseline.info.run_id}/model",
        run_id=baseline.info.run_id,
        tags={"validated": "true"},
        description="baseline logistic regression",
    )
    client.create_model_version(
        name,
        f"{STORE.as_uri()}/{iris}/{child_ids[2]}/artifacts/model",
        run_id=child_ids[2],
        description="best sweep trial",
    )
    client.set_model_version_tag(name, "2", "validated", "pending")
    client.set_registered_model_alias(name, "champion", "2")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(name, "1", "Production")

    # llm-app: one trace with a child span, a tag and an assessment
    llm = client.create_experiment("llm-app")
    mlflow.set_experiment(experiment_id=llm)

    @mlflow.trace(span_type="RETRIEVER")
    def retrieve(question: str) -> list[str]:
        return ["Iris setosa has short petals."]

    @mlflow.trace(name="answer", span_type="CHAIN")
    def answer(question: str) -> str:
        docs = retrieve(question)
        return f"{docs[0]} (1 source)"

    answer("Which iris has short petals?")
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    client.set_trace_tag(trace_id, "reviewed", "yes")
    mlflow.log_feedback(trace_id=trace_id, name="helpful", value=True, rationale="cites a source")

    return {
        "experiments (incl. Default and 1 deleted)": len(
            client.search_experiments(view_type=3)  # ViewType.ALL
        ),
        "runs (all, incl. deleted)": sum(
            len(client.search_runs([e], run_view_type=3)) for e in (iris, wine, scratch)
        ),
        "registered models": len(client.search_registered_models()),
        "model versions": len(client.search_model_versions(f"name='{name}'")),
        "traces": len(client.search_traces(locations=[llm])),
    }


def check_layout(store: Path) -> None:
    """Fail if a run folder lacks a non-empty metrics/, params/ or artifacts/ (git drops empties)."""
    for meta in store.glob("**/meta.yaml"):
        run_dir = meta.parent
        if run_dir.parent.parent not in (store, store / ".trash") or len(run_dir.name) != 32:
            continue
        for sub in ("metrics", "params", "artifacts"):
            if not any((run_dir / sub).iterdir()):
                raise SystemExit(f"{run_dir}/{sub} is empty; git would not keep it")


def main() -> int:
    if STORE.exists():
        shutil.rmtree(STORE)
    # Traces record the git commit/branch of the working directory; build from a folder
    # outside the repository so that the example does not change with every commit.
    os.chdir(tempfile.gettempdir())
    counts = build(STORE)
    check_layout(STORE)
    size = sum(p.stat().st_size for p in STORE.rglob("*") if p.is_file())
    files = sum(1 for p in STORE.rglob("*") if p.is_file())
    for key, value in counts.items():
        print(f"{key:<45} {value}")
    print(f"{'files / bytes':<45} {files} / {size}")
    print(f"store: {STORE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
