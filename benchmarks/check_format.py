"""Check that a generated FileStore's YAML files look exactly like the real client's.

Builds a tiny store with the real MLflow client, covering every kind of YAML file that
``generate_store.py`` writes (experiment, deleted experiment, runs by lifecycle and status,
dataset, input, logged model, trace info, assessment, registered model, model version),
and compares, per kind, the keys and the types of their values.

    .venv/bin/python benchmarks/check_format.py STORE
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml


def yaml_shapes(root: Path) -> dict[str, dict[str, set[str]]]:
    """For each kind of YAML file in a store, the keys seen and the types of their values."""
    shapes: dict[str, dict[str, set[str]]] = {}
    for path in root.rglob("*.yaml"):
        parts = path.relative_to(root).parts
        if parts[0] == ".trash":
            parts = ("<trash>",) + parts[2:]
        data = yaml.safe_load(path.read_text())
        n = len(parts)
        if parts[0] == "models":
            kind = "registered_model" if n == 3 else "model_version"
        elif n == 2:
            kind = "deleted_experiment" if parts[0] == "<trash>" else "experiment"
        elif parts[-1] == "trace_info.yaml":
            kind = "trace_info"
        elif "assessments" in parts:
            kind = "assessment"
        elif parts[1] == "datasets":
            kind = "dataset"
        elif parts[1] == "models":
            kind = "logged_model"
        elif "inputs" in parts:
            kind = "input"
        elif n == 3:
            status = {1: "running", 3: "finished", 4: "failed"}.get(data.get("status"), "other")
            kind = f"run_{data.get('lifecycle_stage')}_{status}"
        else:
            kind = "other"
        keys = shapes.setdefault(kind, {})
        for key, value in data.items():
            keys.setdefault(key, set()).add(type(value).__name__)
    return shapes


def build_client_reference(root: Path) -> None:
    """A tiny store made by the real client, covering every YAML kind the generator writes."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import warnings

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Dataset, DatasetInput, InputTag

    uri = root.as_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("reference", tags={"team": "a"})
    finished = client.create_run(exp).info.run_id
    dataset = Dataset("d", "0123abcd", "local", '{"uri": "/x"}', '{"mlflow_colspec": []}', "{}")
    client.log_inputs(finished, [DatasetInput(dataset, [InputTag("mlflow.data.context", "t")])])
    client.set_terminated(finished)
    failed = client.create_run(exp).info.run_id
    client.set_terminated(failed, status="FAILED")
    client.create_run(exp)  # left RUNNING
    deleted = client.create_run(exp).info.run_id
    client.set_terminated(deleted)
    client.delete_run(deleted)
    client.create_logged_model(exp, name="lm", source_run_id=finished, model_type="classifier")
    client.create_registered_model("rm", tags={"a": "b"}, description="d")
    client.create_model_version("rm", f"runs:/{finished}/model", run_id=finished)
    client.set_registered_model_alias("rm", "champion", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage("rm", "1", "Staging")
    mlflow.set_experiment(experiment_id=exp)

    @mlflow.trace
    def answer(question: str) -> str:
        return "42"

    answer("?")
    mlflow.flush_trace_async_logging()
    mlflow.log_feedback(trace_id=mlflow.get_last_active_trace_id(), name="helpful", value=True, rationale="r")
    gone = client.create_experiment("gone", tags={"t": "v"})
    client.set_terminated(client.create_run(gone).info.run_id)
    client.delete_experiment(gone)


def check_format(root: Path) -> list[str]:
    """Compare the generated YAML files with those the real client writes (keys and types)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlruns-ref-") as tmp:
        reference_root = Path(tmp) / "mlruns"
        build_client_reference(reference_root)
        reference = yaml_shapes(reference_root)
    generated = yaml_shapes(root)
    problems = []
    for kind, ref_keys in sorted(reference.items()):
        if kind not in generated:  # e.g. no RUNNING run in a small store: nothing to compare
            continue
        gen_keys = generated[kind]
        if set(ref_keys) != set(gen_keys):
            problems.append(
                f"{kind}: keys differ: client-only {sorted(set(ref_keys) - set(gen_keys))}, "
                f"generator-only {sorted(set(gen_keys) - set(ref_keys))}"
            )
        for key in set(ref_keys) & set(gen_keys):
            ref_types = ref_keys[key] - {"NoneType"}
            if ref_types and not (gen_keys[key] - {"NoneType"}) <= ref_types:
                problems.append(f"{kind}.{key}: types {gen_keys[key]} vs client {ref_keys[key]}")
    for kind in sorted(set(generated) - set(reference)):
        problems.append(f"{kind}: written by the generator, not covered by the client reference")
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check_format(Path(sys.argv[1]).resolve())
    for problem in problems:
        print(f"FORMAT PROBLEM: {problem}")
    print("same YAML keys and types as the real client" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
