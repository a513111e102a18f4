"""Generate a large, realistic MLflow 3.17 FileStore (``mlruns/``) for benchmarks.

The files are written directly, in exactly the layout and formats the real MLflow 3.17
client writes (checked against stores made with ``MlflowClient``), which is far faster
than logging through the client. At the end a sample is read back through the real
``MlflowClient`` so the store is known to be readable.

    .venv/bin/python benchmarks/generate_store.py --out /tmp/mlruns

Defaults: 20 experiments x 25 runs = 500 runs, 6 metric keys x 200 points per run
(600,000 metric points), 20 params and 10 tags per run, 2 datasets per experiment,
1 logged model per experiment, 20 registered models x 3 versions, 200 traces, and
one extra deleted experiment (in ``.trash/``).

What it contains, beyond the plain counts:

* nested runs (``mlflow.parentRunId``), soft-deleted runs, FAILED and RUNNING runs;
* NaN, inf and -inf metric values, a metric key with ``/`` (a sub-directory);
* a multi-line tag value, a long (2 KB) param value;
* dataset inputs with ``mlflow.data.context`` tags;
* traces with tags, request metadata, spans (``artifacts/traces.json``) and assessments;
* registered models with tags, aliases, and versions in every stage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

try:  # same output as yaml.safe_dump (which MLflow uses), only faster
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper

T0 = 1_700_000_000_000  # ms; first run start time

METRIC_KEYS = [
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "system/gpu_utilization_percentage",
    "f1",
    "precision",
    "recall",
    "grad_norm",
]
PARAM_NAMES = [
    "learning_rate",
    "batch_size",
    "epochs",
    "optimizer",
    "weight_decay",
    "dropout",
    "hidden_size",
    "num_layers",
    "activation",
    "seed",
    "warmup_steps",
    "scheduler",
    "momentum",
    "max_grad_norm",
    "label_smoothing",
    "model_name",
    "tokenizer",
    "max_length",
    "data_version",
    "config",
]
USERS = ["alice", "bob", "carol", "dave"]
STAGES = ["None", "Staging", "Production", "Archived"]


@dataclass
class Counts:
    """Entries written per entity, named after the MLflow SQL table each maps to.

    MLflow's own SQL store turns some of them into columns instead of rows: the
    ``mlflow.traceName`` trace tag becomes ``trace_info.trace_name``, and the
    ``mlflow.trace.session`` / ``tokenUsage`` / ``cost`` metadata become ``trace_info``
    columns, so ``mlflow migrate-filestore`` reports fewer trace_tags/metadata rows.
    """

    experiments: int = 0
    experiment_tags: int = 0
    runs: int = 0
    params: int = 0
    tags: int = 0
    metrics: int = 0
    latest_metrics: int = 0
    datasets: int = 0
    inputs: int = 0
    input_tags: int = 0
    logged_models: int = 0
    logged_model_params: int = 0
    logged_model_tags: int = 0
    trace_info: int = 0
    trace_tags: int = 0
    trace_request_metadata: int = 0
    assessments: int = 0
    registered_models: int = 0
    registered_model_tags: int = 0
    registered_model_aliases: int = 0
    model_versions: int = 0
    model_version_tags: int = 0
    sample: dict = field(default_factory=dict, repr=False)  # what validate() checks

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "sample"}


def write_yaml(directory: Path, data: dict, name: str = "meta.yaml") -> None:
    """Write like ``mlflow.utils.file_utils.write_yaml`` (sorted keys, block style)."""
    text = yaml.dump(data, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=True)
    (directory / name).write_text(text, encoding="utf-8")


def write_kv(directory: Path, items: dict[str, str]) -> None:
    """One file per key, the value as the whole content (no newline); '/' in a key nests."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in items.items():
        path = directory / key
        if "/" in key:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value, encoding="utf-8")


