"""Build MLflow FileStores full of edge cases, written by the real MLflow 3.17 client.

``make_edge_store(root)`` writes ``root/"mlruns"`` with (ids are random, everything else fixed):

* experiments: ``Default`` (id 0), a plain one, names with unicode/emoji, spaces and quotes,
  experiment tags (incl. a multi-line value and a key with ``/``), and one **deleted**
  experiment that holds an active run and a deleted run (moved to ``.trash/``);
* runs: parent with two nested children (``mlflow.parentRunId``), every status
  (FINISHED, FAILED, KILLED, RUNNING with no end time, SCHEDULED), a deleted run, unicode run names;
* params: a 5000-char value, multi-line values, unicode, an empty value, keys with ``/``,
  ``.``, ``-`` and spaces; tags likewise (plus a 7000-char value);
* metrics: NaN, +inf, -inf, 0, -0.0, 1e-300, 5e-324, max float, negative values, negative
  steps, steps 2**53 and 2**62, duplicate steps with different values/timestamps, an exactly
  duplicated point, a 1000-point series, keys with ``/``, dots and spaces, metrics logged
  with a dataset (5-field lines) and with ``model_id`` (written to the run *and* the logged model);
* inputs/outputs: pandas datasets logged as run inputs with input tags (``mlflow.data.context``
  plus custom ones), the same dataset used by two runs, a logged model as run input, and
  logged models as run outputs with a step;
* logged models: READY (params, tags, metrics with and without dataset), FAILED, PENDING,
  one deleted;
* traces: in two experiments, nested spans with attributes and an exception event, trace tags
  (``update_current_trace`` and ``set_trace_tag``), trace metadata, a trace linked to a run,
  an ERROR trace, feedback (value, with rationale/metadata, with an error) and expectation
  assessments;
* model registry: a model with description, tags and aliases; 4 versions (``source`` under a
  run's artifacts, ``run_id`` set, version tags, description) in stages
  None/Staging/Production/Archived, version 3 deleted so numbering has a gap, an alias on it
  removed by the delete; a unicode-named model; a model without versions; a model version
  whose ``model_id`` links to a logged model.

What the FileStore cannot take (so it is not here):

* registered model names with ``/`` or ``%`` (rejected by the registry FileStore);
* experiment names with a single quote: ``create_experiment`` checks uniqueness with an unescaped
  filter string (``name = '...'``) and fails, so only double quotes are used;
* dataset names with spaces on metrics: metric lines are space-separated, so such a line gets
  too many fields and the whole metric (or logged model) becomes unreadable;
* trace tag keys with ``/``: the trace tag writer does not create sub-directories (ENOENT);
* experiment names that are not unique; run ids chosen by the caller (client has no such API);
* **deleted registered models** are ``rmtree``'d, so there is nothing to migrate;
* logging to deleted runs (``check_run_is_active``); deleted data is logged before deletion;
* deleted logged models are invisible to every client read API (``search_logged_models`` skips
  them, ``get_logged_model`` raises), so the comparator cannot see them either.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

T0 = 1_700_000_000_000  # fixed epoch-ms base for every timestamp the API lets us choose

LONG_PARAM = ("0123456789abcdef" * 313)[:5000]
LONG_TAG = ("lorem ipsum dolor sit amet, " * 250)[:7000]
MULTI_LINE = "first line\nsecond line\n\tindented third\r\nwindows line\n"
UNICODE_TEXT = "naïve café – 日本語 – 🚀✨ – ‘quotes’ \"double\" 'single'"

EXPERIMENT_NAMES = {
    "plain": "edge-plain",
    "unicode": "édge ünïcödé 实验 🚀",
    "quotes": 'edge "double-quoted" name  with  spaces ',
    "traces": "edge traces",
    "deleted": "edge-deleted-experiment",
}
MODEL_NAMES = {
    "main": "edge-model",
    "unicode": "modèle ünïcode 模型 🤖",
    "empty": "edge model without versions",
}


@contextlib.contextmanager
def mlflow_pointed_at(uri: str) -> Iterator[None]:
    """Point the fluent API (and tracing) at ``uri`` for the block, then restore MLflow's globals
    (tracking/registry URI, active experiment and their environment variables)."""
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service, fluent

    env_keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")
    saved_env = {key: os.environ.get(key) for key in env_keys}
    saved_tracking = _tracking_service.utils._tracking_uri
    saved_registry = _model_registry.utils._registry_uri
    saved_experiment = fluent._active_experiment_id
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.flush_trace_async_logging(terminate=False)
        mlflow.set_tracking_uri(saved_tracking)  # None restores the default resolution
        _model_registry.utils._registry_uri = saved_registry
        fluent._active_experiment_id = saved_experiment
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _frame(rows: int, offset: int = 0) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "x": [float(i + offset) for i in range(rows)],
            "label": [f"l{(i + offset) % 3}" for i in range(rows)],
        }
    )


def make_minimal_store(root: Path) -> Path:
    """Build a small FileStore at ``root/"mlruns"``: 1 experiment, 2 runs, 1 model version."""
    from mlflow.entities import Metric, Param, RunTag

    mlruns = Path(root).resolve() / "mlruns"
    mlruns.parent.mkdir(parents=True, exist_ok=True)  # mlruns itself: FileStore adds Default
    uri = mlruns.as_uri()
    with mlflow_pointed_at(uri):
        client = _client(uri)
        experiment_id = client.create_experiment("minimal", tags={"team": "tests"})
        run_ids = []
        for index in range(2):
            run = client.create_run(experiment_id, start_time=T0 + index, run_name=f"run-{index}")
            run_id = run.info.run_id
            client.log_batch(
                run_id,
                metrics=[Metric("loss", 1.0 / (step + 1), T0 + step, step) for step in range(3)],
                params=[Param("lr", "0.01"), Param("batch_size", str(32 * (index + 1)))],
                tags=[RunTag("stage", "test")],
            )
            client.set_terminated(run_id, "FINISHED", end_time=T0 + 1000 + index)
            run_ids.append(run_id)
        client.create_registered_model("minimal-model", description="the minimal model")
        client.create_model_version(
            "minimal-model",
            source=f"{client.get_run(run_ids[0]).info.artifact_uri}/model",
            run_id=run_ids[0],
        )
    return mlruns


def copy_store(mlruns: Path, root: Path) -> Path:
    """A copy of the FileStore ``mlruns`` at ``root/"mlruns"``, as if MLflow had built it there.

    Files are copied (a file copy costs milliseconds; building a store with ``MlflowClient``
    costs seconds), and the absolute locations MLflow wrote into its YAML files
    (``artifact_location``, ``artifact_uri``, ``source``) are moved to the copy.
    """
    import shutil

    target = Path(root).resolve() / "mlruns"
    shutil.copytree(mlruns, target)
    old, new = str(Path(mlruns).resolve()), str(target)
    for meta in target.rglob("*.yaml"):
        text = meta.read_text(encoding="utf-8")
        if old in text:
            stat = meta.stat()
            meta.write_text(text.replace(old, new), encoding="utf-8")
            os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # watermarks stay as built
    return target


def make_edge_store(root: Path) -> Path:
    """Build the edge-case FileStore at ``root/"mlruns"`` (see module docstring) and return it."""
    mlruns = Path(root).resolve() / "mlruns"
    mlruns.parent.mkdir(parents=True, exist_ok=True)  # mlruns itself: FileStore adds Default
    uri = mlruns.as_uri()
    with mlflow_pointed_at(uri):
        client = _client(uri)
        experiments = _make_experiments(client)
        runs = _make_runs(client, experiments)
        models = _make_logged_models(client, experiments, runs)
        _make_traces(client, experiments, runs)
        _make_registry(client, runs, models)
        _delete_things(client, experiments, runs, models)
    return mlruns


def _make_experiments(client: Any) -> dict[str, str]:
    client.get_experiment("0")  # make sure Default exists
    ids = {}
    for key, name in EXPERIMENT_NAMES.items():
        ids[key] = client.create_experiment(
            name,
            tags={
                "kind": key,
                "team/sub": "ml/platform",
                "multi": MULTI_LINE,
                "unicode": UNICODE_TEXT,
            },
        )
    client.set_experiment_tag(ids["plain"], "mlflow.note.content", "# Notes\n\nmarkdown *here*")
    client.set_experiment_tag(ids["plain"], "empty", "")
    return ids


def _make_runs(client: Any, experiments: dict[str, str]) -> dict[str, str]:
    from mlflow.entities import Metric, Param, RunTag

    plain = experiments["plain"]
    runs: dict[str, str] = {}

    def new_run(key: str, experiment_id: str, offset: int, name: str, **tags: str) -> str:
        run = client.create_run(experiment_id, start_time=T0 + offset, tags=tags, run_name=name)
        runs[key] = run.info.run_id
        return run.info.run_id

    parent = new_run("parent", plain, 0, "parent run")
    for index in range(2):
        new_run(f"child{index}", plain, 10 + index, f"child-{index}", **{"mlflow.parentRunId": parent})
    new_run("failed", plain, 20, "failed run")
    new_run("killed", plain, 30, "killed run")
    new_run("running", plain, 40, "still running")
    new_run("scheduled", plain, 50, "scheduled run")
    new_run("unicode", experiments["unicode"], 60, "rün 🚀 ünïcode 名前")
    new_run("quotes", experiments["quotes"], 70, 'it\'s "quoted"')
    new_run("deleted", plain, 80, "deleted run")
    new_run("in_deleted_exp", experiments["deleted"], 90, "run in deleted experiment")
    new_run("deleted_in_deleted_exp", experiments["deleted"], 95, "deleted run, deleted exp")
    new_run("default", "0", 100, "run in Default")

    # params and tags: long, multi-line, unicode, empty, odd keys
    edge_params = [
        Param("long", LONG_PARAM),
        Param("multi_line", MULTI_LINE),
        Param("unicode", UNICODE_TEXT),
        Param("empty", ""),
        Param("nested/key/name", "slash"),
        Param("dotted.key-name", "dots and dashes"),
        Param("key with spaces", "spaces"),
        Param("number", "0.001"),
    ]
    client.log_batch(parent, params=edge_params)
    client.log_batch(
        parent,
        tags=[
            RunTag("long", LONG_TAG),
            RunTag("multi_line", MULTI_LINE),
            RunTag("unicode", UNICODE_TEXT),
            RunTag("empty", ""),
            RunTag("nested/tag", "slash"),
            RunTag("mlflow.note.content", "run *notes*\nwith lines"),
        ],
    )
    client.set_tag(parent, "updated", "first")
    client.set_tag(parent, "updated", "second")  # tags may be overwritten
    client.delete_tag(parent, "empty")

    # metrics: special floats, odd steps, duplicates
    special = [
        ("special", math.nan),
        ("special", math.inf),
        ("special", -math.inf),
        ("special", 0.0),
        ("special", -0.0),
        ("special", 1e-300),
        ("special", 5e-324),
        ("special", 1.7976931348623157e308),
        ("special", -1.7976931348623157e308),
        ("special", -42.5),
        ("special", 0.1 + 0.2),
    ]
    points = [Metric(key, value, T0 + index, index) for index, (key, value) in enumerate(special)]
    points += [
        Metric("only_nan", math.nan, T0, 0),
        Metric("only_inf", math.inf, T0, 0),
        Metric("only_neg_inf", -math.inf, T0, 0),
        Metric("negative_step", 1.0, T0, -5),
        Metric("negative_step", 2.0, T0 + 1, -1),
        Metric("big_step", 3.0, T0, 2**53),
        Metric("big_step", 4.0, T0 + 1, 2**62),
        Metric("dup_step", 1.0, T0 + 5, 7),
        Metric("dup_step", 2.0, T0 + 5, 7),  # same step and timestamp, other value
        Metric("dup_step", 3.0, T0 + 9, 7),  # same step, later timestamp
        Metric("dup_step", 0.5, T0 + 1, 7),  # same step, earlier timestamp
        Metric("exact_dup", 1.5, T0, 1),
        Metric("exact_dup", 1.5, T0, 1),  # the FileStore keeps exact duplicates
        Metric("loss/train", 0.5, T0, 0),
        Metric("loss/val", 0.6, T0, 0),
        Metric("acc.top-1", 0.9, T0, 0),
        Metric("metric with spaces", 1.0, T0, 0),
        Metric("zero_ts", 1.0, 0, 0),
    ]
    client.log_batch(parent, metrics=points)
    series = [Metric("long_series", math.sin(step / 10.0), T0 + step * 37, step) for step in range(1000)]
    for start in range(0, len(series), 1000):
        client.log_batch(runs["child0"], metrics=series[start : start + 1000])
    client.log_metric(runs["child0"], "single", 7.0, timestamp=T0, step=0)

    # a few ordinary values in every run, so every run has data
    for offset, (key, run_id) in enumerate(sorted(runs.items())):
        client.log_batch(
            run_id,
            metrics=[Metric("m", float(offset), T0 + offset, 0)],
            params=[Param("run_key", key)],
            tags=[RunTag("run_key", key)],
        )

    # datasets and inputs (fluent log_input writes datasets/ and inputs/)
    import mlflow

    train = mlflow.data.from_pandas(_frame(20), name="train-set", targets="label")
    evaluation = mlflow.data.from_pandas(_frame(5, offset=100), name="eval-ünïcode-set")
    with mlflow.start_run(run_id=parent):
        mlflow.log_input(train, context="training", tags={"source": "unit-test", "split": "a/b"})
        mlflow.log_input(evaluation, context="evaluation")
        # run metrics tied to a dataset: 5-field metric lines
        mlflow.log_metric("eval_loss", 0.25, step=3, timestamp=T0 + 3, dataset=evaluation)
        mlflow.log_metric("eval_loss", 0.20, step=4, timestamp=T0 + 4, dataset=evaluation)
    with mlflow.start_run(run_id=runs["child1"]):
        mlflow.log_input(train, context="training")  # the same dataset in a second run

    # statuses: "running" stays RUNNING with no end time
    client.set_terminated(parent, "FINISHED", end_time=T0 + 10_000)
    for index in range(2):
        client.set_terminated(runs[f"child{index}"], "FINISHED", end_time=T0 + 5_000 + index)
    client.set_terminated(runs["failed"], "FAILED", end_time=T0 + 20_020)
    client.set_terminated(runs["killed"], "KILLED", end_time=T0 + 30_030)
    client.update_run(runs["scheduled"], status="SCHEDULED")
    for key in ("unicode", "quotes", "deleted", "in_deleted_exp", "default"):
        client.set_terminated(runs[key], "FINISHED", end_time=T0 + 99_000)
    client.update_run(runs["unicode"], name="rün 🚀 renamed ✨")
    return runs


def _make_logged_models(client: Any, experiments: dict[str, str], runs: dict[str, str]) -> dict[str, str]:
    import mlflow
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    plain = experiments["plain"]
    parent = runs["parent"]
    models: dict[str, str] = {}
    ready = client.create_logged_model(
        experiment_id=plain,
        name="edge-logged-model",
        source_run_id=parent,
        tags={"framework": "none", "multi": MULTI_LINE},
        params={"alpha": "0.5", "long": LONG_PARAM[:3000]},
        model_type="agent",
    )
    models["ready"] = ready.model_id
    client.log_model_params(ready.model_id, {"beta": "2", "nested/param": "x"})
    client.set_logged_model_tags(ready.model_id, {"unicode": UNICODE_TEXT, "stage": "prod"})
    client.log_metric(parent, "model_acc", 0.9, timestamp=T0 + 1, step=1, model_id=ready.model_id)
    client.log_metric(
        parent,
        "model_acc",
        0.95,
        timestamp=T0 + 2,
        step=2,
        model_id=ready.model_id,
        dataset_name="eval-ünïcode-set",
        dataset_digest="abc123",
    )
    client.log_metric(parent, "model_nan", math.nan, timestamp=T0, step=0, model_id=ready.model_id)
    client.finalize_logged_model(ready.model_id, "READY")

    failed = client.create_logged_model(experiment_id=plain, name="failed-model")
    models["failed"] = failed.model_id
    client.finalize_logged_model(failed.model_id, "FAILED")
    pending = client.create_logged_model(
        experiment_id=experiments["unicode"], name="pending mödel", source_run_id=runs["unicode"]
    )
    models["pending"] = pending.model_id
    doomed = client.create_logged_model(experiment_id=plain, name="deleted-model")
    models["deleted"] = doomed.model_id
    client.finalize_logged_model(doomed.model_id, "READY")

    external = mlflow.create_external_model(
        name="external-model", experiment_id=plain, tags={"external": "yes"}
    )
    models["external"] = external.model_id

    client.log_outputs(parent, [LoggedModelOutput(ready.model_id, step=3)])
    client.log_outputs(runs["child0"], [LoggedModelOutput(failed.model_id, step=0)])
    client.log_inputs(runs["child1"], models=[LoggedModelInput(ready.model_id)])
    return models


def _make_traces(client: Any, experiments: dict[str, str], runs: dict[str, str]) -> None:
    import mlflow
    from mlflow.entities import AssessmentError, AssessmentSource

    trace_ids: list[str] = []

    @mlflow.trace(name="edge_tool", span_type="TOOL", attributes={"tool": "calculator"})
    def tool(value: int) -> int:
        return value * 2

    @mlflow.trace(name="edge_agent", span_type="AGENT")
    def agent(question: str) -> dict[str, Any]:
        mlflow.update_current_trace(
            tags={"team": "edge", "unicode": UNICODE_TEXT},
            metadata={"custom.meta": "value"},
            client_request_id="req-001",
        )
        with mlflow.start_span(name="retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": question})
            span.set_attribute("docs", 3)
            span.set_outputs([{"doc": "a"}, {"doc": "b ünïcode"}])
        return {"answer": tool(21), "question": question}

    mlflow.set_experiment(experiment_id=experiments["traces"])
    agent("what is 6 × 7? 🤔")
    trace_ids.append(mlflow.get_last_active_trace_id())

    @mlflow.trace(name="failing")
    def failing() -> None:
        raise ValueError("boom\nmulti-line error")

    with contextlib.suppress(ValueError):
        failing()
    trace_ids.append(mlflow.get_last_active_trace_id())

    # a trace logged inside a run, in another experiment
    mlflow.set_experiment(experiment_id=experiments["plain"])
    with mlflow.start_run(run_id=runs["child0"]):
        agent("inside a run")
        trace_ids.append(mlflow.get_last_active_trace_id())
    client.set_terminated(runs["child0"], "FINISHED", end_time=T0 + 5_000)
    mlflow.flush_trace_async_logging(terminate=False)  # traces are exported asynchronously

    first = trace_ids[0]
    client.set_trace_tag(first, "set.by.client", "yes")
    client.set_trace_tag(first, "to-delete", "x")
    client.delete_trace_tag(first, "to-delete")
    mlflow.log_feedback(
        trace_id=first,
        name="correctness",
        value=True,
        rationale="matches the expected answer",
        source=AssessmentSource(source_type="HUMAN", source_id="reviewer@example.com"),
        metadata={"round": "1"},
    )
    mlflow.log_feedback(
        trace_id=first,
        name="score",
        value=0.75,
        source=AssessmentSource(source_type="LLM_JUDGE", source_id="judge-v1"),
    )
    mlflow.log_feedback(
        trace_id=first,
        name="judge_failed",
        error=AssessmentError(error_code="RATE_LIMIT", error_message="too many requests"),
        source=AssessmentSource(source_type="LLM_JUDGE", source_id="judge-v1"),
    )
    mlflow.log_expectation(
        trace_id=first,
        name="expected_answer",
        value={"answer": 42, "units": None},
        source=AssessmentSource(source_type="HUMAN", source_id="labeler"),
    )
    mlflow.log_feedback(
        trace_id=trace_ids[2],
        name="helpful",
        value="yes",
        source=AssessmentSource(source_type="CODE", source_id="rule"),
    )


def _make_registry(client: Any, runs: dict[str, str], models: dict[str, str]) -> None:
    main = MODEL_NAMES["main"]
    client.create_registered_model(
        main,
        tags={"owner": "edge", "multi": MULTI_LINE},
        description="Main edge model.\nSecond line, ünïcode 🚀",
    )
    parent_uri = client.get_run(runs["parent"]).info.artifact_uri
    versions = []
    for index in range(4):
        run_id = runs["parent"] if index % 2 == 0 else runs["child0"]
        version = client.create_model_version(
            main,
            source=f"{client.get_run(run_id).info.artifact_uri}/model-{index}",
            run_id=run_id,
            tags={"index": str(index), "nested/tag": "v"},
            description=f"version {index + 1}" if index != 1 else None,
        )
        versions.append(version.version)
    with warnings.catch_warnings():  # stages are deprecated, but old stores are full of them
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(main, versions[0], "Archived")
        client.transition_model_version_stage(main, versions[1], "Production")
        client.transition_model_version_stage(main, versions[2], "Staging")
    client.set_model_version_tag(main, versions[3], "late", "tag")
    client.update_model_version(main, versions[3], description="updated description")
    client.set_registered_model_alias(main, "champion", versions[1])
    client.set_registered_model_alias(main, "challenger", versions[3])
    client.set_registered_model_alias(main, "doomed", versions[2])
    client.delete_model_version(main, versions[2])  # gap in numbering; removes alias 'doomed'
    client.set_registered_model_tag(main, "late", "set after versions")

    unicode_name = MODEL_NAMES["unicode"]
    client.create_registered_model(unicode_name, description="ünïcode model")
    client.create_model_version(
        unicode_name,
        source=f"{parent_uri}/unicode model",
        run_id=runs["parent"],
        tags={"unicode": UNICODE_TEXT},
    )
    linked = client.create_model_version(
        unicode_name,
        source=f"models:/{models['ready']}",
        run_id=runs["parent"],
        model_id=models["ready"],
    )
    client.set_registered_model_alias(unicode_name, "prod-ready_1", linked.version)
    client.create_registered_model(MODEL_NAMES["empty"])


def _delete_things(
    client: Any, experiments: dict[str, str], runs: dict[str, str], models: dict[str, str]
) -> None:
    client.delete_run(runs["deleted"])
    client.delete_run(runs["deleted_in_deleted_exp"])
    client.delete_experiment(experiments["deleted"])
    client.delete_logged_model(models["deleted"])
