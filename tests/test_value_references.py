"""Experiment ids held inside values (``mlmigrate.references``): rewritten when an experiment's
id changes, checked by verify, and listed in docs/semantics.md from the same table."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from cli_helpers import execute
from mlflow_compare import normalize_uri

import mlmigrate
from mlmigrate import references
from mlmigrate.references import ReferenceCheck, referenced, remap, semantics_section

ID_MAP = {"123456789012345678": "1", "876543210987654321": "2"}


def test_a_prompts_comma_list_of_experiments_is_rewritten_only_in_its_tag() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "key": ["_mlflow_experiment_ids", "other", "_mlflow_experiment_ids", "_mlflow_experiment_ids"],
            "value": [
                ",123456789012345678,876543210987654321,",
                ",123456789012345678,",
                None,
                ",9,876543210987654321,",
            ],
        }
    )
    out = remap("registered_model_tags", batch, ID_MAP)
    assert out.column("value").to_pylist() == [",1,2,", ",123456789012345678,", None, ",9,2,"]
    assert referenced("registered_model_tags", out) == {references.REFERENCES[0]: {"1", "2", "9"}}
    sliced = remap("registered_model_tags", batch.slice(2), ID_MAP)  # offsets not starting at 0
    assert sliced.column("value").to_pylist() == [None, ",9,2,"]


def test_an_experiment_id_inside_span_json_and_job_params_is_rewritten() -> None:
    content = '{"attributes": {"mlflow.experimentId": "\\"123456789012345678\\"", "x": "\\"y\\""}}'
    spans = pa.RecordBatch.from_pydict({"content": [content, "{}", None]})
    assert remap("spans", spans, ID_MAP).column("content").to_pylist() == [
        '{"attributes": {"mlflow.experimentId": "\\"1\\"", "x": "\\"y\\""}}',
        "{}",
        None,
    ]
    jobs = pa.RecordBatch.from_pydict({"params": ['{"experiment_id": "876543210987654321", "n": 1}', "{}"]})
    assert remap("jobs", jobs, ID_MAP).column("params").to_pylist() == [
        '{"experiment_id": "2", "n": 1}',
        "{}",
    ]


def test_entity_associations_rewrite_only_experiment_ends() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "source_type": ["dataset", "experiment"],
            "source_id": ["123456789012345678", "123456789012345678"],
            "destination_type": ["experiment", "dataset"],
            "destination_id": ["876543210987654321", "d-1"],
        }
    )
    out = remap("entity_associations", batch, ID_MAP)
    assert out.column("source_id").to_pylist() == ["123456789012345678", "1"]
    assert out.column("destination_id").to_pylist() == ["2", "d-1"]


def test_semantics_section_is_generated_from_the_table() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "semantics.md").read_text()
    assert semantics_section() in docs, "regenerate it: python -m mlmigrate.references"
    for reference in references.REFERENCES:
        assert f"`{reference.table}` | `{reference.column}`" in docs


def test_reference_check_names_missing_experiments() -> None:
    check = ReferenceCheck()
    batch = pa.RecordBatch.from_pydict({"key": ["_mlflow_experiment_ids"], "value": [",1,5,"]})
    assert list(check.watch("registered_model:p", iter([("registered_model_tags", batch)])))
    (problem,), [] = check.missing({"experiment": {"1"}})
    assert problem["unit"] == "registered_model:p" and "5" in problem["problem"]
    assert check.missing({"experiment": {"1", "5"}}) == ([], [])
    assert check.missing({"experiment": None}) == ([], [])  # ids not listed: not checked
    # the source's values held 5 too, and 5 is no experiment of the source: copied as it was
    [], (dangling,) = check.missing({"experiment": {"1"}}, source=check, known={"experiment": {"1"}})
    assert "nor does the source" in dangling["problem"]
    # a source experiment: not copied
    assert check.missing({"experiment": {"1"}}, source=check, known={"experiment": {"1", "5"}})[0]
    # not the source's value
    assert check.missing({"experiment": {"1"}}, source=check.only(set()), known={"experiment": {"1"}})[0]


def _prompt_store(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """A FileStore with two prompts, each linked to two experiments by the real client."""
    import mlflow
    import mlflow.genai
    from mlflow import MlflowClient

    uri = str(root / "mlruns")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [client.create_experiment("prompts-a"), client.create_experiment("prompts-b")]
    # the fluent API's process-wide choices, which an earlier test may have made, win over the
    # environment: clear them for this test (the prompts were linked to another test's experiment)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    monkeypatch.setattr(mlflow.tracking._model_registry.utils, "_registry_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for experiment_id in experiments:
        monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
        for name in ("greeting", "farewell"):
            if experiment_id == experiments[0]:
                mlflow.genai.register_prompt(name=name, template=f"{name} {{{{who}}}}")
            else:
                mlflow.genai.load_prompt(f"prompts:/{name}/1")
            for thread in threading.enumerate():  # the client links prompts on a thread of its own
                if thread.name.startswith("link_prompt_to_experiment_thread"):
                    thread.join()
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    client.create_prompt("orphan")  # linked to an experiment that is gone (``mlflow gc``)
    client.set_prompt_tag("orphan", "_mlflow_experiment_ids", ",424242,")
    for name in ("greeting", "farewell"):
        tag = client.get_prompt(name).tags["_mlflow_experiment_ids"]
        assert tag == f",{experiments[0]},{experiments[1]},", tag
    return uri, experiments


@pytest.mark.parametrize("database", ["postgresql", "mysql"])
def test_prompts_linked_to_remapped_experiments_are_found_in_the_database(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from mlflow import MlflowClient

    destination_uri = request.getfixturevalue("postgres_db" if database == "postgresql" else "mysql_db")
    source, experiments = _prompt_store(tmp_path, monkeypatch)
    report = mlmigrate.copy(source, destination_uri).as_dict()
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    (dangling,) = report["verify"]["dangling_in_source"]  # copied as it was, and said
    assert dangling["unit"] == "registered_model:orphan" and "424242" in dangling["problem"]
    id_map = report["experiment_id_map"]
    assert set(experiments) <= set(id_map), id_map  # 18-digit FileStore ids do not fit: remapped
    client_uri = normalize_uri(destination_uri)  # the driver MLflow finds installed
    destination = MlflowClient(tracking_uri=client_uri, registry_uri=client_uri)
    for old in experiments:
        new = id_map[old]
        found = destination.search_prompts(filter_string=f"experiment_id = '{new}'")
        assert sorted(prompt.name for prompt in found) == ["farewell", "greeting"], new
    result = mlmigrate.verify(source, destination_uri)
    assert result.ok and [d["unit"] for d in result.dangling_in_source] == ["registered_model:orphan"]

    execute(
        destination_uri,
        "UPDATE registered_model_tags SET value = ',999999999,' "
        "WHERE name = 'greeting' AND value LIKE ',%,'",  # the link tag (key is reserved in MySQL)
    )
    result = mlmigrate.verify(source, destination_uri)
    assert not result.ok
    named = [m for m in result.mismatches if "999999999" in m["problem"]]
    assert named and named[0]["table"] == "registered_model_tags", result.mismatches


def test_span_and_prompt_references_follow_an_id_taken_in_the_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite → SQLite where the destination already uses the source's experiment id: the
    experiment gets another id, and the root span's ``mlflow.experimentId`` attribute (in the
    global ``spans`` table) and the prompt's tag follow it."""
    import mlflow
    import mlflow.genai
    from cli_helpers import query, sqlite_uri
    from mlflow import MlflowClient

    source, destination = sqlite_uri(tmp_path / "source.db"), sqlite_uri(tmp_path / "destination.db")
    MlflowClient(destination).create_experiment("already-here")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", source)
    experiment_id = MlflowClient(source).create_experiment("traced")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    mlflow.start_span_no_context("root", experiment_id=experiment_id).end()
    mlflow.flush_trace_async_logging()
    mlflow.genai.register_prompt(name="asked", template="hi {{who}}")
    for thread in threading.enumerate():
        if thread.name.startswith("link_prompt_to_experiment_thread"):
            thread.join()
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")

    report = mlmigrate.copy(source, destination).as_dict()
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    new = report["experiment_id_map"][experiment_id]
    assert new != experiment_id
    (content,) = query(destination, "SELECT content FROM spans")[0]
    assert f'"mlflow.experimentId": "\\"{new}\\""' in content, content
    found = MlflowClient(destination).search_prompts(filter_string=f"experiment_id = '{new}'")
    assert [prompt.name for prompt in found] == ["asked"]
    assert mlmigrate.verify(source, destination).ok