def md5_hex(*parts: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def iso_ms(ms: int) -> str:
    """Timestamp as MLflow writes it in trace_info.yaml: '2026-11-22T08:21:33.108Z'."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class Generator:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root = root
        self.uri = root.as_uri()
        self.args = args
        self.rng = random.Random(args.seed)
        self.counts = Counts()
        self.finished_runs: list[tuple[str, str]] = []  # (experiment_id, run_id)

    def uuid_hex(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex

    def experiment_id(self) -> str:
        """18 digits, no leading zero, like ``_generate_unique_integer_id``."""
        return str(self.rng.randint(10**17, 10**18 - 1))

    def run(self) -> Counts:
        a = self.args
        self.root.mkdir(parents=True)
        (self.root / ".trash").mkdir()
        self.write_experiment("0", "Default", {}, deleted=False, runs=0, traces=0, created=T0 - 10_000)
        for e in range(a.experiments):
            traces = a.traces // a.experiments + (1 if e < a.traces % a.experiments else 0)
            self.write_experiment(
                self.experiment_id(),
                f"experiment-{e:03d}",
                {
                    "team": USERS[e % len(USERS)],
                    "project": f"project-{e % 5}",
                    "mlflow.note.content": f"Benchmark experiment {e}\nGenerated.",
                },
                deleted=False,
                runs=a.runs,
                traces=traces,
                created=T0 + e * 1_000_000,
            )
        for e in range(a.deleted_experiments):
            self.write_experiment(
                self.experiment_id(),
                f"deleted-experiment-{e:03d}",
                {"team": "trash"},
                deleted=True,
                runs=max(1, a.runs // 5),
                traces=0,
                created=T0 - 5_000_000,
            )
        self.write_registry()
        return self.counts

    def write_experiment(
        self,
        exp_id: str,
        name: str,
        tags: dict,
        *,
        deleted: bool,
        runs: int,
        traces: int,
        created: int,
    ) -> None:
        a = self.args
        exp_dir = (self.root / ".trash" / exp_id) if deleted else (self.root / exp_id)
        exp_dir.mkdir()
        meta = {
            "artifact_location": f"{self.uri}/{exp_id}",
            "creation_time": created,
            "effective_trace_archival_retention": None,
            "experiment_id": exp_id,
            "last_update_time": created + (500 if deleted else 0),
            "lifecycle_stage": "deleted" if deleted else "active",
            "name": name,
            "trace_location": None,
            "workspace": "default",
        }
        if deleted:  # delete_experiment rewrites meta via dict(experiment): tags inline too
            meta["tags"] = dict(tags)
        write_yaml(exp_dir, meta)
        if tags:
            write_kv(exp_dir / "tags", tags)
        self.counts.experiments += 1
        self.counts.experiment_tags += len(tags)
        if exp_id == "0":
            return

        datasets = [self.write_dataset(exp_dir, exp_id, d) for d in range(a.datasets)]
        parent_id = None
        run_ids = []
        for r in range(runs):
            nested = parent_id is not None and r % 5 != 0
            run_id = self.write_run(
                exp_dir,
                exp_id,
                r,
                start=created + 1000 + r * 60_000,
                parent=parent_id if nested else None,
                datasets=datasets,
                experiment_deleted=deleted,
            )
            run_ids.append(run_id)
            if r % 5 == 0:
                parent_id = run_id
        if a.logged_models and run_ids:
            for m in range(a.logged_models):
                self.write_logged_model(exp_dir, exp_id, run_ids[m % len(run_ids)], created + m)
        for t in range(traces):
            self.write_trace(exp_dir, exp_id, created + 10_000_000 + t * 7_000)

    def write_dataset(self, exp_dir: Path, exp_id: str, d: int) -> tuple[str, str]:
        name = f"dataset-{exp_id[-4:]}-{d}"
        digest = md5_hex(name)[:8]
        dataset_id = md5_hex(name, digest)
        ds_dir = exp_dir / "datasets" / dataset_id
        ds_dir.mkdir(parents=True)
        schema = {"mlflow_colspec": [{"type": "double", "name": f"f{i}"} for i in range(8)]}
        write_yaml(
            ds_dir,
            {
                "digest": digest,
                "name": name,
                "profile": json.dumps({"num_rows": 1000 * (d + 1), "num_elements": 8000}),
                "schema": json.dumps(schema),
                "source": json.dumps({"uri": f"s3://bench-data/{name}.parquet"}),
                "source_type": "s3",
            },
        )
        self.counts.datasets += 1
        return dataset_id, name

    def write_run(
        self,
        exp_dir: Path,
        exp_id: str,
        r: int,
        *,
        start: int,
        parent: str | None,
        datasets: list[tuple[str, str]],
        experiment_deleted: bool,
    ) -> str:
        a, rng = self.args, self.rng
        run_id = self.uuid_hex()
        run_dir = exp_dir / run_id
        run_dir.mkdir()
        run_name = f"run-{r:03d}-{run_id[:6]}"
        status = 3  # FINISHED
        if r % 17 == 16:
            status = 4  # FAILED
        elif r % 23 == 22:
            status = 1  # RUNNING
        soft_deleted = experiment_deleted or (a.deleted_runs and r % a.deleted_runs == a.deleted_runs - 1)
        points = a.metric_points
        end = None if status == 1 else start + points * 100 + 5_000
        meta = {
            "artifact_uri": f"{self.uri}/{exp_id}/{run_id}/artifacts",
            "end_time": end,
            "entry_point_name": "",
            "experiment_id": exp_id,
            "lifecycle_stage": "deleted" if soft_deleted else "active",
            "run_id": run_id,
            "run_name": run_name,
            "source_name": "",
            "source_type": 4,
            "source_version": "",
            "start_time": start,
            "status": status,
            "tags": [],
            "user_id": USERS[r % len(USERS)],
        }
        # create_run writes deleted_time: null, but setting the mlflow.runName tag right
        # after rewrites meta.yaml without it; only delete_run/delete_experiment set it.
        if soft_deleted:
            meta["deleted_time"] = (end or start) + 60_000
        write_yaml(run_dir, meta)
        (run_dir / "artifacts").mkdir()

        params = {}
        for p in range(a.params):
            pname = PARAM_NAMES[p % len(PARAM_NAMES)] + ("" if p < len(PARAM_NAMES) else f"_{p}")
            params[pname] = self.param_value(pname, r, p)
        write_kv(run_dir / "params", params)

        tags = {
            "mlflow.runName": run_name,
            "mlflow.user": meta["user_id"],
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
            "mlflow.source.git.commit": md5_hex(exp_id, str(r // 10)) + "abcdef12",
        }
        if parent:
            tags["mlflow.parentRunId"] = parent
        extra = ["team", "priority", "stage", "notes", "ticket", "framework", "gpu", "host"]
        i = 0
        while len(tags) < a.tags:
            key = extra[i] if i < len(extra) else f"tag_{i}"
            if key == "notes":
                value = f"line one of run {r}\nline two: {rng.random():.3f}\n"
            else:
                value = f"{key}-{rng.randint(0, 9)}"
            tags[key] = value
            i += 1
        write_kv(run_dir / "tags", tags)

        metrics_dir = run_dir / "metrics"
        metrics_dir.mkdir()
        for k in range(a.metrics):
            key = METRIC_KEYS[k % len(METRIC_KEYS)] + ("" if k < len(METRIC_KEYS) else f"_{k}")
            lines = self.metric_lines(key, r, k, start, points)
            path = metrics_dir / key
            if "/" in key:
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(lines)
        if a.metrics and points:
            self.counts.latest_metrics += a.metrics

        for d, (dataset_id, _name) in enumerate(datasets[: 1 + (r % 2)]):
            input_dir = run_dir / "inputs" / md5_hex(dataset_id, run_id)
            input_dir.mkdir(parents=True)
            write_yaml(
                input_dir,
                {
                    "destination_id": dataset_id,  # sic: MLflow writes the dataset id here
                    "destination_type": "RUN",
                    "source_id": dataset_id,
                    "source_type": "DATASET",
                    "tags": {"mlflow.data.context": "training" if d == 0 else "eval"},
                },
            )
            self.counts.inputs += 1
            self.counts.input_tags += 1

        self.counts.runs += 1
        self.counts.params += len(params)
        self.counts.tags += len(tags)
        self.counts.metrics += a.metrics * points
        if not soft_deleted and status == 3:
            self.finished_runs.append((exp_id, run_id))
        if "run" not in self.counts.sample and not soft_deleted:
            self.counts.sample["run"] = {"run_id": run_id, "params": params, "tags": tags}
        return run_id

    def param_value(self, name: str, r: int, p: int) -> str:
        rng = self.rng
        if name == "config":
            if r % 10 == 0:  # an occasional long value (2 KB of JSON)
                body = {f"option_{i}": "x" * 20 for i in range(70)}
                return json.dumps(body)[:2000]
            return json.dumps({"layers": [64, 32], "act": "relu"})
        if name in ("learning_rate", "weight_decay", "dropout", "momentum"):
            return str(round(10 ** -rng.uniform(1, 5), 6))
        if name in ("batch_size", "epochs", "hidden_size", "num_layers", "seed", "max_length"):
            return str(rng.choice([8, 16, 32, 64, 128, 256, 512]))
        return f"{name}-{(r + p) % 7}"

    def metric_lines(self, key: str, r: int, k: int, start: int, points: int) -> str:
        """One line per point: '<ts> <value> <step>' with str(float) values."""
        rng = self.rng
        base = 1.0 + (r % 7) * 0.1
        decay = 0.002 + 0.001 * k
        out = []
        for step in range(points):
            value = base * math.exp(-decay * step) + rng.random() * 0.01
            out.append(f"{start + step * 100 + (step * 7) % 13} {value} {step}\n")
        if points > 10:
            if r % 11 == 3 and k == 0:
                out[5] = f"{start + 500} nan 5\n"
            if r % 13 == 4 and k == 1:
                out[6] = f"{start + 600} inf 6\n"
            if r % 13 == 9 and k == 1:
                out[7] = f"{start + 700} -inf 7\n"
        return "".join(out)

    def write_logged_model(self, exp_dir: Path, exp_id: str, run_id: str, created: int) -> None:
        model_id = f"m-{self.uuid_hex()}"
        model_dir = exp_dir / "models" / model_id
        model_dir.mkdir(parents=True)
        write_yaml(
            model_dir,
            {
                "artifact_location": f"{self.uri}/{exp_id}/models/{model_id}/artifacts",
                "creation_timestamp": created,
                "experiment_id": exp_id,
                "last_updated_timestamp": created,
                "lifecycle_stage": "active",
                "model_id": model_id,
                "model_type": "classifier",
                "name": f"model-{exp_id[-4:]}",
                "source_run_id": run_id,
                "status": 2,  # READY
                "status_message": None,
            },
        )
        params = {"C": "1.0", "penalty": "l2"}
        tags = {"framework": "sklearn"}
        write_kv(model_dir / "params", params)
        write_kv(model_dir / "tags", tags)
        (model_dir / "metrics").mkdir()
        self.counts.logged_models += 1
        self.counts.logged_model_params += len(params)
        self.counts.logged_model_tags += len(tags)

    def write_trace(self, exp_dir: Path, exp_id: str, when: int) -> None:
        rng = self.rng
        trace_id = f"tr-{self.uuid_hex()}"
        trace_dir = exp_dir / "traces" / trace_id
        trace_dir.mkdir(parents=True)
        question = f"question {rng.randint(0, 10_000)}?"
        answer = f"answer {rng.randint(0, 10_000)}"
        duration = rng.randint(5, 3000)
        state = "ERROR" if rng.random() < 0.05 else "OK"
        write_yaml(
            trace_dir,
            {
                "execution_duration_ms": duration,
                "request_preview": json.dumps({"question": question}),
                "request_time": iso_ms(when),
                "response_preview": json.dumps(answer),
                "state": state,
                "trace_id": trace_id,
                "trace_location": {
                    "mlflow_experiment": {"experiment_id": exp_id},
                    "type": "MLFLOW_EXPERIMENT",
                },
            },
            name="trace_info.yaml",
        )
        spans = self.spans(trace_id, when, duration, question, answer, state)
        spans_json = json.dumps({"spans": spans})
        size = len(spans_json.encode())
        metadata = {
            "mlflow.source.git.branch": "",
            "mlflow.source.git.commit": "",
            "mlflow.source.git.repoURL": "",
            "mlflow.source.name": "app.py",
            "mlflow.source.type": "LOCAL",
            "mlflow.trace.sizeBytes": str(size),
            "mlflow.trace.sizeStats": json.dumps(
                {
                    "total_size_bytes": size,
                    "num_spans": len(spans),
                    "max": size // 2,
                    "p25": size // 4,
                    "p50": size // 3,
                    "p75": size // 2,
                }
            ),
            "mlflow.traceInputs": json.dumps({"question": question}),
            "mlflow.traceOutputs": json.dumps(answer),
            "mlflow.trace_schema.version": "3",
            "mlflow.user": USERS[when % len(USERS)],
        }
        n = self.counts.trace_info
        if n % 2 == 0:  # LLM traces usually carry token usage; MLflow's SQL store makes columns
            tokens_in, tokens_out = rng.randint(10, 2000), rng.randint(5, 500)
            metadata["mlflow.trace.tokenUsage"] = json.dumps(
                {
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                }
            )
        if n % 3 == 0:
            metadata["mlflow.trace.session"] = f"session-{n // 6}"
        tags = {
            "mlflow.artifactLocation": f"{self.uri}/{exp_id}/traces/{trace_id}/artifacts",
            "mlflow.traceName": "answer",
            "env": rng.choice(["dev", "staging", "prod"]),
        }
        write_kv(trace_dir / "request_metadata", metadata)
        write_kv(trace_dir / "tags", tags)
        (trace_dir / "artifacts").mkdir()
        (trace_dir / "artifacts" / "traces.json").write_text(spans_json)
        self.counts.trace_info += 1
        self.counts.trace_tags += len(tags)
        self.counts.trace_request_metadata += len(metadata)
        if self.counts.trace_info % 5 == 1:
            self.write_assessment(trace_dir, trace_id, when + duration + 1000)
        if "trace" not in self.counts.sample:
            self.counts.sample["trace"] = {"experiment_id": exp_id, "trace_id": trace_id}

    def spans(self, trace_id, when, duration, question, answer, state) -> list[dict]:
        otel_trace = uuid.UUID(trace_id[3:]).bytes

        def b64(raw: bytes) -> str:
            return base64.b64encode(raw).decode()

        root_span = self.rng.getrandbits(64).to_bytes(8, "big")
        child_span = self.rng.getrandbits(64).to_bytes(8, "big")
        start_ns = when * 1_000_000
        end_ns = start_ns + duration * 1_000_000
        code = "STATUS_CODE_OK" if state == "OK" else "STATUS_CODE_ERROR"

        def span(span_id, parent, name, kind, begin, end, inputs, outputs):
            return {
                "trace_id": b64(otel_trace),
                "span_id": b64(span_id),
                "parent_span_id": b64(parent) if parent else None,
                "name": name,
                "start_time_unix_nano": begin,
                "end_time_unix_nano": end,
                "events": [],
                "status": {"code": code, "message": ""},
                "attributes": {
                    "mlflow.traceRequestId": json.dumps(trace_id),
                    "mlflow.spanType": json.dumps(kind),
                    "mlflow.spanFunctionName": json.dumps(name),
                    "mlflow.spanInputs": json.dumps(inputs),
                    "mlflow.spanOutputs": json.dumps(outputs),
                },
                "links": [],
            }

        return [
            span(root_span, None, "answer", "CHAIN", start_ns, end_ns, {"question": question}, answer),
            span(
                child_span,
                root_span,
                "retrieve",
                "RETRIEVER",
                start_ns + 1000,
                end_ns - 1000,
                {"question": question},
                ["doc-1", "doc-2"],
            ),
        ]

    def write_assessment(self, trace_dir: Path, trace_id: str, when: int) -> None:
        assessment_id = f"a-{self.uuid_hex()}"
        (trace_dir / "assessments").mkdir()
        write_yaml(
            trace_dir / "assessments",
            {
                "assessment_id": assessment_id,
                "assessment_name": "helpful",
                "create_time": iso_ms(when),
                "feedback": {"value": self.rng.random() < 0.8},
                "last_update_time": iso_ms(when),
                "rationale": "generated",
                "source": {"source_id": "default", "source_type": "HUMAN"},
                "trace_id": trace_id,
                "valid": True,
            },
            name=f"{assessment_id}.yaml",
        )
        self.counts.assessments += 1

    def write_registry(self) -> None:
        a = self.args
        if not a.models:
            return
        models_dir = self.root / "models"
        models_dir.mkdir()
        pool = self.finished_runs or [("0", self.uuid_hex())]
        for m in range(a.models):
            name = f"model-{m:03d}"
            created = T0 + 50_000_000 + m * 100_000
            model_dir = models_dir / name
            model_dir.mkdir()
            versions = a.versions
            aliases = {}
            if versions >= 1:
                aliases["champion"] = str(versions)
            if versions >= 2 and m % 2 == 0:
                aliases["challenger"] = str(versions - 1)
            write_yaml(
                model_dir,
                {
                    "aliases": aliases,
                    "creation_timestamp": created,
                    "deployment_job_id": None,
                    "deployment_job_state": None,
                    "description": f"registered model {m}",
                    "last_updated_timestamp": created + versions * 1000 + 500,
                    "name": name,
                    "workspace": "default",
                },
            )
            model_tags = {"owner": USERS[m % len(USERS)], "domain": f"domain-{m % 3}"}
            write_kv(model_dir / "tags", model_tags)
            write_kv(model_dir / "aliases", aliases)
            for v in range(1, versions + 1):
                exp_id, run_id = pool[(m * versions + v) % len(pool)]
                artifact_source = f"{self.uri}/{exp_id}/{run_id}/artifacts/model"
                source = f"runs:/{run_id}/model" if v % 2 else artifact_source
                stage = STAGES[(m + v) % len(STAGES)]
                version_dir = model_dir / f"version-{v}"
                version_dir.mkdir()
                write_yaml(
                    version_dir,
                    {
                        "creation_timestamp": created + v * 1000,
                        "current_stage": stage,
                        "deployment_job_state": None,
                        "description": f"v{v} of {name}",
                        "last_updated_timestamp": created + v * 1000 + 200,
                        "model_id": None,
                        "name": name,
                        "run_id": run_id,
                        "run_link": None,
                        "source": source,
                        "status": "READY",
                        "status_message": None,
                        "storage_location": source,
                        "user_id": None,
                        "version": v,
                        "workspace": "default",
                    },
                )
                version_tags = {"validated": "true" if v % 2 else "false", "build": str(v)}
                write_kv(version_dir / "tags", version_tags)
                self.counts.model_versions += 1
                self.counts.model_version_tags += len(version_tags)
            self.counts.registered_models += 1
            self.counts.registered_model_tags += len(model_tags)
            self.counts.registered_model_aliases += len(aliases)


def validate(root: Path, counts: Counts, args: argparse.Namespace) -> list[str]:
    """Read a sample back through the real MlflowClient; return the problems found."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    uri = root.as_uri()
    # The registry FileStore reads each model version through a fresh MlflowClient() on the
    # global tracking URI (to fetch logged-model metrics); without this it would create
    # ./mlflow.db, the 3.x default, in the current directory.
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    problems: list[str] = []

    def expect(what: str, got, want) -> None:
        if got != want:
            problems.append(f"{what}: got {got!r}, expected {want!r}")

    experiments = client.search_experiments(view_type=ViewType.ALL, max_results=50_000)
    expect("experiments", len(experiments), counts.experiments)
    active = [e for e in experiments if e.lifecycle_stage == "active" and e.experiment_id != "0"]
    if active:
        runs = client.search_runs([active[0].experiment_id], run_view_type=ViewType.ALL, max_results=50_000)
        expect(f"runs in {active[0].experiment_id}", len(runs), args.runs)
    sample = counts.sample.get("run")
    if sample:
        run = client.get_run(sample["run_id"])
        expect("sample run params", run.data.params, sample["params"])
        expect("sample run tags", run.data.tags, sample["tags"])
        expect("sample run metric keys", len(run.data.metrics), args.metrics)
        for key in list(run.data.metrics)[:3]:
            history = client.get_metric_history(sample["run_id"], key)
            expect(f"history length of {key}", len(history), args.metric_points)
    if counts.registered_models:
        models = client.search_registered_models(max_results=1000)
        expect("registered models", len(models), counts.registered_models)
        version = client.get_model_version_by_alias("model-000", "champion")
        expect("champion of model-000", str(version.version), str(args.versions))
        expect("versions of model-000", len(client.search_model_versions("name='model-000'")), args.versions)
    trace = counts.sample.get("trace")
    if trace:
        found = client.search_traces(locations=[trace["experiment_id"]], max_results=1000)
        share = args.traces // args.experiments
        if len(found) < share:
            problems.append(f"traces in {trace['experiment_id']}: got {len(found)}, want >= {share}")
        full = client.get_trace(trace["trace_id"])
        expect("spans of sample trace", len(full.data.spans), 2)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="store folder to create (mlruns)")
    parser.add_argument("--force", action="store_true", help="delete --out first if it exists")
    parser.add_argument("--experiments", type=int, default=20, help="active experiments")
    parser.add_argument("--deleted-experiments", type=int, default=1, help="in .trash/")
    parser.add_argument("--runs", type=int, default=25, help="runs per experiment")
    parser.add_argument("--metrics", type=int, default=6, help="metric keys per run")
    parser.add_argument("--metric-points", type=int, default=200, help="points per metric key")
    parser.add_argument("--params", type=int, default=20, help="params per run")
    parser.add_argument("--tags", type=int, default=10, help="tags per run (incl. mlflow.*)")
    parser.add_argument("--datasets", type=int, default=2, help="datasets per experiment")
    parser.add_argument("--deleted-runs", type=int, default=20, help="soft-delete every Nth run (0: none)")
    parser.add_argument("--logged-models", type=int, default=1, help="logged models per experiment")
    parser.add_argument("--models", type=int, default=20, help="registered models")
    parser.add_argument("--versions", type=int, default=3, help="versions per registered model")
    parser.add_argument("--traces", type=int, default=200, help="traces in total")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-validate", action="store_true", help="skip the MlflowClient check")
    parser.add_argument(
        "--check-format",
        action="store_true",
        help="also build a tiny store with the real client and compare YAML keys and types",
    )
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)

    root = args.out.resolve()
    if root.exists():
        if not args.force and any(root.iterdir()):
            parser.error(f"{root} exists and is not empty (use --force to replace it)")
        shutil.rmtree(root)
    started = time.perf_counter()
    counts = Generator(root, args).run()
    generated = time.perf_counter() - started

    problems: list[str] = []
    validated = None
    if not args.no_validate:
        started = time.perf_counter()
        problems = validate(root, counts, args)
        validated = time.perf_counter() - started
    if args.check_format:
        from check_format import check_format  # benchmarks/check_format.py

        problems += check_format(root)

    if args.json:
        print(
            json.dumps(
                {
                    "store": str(root),
                    "seconds": round(generated, 3),
                    "validate_seconds": validated and round(validated, 3),
                    "counts": counts.as_dict(),
                    "problems": problems,
                },
                indent=2,
            )
        )
    else:
        print(f"store: {root}")
        for key, value in counts.as_dict().items():
            print(f"  {key:<26} {value:>10,}")
        print(f"generated in {generated:.2f} s", end="")
        print(f"; validated with MlflowClient in {validated:.2f} s" if validated else "")
        for problem in problems:
            print(f"VALIDATION PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
