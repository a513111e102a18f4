"""A FileStore, written by the real MLflow client, holding what one destination or another
refuses or merges while the FileStore keeps it apart (issues 21 and 22).

``make_refusal_store(root)`` writes ``root/"mlruns"`` with one experiment per case, so that
``--on-error skip`` and the foreseen refusals can be told apart by experiment and run:

* ``zeros``: run ``zeros`` logs -0.0 and 0.0 for ``m`` at one step and timestamp;
* ``datasets``: run ``datasets`` logs a logged model's ``acc`` for two datasets at one step
  and timestamp (MLflow's SQL key for ``logged_model_metrics`` has no dataset column);
* ``spaces``: run ``spaces`` has params ``k`` and ``k `` (MySQL/MariaDB pad trailing spaces);
* ``case``: run ``case`` has params ``Loss`` and ``loss``; run ``accents`` has tags ``café``
  and ``cafe`` (a case- and accent-insensitive collation merges each pair);
* experiments named ``café`` in NFC and in NFD (the client refuses a combining accent in keys,
  not in names), with a run each (``nfc``, ``nfd``);
* ``step``: run ``huge-step`` logs ``m`` at step 2**63 (outside int64; the client accepts it);
* ``plain``: run ``plain``, which every destination holds as it is, and its logged model
  ``huge``, whose ``acc`` is at step 2**63 (``runs["model:huge-step"]`` is its id: ``--on-error
  skip`` leaves out that model alone, not the experiment).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

T0 = 1_700_000_000_000
NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def make_refusal_store(root: Path) -> tuple[Path, dict[str, str]]:
    """Build the store; return its ``mlruns`` folder and the run ids by name."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlruns = Path(root).resolve() / "mlruns"
    mlflow.set_tracking_uri(mlruns.as_uri())
    client = MlflowClient(mlruns.as_uri())
    runs: dict[str, str] = {}

    def run(experiment: str, name: str) -> str:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        runs[name] = client.create_run(experiment_id, run_name=name).info.run_id
        return runs[name]

    zeros = run("zeros", "zeros")
    client.log_metric(zeros, "m", -0.0, timestamp=T0, step=1)
    client.log_metric(zeros, "m", 0.0, timestamp=T0, step=1)
    _two_datasets(client, run("datasets", "datasets"))
    spaces = run("spaces", "spaces")
    client.log_param(spaces, "k", "1")
    client.log_param(spaces, "k ", "2")
    case = run("case", "case")
    client.log_param(case, "Loss", "1")
    client.log_param(case, "loss", "2")
    accents = run("case", "accents")
    client.set_tag(accents, "café", "accented")
    client.set_tag(accents, "cafe", "plain")
    client.log_param(run(NFC, "nfc"), "p", "composed")
    client.log_param(run(NFD, "nfd"), "p", "decomposed")
    client.log_metric(run("step", "huge-step"), "m", 1.0, timestamp=T0, step=2**63)
    plain = run("plain", "plain")
    client.log_param(plain, "p", "1")
    experiment_id = client.get_run(plain).info.experiment_id
    huge = client.create_logged_model(experiment_id=experiment_id, name="huge", source_run_id=plain)
    # the line the client writes for log_metric(..., step=2**63, model_id=...), which would log
    # the point on the run too: written to the model's file alone, so only the model is refused
    metrics = mlruns / experiment_id / "models" / huge.model_id / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "acc").write_text(f"{T0} 0.5 {2**63} {plain}\n")
    for run_id in runs.values():
        client.set_terminated(run_id)
    runs["model:huge-step"] = huge.model_id
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return mlruns, runs


def _two_datasets(client: Any, run_id: str) -> None:
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(experiment_id=experiment_id, name="m", source_run_id=run_id)
    for name, value in (("eval-a", 0.5), ("eval-b", 0.75)):
        client.log_metric(
            run_id,
            "acc",
            value,
            timestamp=T0,
            step=1,
            model_id=model.model_id,
            dataset_name=name,
            dataset_digest=name[-1] * 8,
        )
    client.finalize_logged_model(model.model_id, "READY")
