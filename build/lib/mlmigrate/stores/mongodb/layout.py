"""The document layout of the ``mlflow-mongodb`` plugin (0.1.0b2): collections, indexes, ids.

The plugin (PyPI ``mlflow-mongodb``, ``mlflow server --backend-store-uri mongodb://…/db``)
reads and writes these collections; mlmigrate writes exactly the documents and indexes
it makes, so an MLflow server with the plugin serves a migrated database. Canonical
columns the plugin has no field for are kept in a ``mlmigrate`` sub-document (the
plugin ignores unknown fields), so MongoDB → SQL restores them; see docs/mongodb.md.
"""

from __future__ import annotations

import hashlib
from typing import Any

EXPERIMENTS = "experiments"
RUNS = "runs"
RUN_METRICS = "run_metrics"
TRACES = "traces"
SPANS = "spans"
ASSESSMENTS = "assessments"
LOGGED_MODELS = "logged_models"
REGISTERED_MODELS = "registered_models"
MODEL_VERSIONS = "model_versions"

#: the sub-document holding canonical columns the plugin has no field for
EXTRA = "mlmigrate"

ASC, DESC = 1, -1

#: collection -> [(index name, keys, unique)], exactly as the plugin creates them (same names
#: and keys, so its own ``create_index`` calls find them and change nothing).
INDEXES: dict[str, list[tuple[str, list[tuple[str, int]], bool]]] = {
    EXPERIMENTS: [
        ("experiments_name_unique", [("name", ASC)], True),
        (
            "experiments_lifecycle_creation_id",
            [("lifecycle_stage", ASC), ("creation_time", DESC), ("_id", ASC)],
            False,
        ),
    ],
    RUNS: [("runs_experiment_id", [("experiment_id", ASC)], False)],
    RUN_METRICS: [
        ("run_metrics_run_k_timestamp", [("run_id", ASC), ("k", ASC), ("timestamp", ASC)], False),
        (
            "run_metrics_model_k_latest",
            [
                ("model_id", ASC),
                ("k", ASC),
                ("timestamp", DESC),
                ("step", DESC),
                ("run_id", ASC),
                ("_id", ASC),
            ],
            False,
        ),
        (
            "run_metrics_model_dataset",
            [("model_id", ASC), ("dataset_name", ASC), ("dataset_digest", ASC)],
            False,
        ),
    ],
    TRACES: [
        (
            "traces_experiment_request_time_id",
            [("experiment_id", ASC), ("request_time", ASC), ("_id", ASC)],
            False,
        ),
        (
            "traces_experiment_request_time_desc_id",
            [("experiment_id", ASC), ("request_time", DESC), ("_id", ASC)],
            False,
        ),
        (
            "traces_experiment_run_ids_request_time",
            [("experiment_id", ASC), ("run_ids", ASC), ("request_time", ASC)],
            False,
        ),
        (
            "traces_linked_prompts_name_version",
            [("linked_prompts.name", ASC), ("linked_prompts.version", ASC)],
            False,
        ),
    ],
    SPANS: [
        ("spans_trace_span_unique", [("trace_id", ASC), ("span_id", ASC)], True),
        ("spans_trace_start_time", [("trace_id", ASC), ("start_time_ns", ASC)], False),
    ],
    ASSESSMENTS: [
        ("assessments_trace_assessment_unique", [("trace_id", ASC), ("assessment_id", ASC)], True),
        ("assessments_experiment_assessment", [("experiment_id", ASC), ("assessment_id", ASC)], False),
    ],
    LOGGED_MODELS: [
        (
            "logged_models_experiment_creation_id",
            [("experiment_id", ASC), ("creation_timestamp", DESC), ("_id", ASC)],
            False,
        ),
        (
            "logged_models_experiment_tags",
            [("experiment_id", ASC), ("tags.k", ASC), ("tags.v", ASC)],
            False,
        ),
        (
            "logged_models_experiment_params",
            [("experiment_id", ASC), ("params.k", ASC), ("params.v", ASC)],
            False,
        ),
    ],
    REGISTERED_MODELS: [
        ("registered_models_name_unique", [("name", ASC)], True),
        ("registered_models_tags_key_value", [("tags.key", ASC), ("tags.value", ASC)], False),
    ],
    MODEL_VERSIONS: [
        (
            "model_versions_registered_model_id_version_unique",
            [("registered_model_id", ASC), ("version", ASC)],
            True,
        ),
        (
            "model_versions_registered_model_stage_version",
            [("registered_model_id", ASC), ("current_stage", ASC), ("version", DESC)],
            False,
        ),
        ("model_versions_tags_key_value", [("tags.key", ASC), ("tags.value", ASC)], False),
    ],
}


def object_id(*parts: str) -> Any:
    """A deterministic ObjectId for a natural key, so a rewrite reuses the same ``_id``."""
    from bson import ObjectId

    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return ObjectId(digest[:12])


def experiment_key(experiment_id: int | str) -> str:
    """The plugin keeps experiment ids as strings (``"0"``, ``str(uuid4().int)``)."""
    return str(experiment_id)


INT64_MAX = 2**63 - 1


def canonical_experiment_id(value: Any) -> int | None:
    """A stored experiment id as the canonical int64; None when it does not fit (the plugin
    makes 128-bit ids), in which case the engine gives the experiment a new id anyway."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= INT64_MAX else None