def _nested_store(root: Path) -> tuple[str, str, str]:
    """A FileStore with a parent run, its nested child and a model version registered from a
    run of another server, by the real client: (uri, parent run id, that foreign run id)."""
    from mlflow import MlflowClient

    uri = str(root / "mlruns")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("nested")
    parent = client.create_run(experiment, run_name="parent").info.run_id
    client.log_metric(parent, "loss", 0.5, step=1)
    child = client.create_run(experiment, run_name="child", tags={"mlflow.parentRunId": parent}).info.run_id
    client.set_terminated(child)
    foreign = "f" * 32
    client.create_registered_model("elsewhere")
    client.create_model_version("elsewhere", f"runs:/{foreign}/model", run_id=foreign)
    return uri, parent, foreign


def test_a_child_of_a_run_left_out_is_a_mismatch_and_a_foreign_run_dangled_in_the_source(
    tmp_path: Path,
) -> None:
    """Run ids are kept, so values holding them are copied as they are; verify checks that each
    names a run the destination holds (copy and ``verify`` alike)."""
    from cli_helpers import execute, sqlite_uri

    source, parent, foreign = _nested_store(tmp_path)
    clean = sqlite_uri(tmp_path / "clean.db")
    report = mlmigrate.copy(source, clean).as_dict()
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    (dangling,) = report["verify"]["dangling_in_source"]
    assert dangling["unit"] == "registered_model:elsewhere" and foreign in dangling["problem"], dangling
    assert mlmigrate.verify(source, clean).ok

    for table in ("latest_metrics", "metrics", "tags", "params"):  # the parent goes from the copy
        execute(clean, f"DELETE FROM {table} WHERE run_uuid = '{parent}'")
    execute(clean, f"DELETE FROM runs WHERE run_uuid = '{parent}'")
    result = mlmigrate.verify(source, clean)
    named = [m for m in result.mismatches if parent in m["problem"] and "mlflow.parentRunId" in m["problem"]]
    assert named and named[0]["table"] == "tags", result.mismatches

    metric = next((tmp_path / "mlruns").glob(f"*/{parent}/metrics/loss"))
    metric.write_text("not a metric line\n")  # the parent is left out by --on-error skip
    skipped = sqlite_uri(tmp_path / "skipped.db")
    report = mlmigrate.copy(source, skipped, on_error="skip").as_dict()
    assert [r["run"] for r in report["rejected_runs"]] == [parent], report["rejected_runs"]
    assert report["verify"]["ok"], report["verify"]  # the copy left the parent out on purpose: said
    (said,) = [d for d in report["verify"]["dangling_left_out"] if parent in d["problem"]]
    assert said["table"] == "tags" and "run(s)" in said["problem"], said
    result = mlmigrate.verify(source, skipped)
    assert result.ok and [d["table"] for d in result.dangling_left_out] == ["tags"], result.as_dict()
